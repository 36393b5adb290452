"""Latest-state tables: one row per key, replaced only by a newer (or corrected) version.

Used for silver tables that hold the current attributes of a record
(`silver.web_accounts`, `silver.products`). An incoming row wins when its key is
new, when its ordering column is later than the stored row's, or when it is as
recent but different (a corrected file). Older rows are dropped before the MERGE,
so rerunning an earlier day never rolls a record back, and a rerun that changes
nothing commits nothing.
"""
from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common.lake import Lake
from jobs.silver.scd2 import row_hash


def newer_rows(incoming: DataFrame, stored: DataFrame, keys: Sequence[str], order_col: str) -> DataFrame:
    """Rows of `incoming` that should replace (or add to) `stored`.

    Args:
        incoming: at most one row per key.
        stored: the table's current rows, same columns.
        keys: key columns.
        order_col: column ordering versions of a key (later wins), e.g. `updated_at`.
    """
    columns = incoming.columns
    # A column the table does not have yet cannot differ from it; the MERGE adds it.
    shared = [c for c in columns if c in stored.columns]
    current = stored.select(*keys, F.col(order_col).alias("_stored_order"), row_hash(shared).alias("_stored_hash"))
    joined = incoming.withColumn("_hash", row_hash(shared)).join(current, list(keys), "left")
    wins = (
        F.col("_stored_order").isNull()
        | (F.col(order_col) > F.col("_stored_order"))
        | ((F.col(order_col) == F.col("_stored_order")) & (F.col("_hash") != F.col("_stored_hash")))
    )
    return joined.where(wins).select(*columns)


def upsert_latest(lake: Lake, table: str, incoming: DataFrame, keys: Sequence[str], order_col: str) -> int:
    """Upsert `incoming` into `table` (one Delta MERGE), keeping the latest row per key.

    Args:
        lake: the lake holding `table`.
        table: target table; created from `incoming` on first use.
        incoming: at most one row per key.
        keys: key columns.
        order_col: column ordering versions of a key (later wins).

    Returns:
        Rows inserted or updated.
    """
    if not lake.exists(table):
        lake.merge(incoming, table, keys)
        return lake.read(table).count()
    changes = newer_rows(incoming, lake.read(table), keys, order_col).cache()
    try:
        written = changes.count()
        if written:
            lake.merge(changes, table, keys)
    finally:
        changes.unpersist()
    return written
