"""Bronze tables: one per landing source, append-only, partitioned by landing day.

`bronze.<source>` holds the contract's columns, typed as declared in
`jobs.common.landing_contract`, plus lineage columns:

| column | type | meaning |
|---|---|---|
| `_ds` | date | landing day (the `ds=` folder) |
| `_source_file` | string | landing URI of the file the row came from |
| `_file_version` | int | 1 for the first ingest of that path, +1 each time it changed |
| `_line_no` | bigint | 1-based data line in the file (header excluded) |
| `_ingested_at` | timestamp | when the batch ran |
| `_batch_id` | string | id of the ingest batch |

A file that changed under the same name is ingested again with a higher
`_file_version`; readers of a day keep, per `_source_file`, the highest version.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.common.landing_contract import DAY_COLUMN, Source

META_COLUMNS: tuple[tuple[str, str], ...] = (
    (DAY_COLUMN, "date"),
    ("_source_file", "string"),
    ("_file_version", "int"),
    ("_line_no", "bigint"),
    ("_ingested_at", "timestamp"),
    ("_batch_id", "string"),
)
META_NAMES = tuple(name for name, _ in META_COLUMNS)
PARTITION_COLUMN = DAY_COLUMN  # bronze is partitioned by landing day
QUARANTINE_TABLE = "ops.quarantine"
INGEST_LOG_TABLE = "ops.ingest_log"
# ops.ingest_log outcome of a file or folder that does not belong to the landing contract: never parsed.
IGNORED = "ignored"
# ops.ingest_log outcomes of a file version that was read into bronze.
LOADED_OUTCOMES = ("loaded", "reloaded_changed")


def bronze_table(source: Source | str) -> str:
    name = source if isinstance(source, str) else source.name
    return f"bronze.{name}"


def bronze_ddl(source: Source) -> str:
    meta = ", ".join(f"`{n}` {t.upper()}" for n, t in META_COLUMNS)
    return f"{source.ddl()}, {meta}"


def latest_file_versions(bronze: DataFrame) -> DataFrame:
    """Rows of the newest version of each landing file (a changed file supersedes the old one)."""
    newest = F.max("_file_version").over(Window.partitionBy("_source_file"))
    return bronze.withColumn("_newest", newest).where(F.col("_file_version") == F.col("_newest")).drop("_newest")


# ops.quarantine, one row per rejected landing row (ingest writes it; silver's rules add theirs).
QUARANTINE_COLUMNS = ("source", "file", "line_no", "raw", "reason", DAY_COLUMN, "_source_file", "_file_version",
                      "_ingested_at", "_batch_id")


def _csv_field(name: str, type_: str) -> Column:
    """A bronze value as the landing contract writes it in a CSV line ("" for null)."""
    col = F.col(name)
    if type_ == "timestamp":
        text = F.date_format(col, "yyyy-MM-dd'T'HH:mm:ss'Z'")
    elif type_ == "string":
        quoted = F.concat(F.lit('"'), F.regexp_replace(col, '"', '""'), F.lit('"'))
        text = F.when(col.rlike('[",\\r\\n]'), quoted).otherwise(col)
    else:
        text = col.cast("string")
    return F.coalesce(text, F.lit(""))


def landed_text(source: Source) -> Column:
    """A bronze row's values as a landing line (the line itself is not kept): a CSV line or a JSON object."""
    if source.format == "jsonl":
        return F.to_json(F.struct(*source.column_names))
    return F.concat_ws(",", *[_csv_field(c.name, c.type) for c in source.columns])


def quarantine_rows(bronze_rows: DataFrame, source: Source, reason: Column) -> DataFrame:
    """`ops.quarantine` rows for bronze rows that a later check rejects, their raw text rebuilt."""
    return bronze_rows.select(
        F.lit(source.name).alias("source"),
        F.col("_source_file").alias("file"),
        F.col("_line_no").cast("bigint").alias("line_no"),
        landed_text(source).alias("raw"),
        reason.alias("reason"),
        F.col(DAY_COLUMN),
        F.col("_source_file"),
        F.col("_file_version").cast("int"),
        F.col("_ingested_at"),
        F.col("_batch_id"),
    )
