"""Which files a folder contributes depends on what the source reads."""

from __future__ import annotations

from pathlib import Path

from aifinops.sources.files import expand, folder_suffixes


def touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")


def test_a_folder_gives_the_files_its_source_reads(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "a.csv", "b.csv.gz", "c.parquet", "scrape.prom", "range.json", "spans.jsonl",
        "inventory.toml", "notes.md", ".hidden/d.csv", "sub/e.prom.gz", "LICENSE.txt",
    )  # fmt: skip
    names = lambda formats: [p.name for p in expand([tmp_path], folder_suffixes(formats))]  # noqa: E731
    assert names(("csv", "csv.gz", "parquet")) == ["a.csv", "b.csv.gz", "c.parquet", "e.prom.gz"]
    assert names(("prometheus-text", "prometheus-text.gz")) == ["scrape.prom", "e.prom.gz"]
    assert names(("prometheus-json",)) == ["range.json"]
    assert names(("json", "jsonl")) == ["range.json", "spans.jsonl"]
    assert names(("toml",)) == ["inventory.toml"]
    assert names(("csv", "sacct --parsable2")) == ["LICENSE.txt", "a.csv"]
    # A format no suffix is known for falls back to the CSV and Parquet endings.
    assert names(("something-new",)) == names(("csv", "csv.gz", "parquet"))
