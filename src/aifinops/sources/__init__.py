"""Outside data -> Arrow tables in the store's schemas. One module per format; pure parsing.

Importing this package registers every source (see :func:`registered`).
"""

from aifinops.sources import focus as _focus  # noqa: F401  (registers "focus")
from aifinops.sources.base import SourceSpec, registered

__all__ = ["SourceSpec", "registered"]
