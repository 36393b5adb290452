"""Re-delivered rows: a business key that lands again on another landing day.

A file delivered again on a later day (copied under a new name, exported twice) brings
rows whose business key silver already holds from the day of the first delivery. For
the sources silver stores per landing day (`silver_write: day` in the landing contract)
the first delivery wins:

- the quality gate reports such rows: the warn-severity check on the reference column
  `_ref_landed_on` (the day that already holds the key) in each of their suites;
- silver keeps the key on the day that holds it, and sends the rows of the other days
  to `ops.quarantine` with the reason `redelivered: ...`.

A day "holds" a key when silver has it on a day outside the days being built (within
`landing.redelivery_lookback_days` of them), or when the key is on an earlier day among
the days being built. Either way a rebuild gives the same rows, whatever the order the
days were built in, and nothing is loaded twice. Keys are compared as silver stores
them (text keys with whitespace collapsed and trimmed).
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.common.landing_contract import DAY_COLUMN, Source
from jobs.common.text import text_clean

LANDED_ON = "_landed_on"
REASON_PREFIX = "redelivered: "
# What names one bronze row: its landing day, file version and line.
ROW_ID = (DAY_COLUMN, "_source_file", "_file_version", "_line_no")


def key_values(source: Source) -> list[Column]:
    """The business key of `source` as silver stores it, computed from bronze columns (aliased `_key_<name>`)."""
    types = {c.name: c.type for c in source.columns}
    return [
        (text_clean(F.col(k)) if types.get(k) == "string" else F.col(k)).alias(f"_key_{k}")
        for k in source.keys
    ]


def mark_landed_on(rows: DataFrame, source: Source, first: dt.date, last: dt.date, silver: DataFrame | None,
                   lookback_days: int) -> DataFrame:
    """`rows` (bronze rows of the landing days `first`..`last`) with `_landed_on` (DATE).

    `_landed_on` is the landing day that already holds the row's business key: the first
    day silver has it outside `first`..`last` (within `lookback_days` of them), else an
    earlier day among the rows; null for a first delivery (and for a row without a key).
    """
    keys = [f"_key_{k}" for k in source.keys]
    keyed = rows.select("*", *key_values(source))
    has_key = F.lit(True)
    for k in keys:
        has_key = has_key & F.col(k).isNotNull()
    marked = keyed.withColumn(LANDED_ON, F.lit(None).cast("date"))
    if last > first:
        earliest = F.min(DAY_COLUMN).over(Window.partitionBy(*keys))
        marked = marked.withColumn(LANDED_ON, F.when(has_key & (earliest < F.col(DAY_COLUMN)), earliest))
    if silver is not None:
        low, high = first - dt.timedelta(days=lookback_days), last + dt.timedelta(days=lookback_days)
        day = F.col(DAY_COLUMN)
        held = (
            silver.where((day >= F.lit(low)) & (day <= F.lit(high)) & ((day < F.lit(first)) | (day > F.lit(last))))
            .groupBy(*[F.col(k).alias(f"_key_{k}") for k in source.keys])
            .agg(F.min(DAY_COLUMN).alias("_held_on"))
        )
        marked = (marked.join(held, keys, "left")
                  .withColumn(LANDED_ON, F.coalesce(F.col("_held_on"), F.col(LANDED_ON))).drop("_held_on"))
    return marked.drop(*keys)


def redelivered_rows(rows: DataFrame, source: Source, first: dt.date, last: dt.date, silver: DataFrame | None,
                     lookback_days: int) -> DataFrame:
    """The re-delivered rows among `rows` (bronze rows of `first`..`last`, newest file versions): `ROW_ID` + `_landed_on`.

    Computed on the key and id columns only, so the common case (none) costs a narrow scan.
    """
    narrow = rows.select(*ROW_ID, *source.keys)
    marked = mark_landed_on(narrow, source, first, last, silver, lookback_days)
    return marked.where(F.col(LANDED_ON).isNotNull()).select(*ROW_ID, LANDED_ON)


def reason(source: Source) -> Column:
    """The quarantine reason of a marked row: which key, and the day that holds it."""
    keys = ", ".join(source.keys)
    return F.concat(F.lit(f"{REASON_PREFIX}{keys} already landed on "), F.col(LANDED_ON).cast("string"),
                    F.lit(" (silver keeps the first delivery)"))
