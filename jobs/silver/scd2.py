"""Slowly changing dimension, type 2: the full history of a record's tracked attributes.

A history table holds the incoming columns plus:

| column | meaning |
|---|---|
| `valid_from` | when this version took effect (the change's effective time) |
| `valid_to` | when the next version took effect; null while current |
| `is_current` | true for the open version of a key |
| `row_hash` | SHA-256 of the tracked columns |

Grain: one row per key per `valid_from`. A change whose tracked attributes equal
the version it follows adds nothing. The history of every key in a batch is
recomputed from its stored versions plus the incoming ones and written back with
one Delta MERGE that touches only the rows that differ, so applying the same
changes again is a no-op (no commit), several versions of one key in a batch are
chained in effective-time order, and a late change is slotted into its place.
"""
from __future__ import annotations

from collections.abc import Sequence

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.common.errors import TableError
from jobs.common.lake import Lake

SCD2_COLUMNS = ("valid_from", "valid_to", "is_current", "row_hash")
_NULL_MARK = "\u0000"
_SEPARATOR = "\u001f"


def row_hash(columns: Sequence[str]) -> Column:
    """SHA-256 hex of the values of `columns`, telling null apart from empty text."""
    values = [F.coalesce(F.col(c).cast("string"), F.lit(_NULL_MARK)) for c in columns]
    return F.sha2(F.concat_ws(_SEPARATOR, *values), 256)


def _same(left: str, right: str, columns: Sequence[str]) -> Column:
    """True when every column is equal (null-safe) between two aliased sides."""
    out = F.lit(True)
    for c in columns:
        out = out & F.col(f"{left}.`{c}`").eqNullSafe(F.col(f"{right}.`{c}`"))
    return out


def scd2_versions(changes: DataFrame, keys: Sequence[str], tracked_columns: Sequence[str],
                  effective_col: str) -> DataFrame:
    """Incoming rows as versions: `valid_from` and `row_hash` added, one row per key and `valid_from`.

    Two rows of one key with the same effective time keep one, chosen by content
    so that the choice does not depend on row order.
    """
    data_cols = changes.columns
    versions = changes.withColumn("valid_from", F.col(effective_col)).withColumn("row_hash", row_hash(tracked_columns))
    order = [F.col("row_hash").desc(), *(F.col(f"`{c}`").asc_nulls_first() for c in data_cols)]
    pick = F.row_number().over(Window.partitionBy(*keys, "valid_from").orderBy(*order))
    return versions.withColumn("_pick", pick).where("_pick = 1").drop("_pick")


def scd2_timeline(versions: DataFrame, keys: Sequence[str]) -> DataFrame:
    """Chain versions per key: drop repeats of the previous version, set `valid_to` and `is_current`."""
    by_time = Window.partitionBy(*keys).orderBy("valid_from")
    changed = versions.withColumn("_prev_hash", F.lag("row_hash").over(by_time)).where(
        F.col("_prev_hash").isNull() | (F.col("_prev_hash") != F.col("row_hash"))
    ).drop("_prev_hash")
    return (
        changed.withColumn("valid_to", F.lead("valid_from").over(by_time))
        .withColumn("is_current", F.col("valid_to").isNull())
    )


def apply_scd2(lake: Lake, table: str, changes: DataFrame, keys: Sequence[str], tracked_columns: Sequence[str],
               effective_col: str) -> int:
    """Merge record changes into the SCD2 history `table`.

    New key: its versions are inserted. Changed tracked attributes: the current
    version is closed at the change's effective time and the new one inserted.
    Unchanged: nothing is written. Idempotent: the same changes applied twice give
    the same table and the second call commits nothing.

    Args:
        lake: the lake holding `table`.
        table: history table, e.g. `silver.crm_customers`; created on first use.
        changes: one row per record change; every column is kept in the history.
        keys: columns identifying a record, e.g. `["record_key"]`.
        tracked_columns: columns whose change makes a new version.
        effective_col: timestamp column saying when the change took effect (e.g. `updated_at`).

    Returns:
        Rows written: versions inserted plus versions updated or removed.

    Raises:
        TableError: a column is missing, or the history table's columns differ from the changes'.
    """
    missing = [c for c in (*keys, *tracked_columns, effective_col) if c not in changes.columns]
    if missing:
        raise TableError(f"SCD2 into {table}: column(s) {', '.join(missing)} not in the incoming changes")
    clash = [c for c in SCD2_COLUMNS if c in changes.columns]
    if clash:
        raise TableError(f"SCD2 into {table}: incoming changes must not carry {', '.join(clash)}")
    columns = [*changes.columns, *SCD2_COLUMNS]
    incoming = scd2_versions(changes, keys, tracked_columns, effective_col)

    if not lake.exists(table):
        history = scd2_timeline(incoming, keys).select(*columns)
        lake.append(history, table)
        return lake.read(table).count()

    stored = lake.read(table)
    if sorted(stored.columns) != sorted(columns):
        raise TableError(
            f"SCD2 into {table}: the table has columns {', '.join(sorted(stored.columns))} but the changes give "
            f"{', '.join(sorted(columns))}; migrate the table before changing its columns"
        )
    stored = stored.join(incoming.select(*keys).distinct(), list(keys), "left_semi")
    # A stored version and an incoming one at the same effective time: the incoming one wins.
    candidates = incoming.withColumn("_prio", F.lit(0)).unionByName(
        stored.select(*changes.columns, "valid_from", "row_hash").withColumn("_prio", F.lit(1))
    )
    first = Window.partitionBy(*keys, "valid_from").orderBy("_prio")
    candidates = candidates.withColumn("_pick", F.row_number().over(first)).where("_pick = 1").drop("_pick", "_prio")
    history = scd2_timeline(candidates, keys).select(*columns)

    slot = [*keys, "valid_from"]
    on = _same("new", "old", slot)
    diff = (
        history.alias("new").join(stored.alias("old"), on, "full_outer")
        .withColumn(
            "_action",
            F.when(F.col("old.valid_from").isNull(), F.lit("insert"))
            .when(F.col("new.valid_from").isNull(), F.lit("delete"))
            .when(~_same("new", "old", columns), F.lit("update")),
        )
        .where(F.col("_action").isNotNull())
    )
    side = {c: F.when(F.col("_action") == "delete", F.col(f"old.`{c}`")).otherwise(F.col(f"new.`{c}`")) for c in slot}
    actions = diff.select(
        *(side[c].alias(c) if c in side else F.col(f"new.`{c}`").alias(c) for c in columns), "_action"
    ).cache()
    try:
        written = actions.count()
        if written:
            assign = {f"`{c}`": f"s.`{c}`" for c in columns}
            (
                DeltaTable.forPath(lake.spark, lake.path(table)).alias("t")
                .merge(actions.alias("s"), " AND ".join(f"t.`{c}` <=> s.`{c}`" for c in slot))
                .whenMatchedDelete(condition="s._action = 'delete'")
                .whenMatchedUpdate(condition="s._action = 'update'", set=assign)
                .whenNotMatchedInsert(condition="s._action = 'insert'", values=assign)
                .execute()
            )
    finally:
        actions.unpersist()
    return written
