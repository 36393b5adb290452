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

from pyspark.sql import DataFrame, Window
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
