"""The demo generator: reproducible, exact, FOCUS-shaped files whose manifest tells the truth."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aifinops.demo import DemoManifest, generate
from aifinops.demo.generator import DemoOptions, build_demo
from aifinops.demo.money import decimal_strings, mul_round, units
from aifinops.errors import AifinopsError
from aifinops.model.focus import FocusVersion, columns, export_columns

METRICS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoManifest]:
    out = tmp_path_factory.mktemp("demo")
    return out, generate(out)


def _source(path: Path) -> str:
    if path.suffix == ".parquet":
        return f"read_parquet('{path}')"
    return f"read_csv('{path}', all_varchar = true, header = true, quote = '\"')"


def _file_sums(path: Path) -> tuple[dict[str, Decimal], int, int]:
    """Exact sums of a written file, skipping rows whose money or dates do not parse."""
    dec = {m: f"TRY_CAST({m} AS DECIMAL(38, 10))" for m in METRICS}
    good = " AND ".join(
        [f"{d} IS NOT NULL" for d in dec.values()]
        + ["TRY_CAST(ChargePeriodStart AS TIMESTAMPTZ) IS NOT NULL"]
    )
    sums = ", ".join(f"SUM({d}) FILTER (WHERE {good})" for d in dec.values())
    query = f"SELECT {sums}, COUNT(*), COUNT(*) FILTER (WHERE NOT ({good})) FROM {_source(path)}"
    row = duckdb.connect().execute("SET TimeZone = 'UTC'").execute(query).fetchone()
    assert row is not None
    totals = {m: Decimal(row[i] or 0) for i, m in enumerate(METRICS)}
    return totals, int(row[4]), int(row[5])


def test_manifest_totals_equal_the_files(demo: tuple[Path, DemoManifest]) -> None:
    out, manifest = demo
    by_provider: dict[str, dict[str, Decimal]] = {}
    for file in manifest.files:
        totals, rows, bad = _file_sums(file.path)
        expected = manifest.expected["by_file"][file.path.relative_to(out).as_posix()]
        assert {m: Decimal(expected[m]) for m in METRICS} == totals, file.path
        assert (rows, bad) == (file.rows, file.bad_rows) == (expected["rows"], expected["bad_rows"])
        provider = by_provider.setdefault(file.provider, dict.fromkeys(METRICS, Decimal(0)))
        for m in METRICS:
            provider[m] += totals[m]
    for name, totals in by_provider.items():
        assert {m: Decimal(v) for m, v in manifest.expected["by_provider"][name].items()} == totals
    assert manifest.expected["bad_rows"] == sum(f.bad_rows for f in manifest.files) == 3


def test_manifest_round_trips(demo: tuple[Path, DemoManifest]) -> None:
    out, manifest = demo
    again = DemoManifest.read(out / "manifest.json")
    assert again == manifest
    body = json.loads((out / "manifest.json").read_text())
    assert body["files"][0]["path"] == "aws/2026-08/focus-00001.parquet"


def test_columns_are_the_focus_version_columns(demo: tuple[Path, DemoManifest]) -> None:
    _, manifest = demo
    wanted = {
        "AWS": [c.name for c in export_columns(FocusVersion.V1_2)],
        "Microsoft": [c.name for c in export_columns(FocusVersion.V1_0)] + ["Id"],
        "Google Cloud": [c.name for c in columns(FocusVersion.V1_3)],  # keeps ProviderName
    }
    for file in manifest.files:
        query = f"DESCRIBE SELECT * FROM {_source(file.path)}"
        names = [r[0] for r in duckdb.connect().execute(query).fetchall()]
        assert names == wanted[file.provider], file.path
    assert {"ProviderName", "PublisherName", "ServiceProviderName"} <= set(wanted["Google Cloud"])


def test_parquet_money_is_decimal_and_times_are_utc(demo: tuple[Path, DemoManifest]) -> None:
    _, manifest = demo
    aws = next(f for f in manifest.files if f.path.suffix == ".parquet")
    schema = pq.read_schema(aws.path)
    for field in schema:
        assert not pa.types.is_floating(field.type), field.name
    assert schema.field("BilledCost").type == pa.decimal128(38, 10)
    assert schema.field("PricingQuantity").type == pa.decimal128(38, 10)
    assert schema.field("ChargePeriodStart").type == pa.timestamp("us", tz="UTC")
    assert schema.field("BillingAccountId").type == pa.string()


def test_costs_follow_prices_and_commitments(demo: tuple[Path, DemoManifest]) -> None:
    _, manifest = demo
    path = next(f.path for f in manifest.files if f.path.suffix == ".parquet")
    con = duckdb.connect()
    mismatched = con.execute(
        f"SELECT COUNT(*) FROM read_parquet('{path}') WHERE ListUnitPrice IS NOT NULL "
        "AND ROUND(ListUnitPrice * PricingQuantity, 10) <> ListCost"
    ).fetchone()
    assert mismatched == (0,)
    committed = con.execute(
        f"SELECT COUNT(*), SUM(BilledCost), BOOL_AND(ListCost > EffectiveCost) "
        f"FROM read_parquet('{path}') WHERE CommitmentDiscountStatus = 'Used'"
    ).fetchone()
    assert committed is not None and committed[0] > 0 and committed[1] == 0 and committed[2]
    p5 = con.execute(
        f"SELECT DISTINCT ListUnitPrice FROM read_parquet('{path}') "
        "WHERE SkuPriceDetails LIKE '%p5.48xlarge%'"
    ).fetchall()
    assert p5 == [(Decimal("55.04"),)]  # the reference list price, us-east-1
    totals = manifest.expected["by_provider"]["AWS"]
    assert Decimal(totals["EffectiveCost"]) != Decimal(totals["BilledCost"])


def test_default_demo_looks_like_an_ai_company(demo: tuple[Path, DemoManifest]) -> None:
    _, manifest = demo
    assert 150_000 <= sum(f.rows for f in manifest.files) <= 300_000
    monthly = [
        sum(Decimal(p["EffectiveCost"]) for p in month.values())
        for _, month in sorted(manifest.expected["by_month"].items())
    ]
    assert monthly == sorted(monthly) and 1_000_000 < monthly[-1] < 3_000_000
    share = Decimal(manifest.expected["messiness"]["untagged"]["share_of_EffectiveCost"])
    assert Decimal("0.15") <= share <= Decimal("0.25")


def test_messiness_counts_match_the_files(demo: tuple[Path, DemoManifest]) -> None:
    out, manifest = demo
    mess = manifest.expected["messiness"]
    con = duckdb.connect()

    def count(glob: str, where: str) -> int:
        row = con.execute(f"SELECT COUNT(*) FROM {_source(out / glob)} WHERE {where}").fetchone()
        return int(row[0]) if row else -1

    azure, gcp = "azure/*/*.csv.gz", "gcp/*/*.csv"
    assert (
        count(azure, "ChargeFrequency = 'Usage-based'")
        == mess["charge_frequency_wrong_case"]["rows"]
        > 0
    )
    assert count(gcp, "AvailabilityZone = 'NULL'") == mess["null_text"]["rows"] > 0
    assert count(gcp, "SubAccountId = '731904458812'") == mess["account_id_numeric"]["rows"] > 0
    leading = count("aws/*/*.parquet", "SubAccountId = '049217735108'")
    assert leading == mess["account_id_leading_zero"]["rows"] > 0
    team = count("aws/*/*.parquet", """json_exists(Tags, '$."TEAM"')""")
    assert team == mess["tag_styles"]["rows"]["TEAM"] > 0
    lines = [row["line"] for row in mess["bad_rows"]]
    text = (out / mess["bad_rows"][0]["file"]).read_bytes()
    file_lines = gzip.decompress(text).decode().splitlines()
    for row, line in zip(mess["bad_rows"], lines, strict=True):
        assert f'"{row["value"]}"' in file_lines[line - 1]


def test_same_seed_same_bytes(demo: tuple[Path, DemoManifest], tmp_path: Path) -> None:
    first, manifest = demo
    generate(tmp_path)
    for path in [*(f.path for f in manifest.files), first / "manifest.json"]:
        relative = path.relative_to(first)
        assert (tmp_path / relative).read_bytes() == path.read_bytes(), relative


def test_other_seed_other_numbers(tmp_path: Path) -> None:
    a = build_demo(tmp_path / "a", DemoOptions(seed=1, months=1))
    b = build_demo(tmp_path / "b", DemoOptions(seed=2, months=1))
    assert a.expected["by_provider"] != b.expected["by_provider"]


def test_rows_scale_the_same_company(tmp_path: Path) -> None:
    manifest = generate(tmp_path, rows=200_000)
    assert abs(sum(f.rows for f in manifest.files) - 200_000) <= 20_000
    bigger = build_demo(tmp_path / "big", DemoOptions(rows=400_000, months=1, fmt="parquet"))
    assert abs(sum(f.rows for f in bigger.files) - 400_000) <= 40_000


def test_exact_arithmetic_helpers() -> None:
    qty = np.array([15_281_234, 1, 0], dtype=np.int64)  # GB-months at 4 decimals
    price = np.array([units("0.021")] * 3, dtype=np.int64)
    assert list(mul_round(qty, 4, price)) == [units("32.0905914"), units("0.0000021"), 0]
    values = np.array([units("-0.0000012"), 0, units("12.5"), units(100)], dtype=np.int64)
    assert decimal_strings(values, 10).to_pylist() == ["-0.0000012", "0.0", "12.5", "100.0"]


def test_big_months_split_into_parts_and_reruns_leave_no_stale_files(tmp_path: Path) -> None:
    small_parts = DemoOptions(months=1, file_rows=20_000, chunk_rows=5_000, fmt="csv")
    split = build_demo(tmp_path, small_parts)
    aws = [f for f in split.files if f.provider == "AWS"]
    assert len(aws) > 2 and [f.path.name for f in aws][:2] == ["focus-00001.csv", "focus-00002.csv"]
    for file in aws:
        totals, rows, _ = _file_sums(file.path)
        expected = split.expected["by_file"][file.path.relative_to(tmp_path).as_posix()]
        assert {m: Decimal(expected[m]) for m in METRICS} == totals and rows == file.rows
    whole = build_demo(tmp_path, DemoOptions(months=1, fmt="csv"))
    on_disk = sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert on_disk == sorted(f.path for f in whole.files)
    for metric in METRICS:
        assert (
            split.expected["by_provider"]["AWS"][metric]
            == whole.expected["by_provider"]["AWS"][metric]
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (DemoOptions(months=0), "months must be at least 1"),
        (DemoOptions(rows=5_000), "too few for 3 months"),
        (DemoOptions(fmt="xlsx"), "unknown format"),
    ],
)
def test_bad_arguments_say_what_to_do(tmp_path: Path, options: DemoOptions, message: str) -> None:
    with pytest.raises(AifinopsError, match=message):
        build_demo(tmp_path, options)


def test_public_names() -> None:
    import aifinops.demo

    assert all(hasattr(aifinops.demo, name) for name in aifinops.demo.__all__)
