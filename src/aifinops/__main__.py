"""``python -m aifinops`` runs the CLI."""

from aifinops.cli import main

main()
