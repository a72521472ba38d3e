"""Write a fictional AI company's cloud bills as FOCUS exports, deterministically from a seed.

``generate`` writes ``<out_dir>/<provider>/<YYYY-MM>/...`` in each provider's own flavour (AWS
FOCUS 1.2 Parquet, Azure FOCUS 1.0 gzipped CSV, GCP FOCUS 1.3 CSV) and ``manifest.json`` with the
totals a correct ingest must reproduce, computed from the generator's own integers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from itertools import chain
from pathlib import Path
from typing import Any

from aifinops.demo.anomalies import manifest_entries
from aifinops.demo.blocks import Scope, count_rows
from aifinops.demo.company import Company, Provider
from aifinops.demo.encode import Target, TextColumns, encoder_for, layout
from aifinops.demo.ledger import LineSums, Priced, price
from aifinops.demo.lines import CatalogArrays
from aifinops.demo.manifest import ManifestBuilder
from aifinops.demo.plan import MonthPlan, plan_month
from aifinops.demo.roster import UNREADABLE_ROWS_IN, build_company
from aifinops.demo.timeline import Month, Timeline
from aifinops.demo.writers import EXTENSIONS, MonthWriter, clear_previous
from aifinops.errors import AifinopsError

MIN_ROWS_PER_MONTH = 7_000  # below this the company has too few machines to keep its shape


@dataclass(frozen=True)
class DemoFile:
    path: Path  # absolute path of the written file
    provider: str  # "AWS" | "Microsoft" | "Google Cloud"
    focus_version: str  # "1.0" | "1.2" | "1.3"
    billing_account_id: str
    billing_period_start: date  # first day of the month
    rows: int  # data rows written (bad rows included)
    bad_rows: int  # rows deliberately written unreadable -> will be quarantined

    def to_json(self, root: Path) -> dict[str, Any]:
        return {
            "path": self.path.relative_to(root).as_posix(),
            "provider": self.provider,
            "focus_version": self.focus_version,
            "billing_account_id": self.billing_account_id,
            "billing_period_start": self.billing_period_start.isoformat(),
            "rows": self.rows,
            "bad_rows": self.bad_rows,
        }


@dataclass(frozen=True)
class DemoManifest:
    """The written files and what a correct ingest of them must find.

    ``expected`` holds exact ten-decimal strings of BilledCost, EffectiveCost, ListCost and
    ContractedCost ``by_provider`` (provider name), ``by_file`` (path relative to the manifest;
    also ``rows``, all data rows written, and ``bad_rows``, those of them planted unreadable) and
    ``by_month`` (``YYYY-MM`` -> provider); ``bad_rows`` (their total); ``messiness`` (each planted
    quirk with its row count, files, and for unreadable rows the exact line numbers);
    ``anomalies`` (each planted cost anomaly: what, first and last day, scope, root cause); and
    the generator ``parameters``. Every amount excludes the unreadable rows.
    """

    files: tuple[DemoFile, ...]
    expected: dict[str, Any]  # totals per provider/file/month, bad rows and planted messiness

    @property
    def messiness(self) -> dict[str, Any]:
        return dict(self.expected["messiness"])

    def write(self, path: Path) -> None:
        """JSON with amounts as exact decimal strings; file paths relative to the manifest."""
        root = path.parent
        body = {"files": [f.to_json(root) for f in self.files], "expected": self.expected}
        path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> DemoManifest:
        body = json.loads(path.read_text(encoding="utf-8"))
        root = path.parent.resolve()
        files = tuple(
            DemoFile(
                path=root / f["path"],
                provider=f["provider"],
                focus_version=f["focus_version"],
                billing_account_id=f["billing_account_id"],
                billing_period_start=date.fromisoformat(f["billing_period_start"]),
                rows=f["rows"],
                bad_rows=f["bad_rows"],
            )
            for f in body["files"]
        )
        return cls(files, body["expected"])


@dataclass(frozen=True)
class DemoOptions:
    """Everything ``generate`` takes, plus knobs for benchmarks and tests."""

    seed: int = 42
    end_month: date = date(2026, 10, 1)
    months: int = 3
    rows: int | None = None
    fmt: str | None = None  # write every provider as "parquet" | "csv" | "csv.gz"
    chunk_rows: int = 250_000  # rows per write (bounds memory)
    file_rows: int = 2_500_000  # a provider's month is split into parts of about this size
    anomalies: bool = True  # plant the cost anomalies of demo/anomalies.py


def generate(
    out_dir: Path,
    *,
    seed: int = 42,
    end_month: date = date(2026, 10, 1),
    months: int = 3,
    rows: int | None = None,
    anomalies: bool = True,
) -> DemoManifest:
    """Write the demo company's exports under ``out_dir`` and return (and write) the manifest.

    ``rows=None`` is the default demo (about 200k rows over three months); ``rows=N`` scales the
    same company to about N rows (within 10%) by adding resources; N must be at least 7,000 per
    month. Memory stays bounded at any N: rows are generated and written in chunks.
    ``anomalies=False`` leaves out the planted cost anomalies (see demo/anomalies.py).
    """
    options = DemoOptions(
        seed=seed, end_month=end_month, months=months, rows=rows, anomalies=anomalies
    )
    return build_demo(out_dir, options)


def build_demo(out_dir: Path, options: DemoOptions) -> DemoManifest:
    _check(options)
    timeline = Timeline.ending(options.end_month, options.months)
    company = sized_company(options.seed, options.rows, timeline, anomalies=options.anomalies)
    writer = _DemoWriter(out_dir.resolve(), company, timeline, options)
    for provider in company.providers.values():
        clear_previous(writer.root, provider.slug)
        written = replace(provider, fmt=options.fmt or provider.fmt)
        for month in timeline.months:
            last = month.index == timeline.last.index
            writer.write_month(written, month, plant=last and provider.slug == UNREADABLE_ROWS_IN)
    parameters = {
        "seed": options.seed,
        "end_month": options.end_month.isoformat(),
        "months": options.months,
        "rows_requested": options.rows,
        "scale": company.scale,
        "anomalies": options.anomalies,
    }
    files = tuple(DemoFile(**record) for record in writer.manifest.files)
    expected = writer.manifest.expected(parameters)
    expected["anomalies"] = manifest_entries(company.planted, timeline.last.start)
    manifest = DemoManifest(files, expected)
    manifest.write(writer.root / "manifest.json")
    return manifest


def _check(options: DemoOptions) -> None:
    if options.months < 1:
        raise AifinopsError(f"months must be at least 1, not {options.months}")
    smallest = MIN_ROWS_PER_MONTH * options.months
    if options.rows is not None and options.rows < smallest:
        raise AifinopsError(
            f"rows={options.rows:,} is too few for {options.months} months of the demo company",
            hint=f"ask for at least {smallest:,} rows, or leave rows unset for the default demo",
        )
    if options.fmt not in (None, *EXTENSIONS):
        raise AifinopsError(f"unknown format {options.fmt!r}", hint="use parquet, csv or csv.gz")


def sized_company(
    seed: int, rows: int | None, timeline: Timeline, *, anomalies: bool = True
) -> Company:
    """The company at the scale whose row count is closest to ``rows`` (bisection on scale)."""
    company = build_company(seed=seed, anomalies=anomalies)
    if rows is None:
        return company
    low, high = 0.0, max(1.0, 4.0 * rows / max(1, count_rows(company, timeline)))
    for _ in range(40):
        middle = (low + high) / 2
        if count_rows(replace(company, scale=middle), timeline) < rows:
            low = middle
        else:
            high = middle
    candidates = (replace(company, scale=low), replace(company, scale=high))
    return min(candidates, key=lambda c: abs(count_rows(c, timeline) - rows))


@dataclass
class _DemoWriter:
    root: Path
    company: Company
    timeline: Timeline
    options: DemoOptions

    def __post_init__(self) -> None:
        self.manifest = ManifestBuilder(self.root, self.company.accounts.values())

    def write_month(self, provider: Provider, month: Month, *, plant: bool) -> None:
        scope = Scope(self.company, self.timeline, month)
        plan = plan_month(scope, provider, self.options.chunk_rows)
        catalog = plan.catalog
        lay = layout(provider.slug, provider.version)
        target = Target(
            catalog.arrays(),
            TextColumns(catalog, lay.texts),
            encoder_for(provider.slug, provider.fmt),
            lay,
            month,
        )
        writer = MonthWriter(
            self.root / provider.slug / month.label,
            slug=provider.slug,
            fmt=provider.fmt,
            target=target,
            plant_bad_rows=plant,
            file_rows=self.options.file_rows,
        )
        for chunk in _chunks(_priced(plan, target.arrays), self.options.chunk_rows):
            writer.write(chunk)
        writer.close()
        self.manifest.add_month(provider, month, catalog, writer.parts)


def _chunks(priced: Iterator[Priced], rows: int) -> Iterator[list[Priced]]:
    chunk: list[Priced] = []
    for block in priced:
        chunk.append(block)
        if sum(len(p) for p in chunk) >= rows:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _priced(plan: MonthPlan, arrays: CatalogArrays) -> Iterator[Priced]:
    """Every block of the month, priced; closing charges see the month's running totals."""
    sums = LineSums(len(plan.catalog))
    for block in chain.from_iterable(source() for source in plan.sources):
        priced = price(block, arrays)
        sums.add(priced)
        yield priced
    for close in plan.closing:
        priced = price(close(sums), arrays)
        sums.add(priced)
        yield priced
