"""A demo workspace for tests: the company's bills and every usage source, ingested."""

from __future__ import annotations

from pathlib import Path

from aifinops import Workspace
from aifinops.demo.allocation import add_rules
from aifinops.demo.generator import DemoOptions, generate, sized_company
from aifinops.demo.serving import write_serving
from aifinops.demo.timeline import Timeline
from aifinops.demo.usage import UsageFile, write_usage
from aifinops.store.ingest import IngestSummary


def demo_workspace(
    root: Path, months: int
) -> tuple[Workspace, list[tuple[UsageFile, IngestSummary]]]:
    """The default demo company over ``months`` in ``root/ws``, with each usage file's summary."""
    manifest = generate(root / "data", months=months)
    timeline = Timeline.ending(DemoOptions().end_month, months)
    usage = write_usage(root / "data", sized_company(42, None, timeline), timeline)
    usage.append(write_serving(root / "data", usage))
    Workspace.init(root / "ws").close()
    add_rules(root / "ws")  # the demo's [allocation] rules, as `aifinops demo` writes them
    ws = Workspace(root / "ws")
    ws.ingest([f.path for f in manifest.files])
    loads = [
        (item, ws.ingest([item.path], source=item.source, options=dict(item.options)))
        for item in usage
    ]
    return ws, loads
