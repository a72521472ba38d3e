"""Azure: combining the actual and amortized cost datasets of a month after each load.

Where a billing account and period has rows of both datasets, the amortized rows hold everything
but the commitment purchases and refunds, which only the actual dataset has (see
:mod:`aifinops.sources.azure` and docs/sources/azure.md).
"""

from __future__ import annotations

import duckdb

_PURCHASE = " AND ".join(
    (
        "t.x_ChargeType IN ('Purchase', 'Refund')",
        "t.x_PricingModel IN ('Reservation', 'SavingsPlan')",
    )
)


def combine_datasets(con: duckdb.DuckDBPyConnection, file_ids: list[int]) -> list[str]:
    """Where a billing account and period has rows of both datasets, drop the actual rows other
    than commitment purchases and refunds (the amortized rows hold the rest); the dropped rows are
    counted in ``ingest_log.rows_superseded`` of the file they came from. Returns a note for each
    account and period of the load that still lacks one dataset."""
    ids = ", ".join(str(int(i)) for i in file_ids)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE azure_both AS "
        "SELECT c.BillingAccountId, c.BillingPeriodStart FROM costs c "
        "WHERE c.x_CostDataset IN ('ActualCost', 'AmortizedCost') AND EXISTS (SELECT 1 FROM costs "
        f"n WHERE n.x_IngestFileId IN ({ids}) AND n.BillingAccountId IS NOT DISTINCT FROM "
        "c.BillingAccountId AND n.BillingPeriodStart IS NOT DISTINCT FROM c.BillingPeriodStart) "
        "GROUP BY 1, 2 HAVING count(DISTINCT c.x_CostDataset) = 2"
    )
    doomed = (
        f"FROM costs t WHERE t.x_CostDataset = 'ActualCost' AND NOT coalesce({_PURCHASE}, false) "
        "AND EXISTS (SELECT 1 FROM azure_both k WHERE k.BillingAccountId IS NOT DISTINCT FROM "
        "t.BillingAccountId AND k.BillingPeriodStart IS NOT DISTINCT FROM t.BillingPeriodStart)"
    )
    counts = con.execute(f"SELECT t.x_IngestFileId, count(*) {doomed} GROUP BY 1").fetchall()
    if counts:
        con.execute(f"DELETE {doomed}")
    for file_id, rows in counts:
        con.execute(
            "UPDATE ingest_log SET rows_superseded = rows_superseded + ? WHERE file_id = ?",
            [rows, file_id],
        )
    con.execute("DROP TABLE azure_both")
    return _one_dataset_notes(con, ids)


_MISSING = {
    "ActualCost": "amortized cost file not loaded yet: EffectiveCost of usage that reservations "
    "or savings plans cover is 0, their purchases carry no EffectiveCost",
    "AmortizedCost": "actual cost file not loaded yet: BilledCost lacks the reservation and "
    "savings plan purchases",
}


def _one_dataset_notes(con: duckdb.DuckDBPyConnection, ids: str) -> list[str]:
    rows = con.execute(
        "SELECT c.BillingAccountId, strftime(c.BillingPeriodStart, '%Y-%m'), "
        "min(c.x_CostDataset) FROM costs c WHERE c.x_CostDataset IN ('ActualCost', "
        "'AmortizedCost') AND EXISTS (SELECT 1 FROM costs n WHERE n.x_IngestFileId IN "
        f"({ids}) AND n.BillingAccountId IS NOT DISTINCT FROM c.BillingAccountId AND "
        "n.BillingPeriodStart IS NOT DISTINCT FROM c.BillingPeriodStart) "
        "GROUP BY 1, 2 HAVING count(DISTINCT c.x_CostDataset) = 1 ORDER BY 1, 2"
    ).fetchall()
    return [f"{account} {period}: {_MISSING[dataset]}" for account, period, dataset in rows]
