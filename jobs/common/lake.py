"""Lake tables: naming, the catalog, and the write patterns every stage uses.

A table is `<layer>.<name>` and lives at `<lake root>/<layer>/<name>` as a Delta
table. Nothing else in c360 builds table paths. Every write goes through a schema
check: adding columns is allowed and recorded in `ops.schema_changes`; dropping or
retyping a column is refused with a `TableError` naming the table and column.
Delta commits atomically, so a write that fails leaves the table at its last version.
"""
from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from delta.tables import DeltaTable
from py4j.protocol import Py4JJavaError
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ByteType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from jobs.common.config import LakeConfig
from jobs.common.errors import TableError

LAYERS = ("bronze", "silver", "gold", "serving", "ops")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
SCHEMA_CHANGES = "ops.schema_changes"
_SCHEMA_CHANGES_WRITER = threading.Lock()
_COMMIT_FILE = re.compile(r"^\d{20}\.json$")
# Layers holding raw personal data: Delta keeps no min/max statistics of their identifying
# columns, whose values would otherwise stay in the table's log after an erasure removed the rows.
RAW_LAYERS = ("bronze", "silver", "ops")
_IDENTIFYING = re.compile(
    r"email|phone|name|street|postcode|city|raw|birth|tax_id|subject|cookie|_id$|_key$|record|details|observed")
# The column types Delta keeps min/max statistics of.
_STATS_TYPES = (ByteType, ShortType, IntegerType, LongType, FloatType, DoubleType, DecimalType, DateType,
                TimestampType, TimestampNTZType, StringType)
# `tables()` counts this many tables at a time (Spark runs concurrent jobs from threads).
TABLES_THREADS = 4


@dataclass(frozen=True)
class TableName:
    """A validated `<layer>.<name>`."""

    layer: str
    name: str

    @classmethod
    def parse(cls, text: str) -> TableName:
        parts = text.split(".")
        if len(parts) != 2 or not all(_NAME.match(p) for p in parts):
            raise TableError(
                f"bad table name '{text}': use <layer>.<name> in lower snake case, e.g. silver.customers"
            )
        layer, name = parts
        if layer not in LAYERS:
            raise TableError(f"bad table name '{text}': layer '{layer}' is not one of {', '.join(LAYERS)}")
        return cls(layer, name)

    def __str__(self) -> str:
        return f"{self.layer}.{self.name}"


@dataclass(frozen=True)
class TableInfo:
    """One line of `c360 tables`."""

    name: str
    layer: str
    version: int
    rows: int
    path: str


@dataclass(frozen=True)
class SchemaDiff:
    added: tuple[tuple[str, str], ...]
    dropped: tuple[str, ...]
    retyped: tuple[tuple[str, str, str], ...]


def schema_diff(current: StructType, incoming: StructType) -> SchemaDiff:
    """Columns added, dropped and retyped going from `current` to `incoming`."""
    now = {f.name: f.dataType.simpleString() for f in current.fields}
    new = {f.name: f.dataType.simpleString() for f in incoming.fields}
    return SchemaDiff(
        added=tuple((c, t) for c, t in new.items() if c not in now),
        dropped=tuple(c for c in now if c not in new),
        retyped=tuple((c, now[c], new[c]) for c in now if c in new and now[c] != new[c]),
    )


def stats_columns(schema: StructType, partition_by: Sequence[str] = (), identifying: Sequence[str] | None = None
                  ) -> list[str]:
    """The top-level columns Delta may keep min/max statistics of: none that identifies a person (in a raw
    layer by its name, elsewhere the columns named in `identifying`)."""
    def identifies(name: str) -> bool:
        return bool(_IDENTIFYING.search(name.lower())) if identifying is None else name in identifying

    return [f.name for f in schema.fields if not identifies(f.name) and f.name not in partition_by
            and isinstance(f.dataType, _STATS_TYPES)]


class Lake:
    """The lake of one profile, bound to a SparkSession."""

    def __init__(self, spark: SparkSession, config: LakeConfig):
        self.spark = spark
        self.root = config.root.rstrip("/")
        self.vacuum_retain_hours = config.vacuum_retain_hours

    # -- naming and catalog -------------------------------------------------

    def path(self, table: str) -> str:
        t = TableName.parse(table)
        return f"{self.root}/{t.layer}/{t.name}"

    def exists(self, table: str) -> bool:
        """Whether the table's `_delta_log` holds a commit: one listing of the log.

        `DeltaTable.isDeltaTable` probes the folder, walks up its parents and loads the log's
        snapshot; on an object store each probe is two requests, and the stages ask often.
        """
        jvm = self.spark.sparkContext._jvm
        commits = jvm.org.apache.hadoop.fs.Path(f"{self.path(table)}/_delta_log/*.json")
        return bool(commits.getFileSystem(self._hadoop_conf()).globStatus(commits))

    def _listing(self, folder: str) -> list:
        """The file statuses in `folder`; none when it is missing."""
        path = self.spark.sparkContext._jvm.org.apache.hadoop.fs.Path(folder)
        try:
            return list(path.getFileSystem(self._hadoop_conf()).listStatus(path))
        except Py4JJavaError as e:
            if e.java_exception.getClass().getName() == "java.io.FileNotFoundException":
                return []
            raise

    def _hadoop_conf(self):
        return self.spark.sparkContext._jsc.hadoopConfiguration()

    def register(self, table: str) -> None:
        """Make `<layer>.<name>` resolvable in this session's catalog."""
        t = TableName.parse(table)
        self._ensure_database(t.layer)
        self.spark.sql(f"CREATE TABLE IF NOT EXISTS {t} USING delta LOCATION '{self.path(table)}'")

    def _ensure_database(self, layer: str) -> None:
        # Checked first: CREATE ... IF NOT EXISTS on an existing database logs a warning each time.
        if not self.spark.catalog.databaseExists(layer):
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer} LOCATION '{self.root}/{layer}'")

    def table_names(self) -> list[str]:
        """Every Delta table under the lake root, as `<layer>.<name>`, sorted."""
        found = []
        for layer in LAYERS:
            for status in self._listing(f"{self.root}/{layer}"):
                name = status.getPath().getName()
                if status.isDirectory() and _NAME.match(name) and self.exists(f"{layer}.{name}"):
                    found.append(f"{layer}.{name}")
        return sorted(found)

    def register_all(self) -> list[str]:
        """Register every table found in the lake folder; returns their names."""
        names = self.table_names()
        for layer in LAYERS:
            self._ensure_database(layer)
        for name in names:
            self.spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING delta LOCATION '{self.path(name)}'")
        return names

    def tables(self) -> list[TableInfo]:
        """Layer, current Delta version and row count of every table.

        The counts run as concurrent Spark jobs: each is small, most of its time spent
        reading the table's log.
        """
        def info(name: str) -> TableInfo:
            return TableInfo(name, TableName.parse(name).layer, self.version(name), self.read(name).count(),
                             self.path(name))

        with ThreadPoolExecutor(max_workers=TABLES_THREADS) as pool:
            return list(pool.map(info, self.table_names()))

    # -- reading ------------------------------------------------------------

    def _require(self, table: str) -> None:
        if not self.exists(table):
            known = ", ".join(self.table_names()) or "none yet"
            raise TableError(f"table {table} does not exist (no Delta table at {self.path(table)}); known tables: {known}")

    def read(self, table: str, version: int | None = None, timestamp: str | None = None) -> DataFrame:
        """The table now, or as of a version or timestamp (time travel)."""
        self._require(table)
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        if timestamp is not None:
            reader = reader.option("timestampAsOf", timestamp)
        return reader.load(self.path(table))

    def version(self, table: str) -> int:
        """The table's current Delta version: its newest commit file in `_delta_log`.

        Listing the log answers without a Spark job (a `DESCRIBE HISTORY` costs one).
        """
        names = (s.getPath().getName() for s in self._listing(f"{self.path(table)}/_delta_log"))
        commits = [int(name[:20]) for name in names if _COMMIT_FILE.match(name)]
        if not commits:
            self._require(table)  # raises, naming the tables there are
        return max(commits)

    def history(self, table: str, limit: int | None = None) -> DataFrame:
        self._require(table)
        dt = DeltaTable.forPath(self.spark, self.path(table))
        return dt.history(limit) if limit else dt.history()

    # -- writing ------------------------------------------------------------

    def append(self, df: DataFrame, table: str, partition_by: Sequence[str] = (), metadata: str | None = None) -> int:
        """Append rows. Returns the new Delta version."""
        return self._write(df, table, "append", partition_by, metadata)

    def overwrite(self, df: DataFrame, table: str, partition_by: Sequence[str] = (), metadata: str | None = None) -> int:
        """Replace all rows (the schema rules still apply). Returns the new version."""
        return self._write(df, table, "overwrite", partition_by, metadata)

    def replace_where(self, df: DataFrame, table: str, predicate: str, partition_by: Sequence[str] = (),
                      metadata: str | None = None, identifying: Sequence[str] = ()) -> int:
        """Replace the rows matching `predicate` (e.g. one day's partition) with `df`.

        Every row of `df` must match the predicate; Delta refuses the write otherwise.
        Rerunning with the same `df` gives the same table: the idempotent daily write.
        `identifying`: columns outside a raw layer that identify a person; a new table keeps no
        min/max statistics of them in its log (which an erasure does not rewrite).
        """
        return self._write(df, table, "overwrite", partition_by, metadata, replace_where=predicate,
                           identifying=identifying)

    def replace_run_date(self, df: DataFrame, table: str, day: dt.date, retention_days: int,
                         metadata: str | None = None, identifying: Sequence[str] = ()) -> int:
        """Rows of run_date `day` replace that day of a table partitioned by `run_date`, and run
        days older than `retention_days` before it go, in one commit: a rerun rewrites the day,
        a failed run leaves the table as it was."""
        oldest = day - dt.timedelta(days=retention_days)
        return self.replace_where(df, table, f"run_date = '{day}' OR run_date < '{oldest}'", partition_by=["run_date"],
                                  metadata=metadata, identifying=identifying)

    def merge(self, df: DataFrame, table: str, keys: Sequence[str], partition_by: Sequence[str] = (),
              condition_extra: str | None = None, metadata: str | None = None) -> int:
        """Upsert `df` on `keys`: update matched rows, insert the others.

        Creates the table from `df` when it does not exist yet.
        """
        if not keys:
            raise TableError(f"merge into {table} needs at least one key column")
        missing = [k for k in keys if k not in df.columns]
        if missing:
            raise TableError(f"merge into {table}: key column(s) {', '.join(missing)} not in the incoming data")
        if not self.exists(table):
            return self._write(df, table, "append", partition_by, metadata)
        diff = self._check_schema(table, df.schema)
        on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
        if condition_extra:
            on = f"({on}) AND ({condition_extra})"
        builder = (
            DeltaTable.forPath(self.spark, self.path(table)).alias("t")
            .merge(df.alias("s"), on)
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
        )
        if diff.added:
            builder = builder.withSchemaEvolution()
        if metadata:
            self.spark.conf.set("spark.databricks.delta.commitInfo.userMetadata", metadata)
        try:
            builder.execute()
        finally:
            if metadata:
                self.spark.conf.unset("spark.databricks.delta.commitInfo.userMetadata")
        version = self.version(table)
        self._record_added(table, diff, version)
        return version

    def delete(self, table: str, predicate: str | Column) -> int:
        """Delete the rows matching `predicate`. Returns the new version."""
        self._require(table)
        DeltaTable.forPath(self.spark, self.path(table)).delete(predicate)
        return self.version(table)

    def restore(self, table: str, version: int) -> int:
        """Make `version` the table's content again (a new commit); returns the new version."""
        self._require(table)
        DeltaTable.forPath(self.spark, self.path(table)).restoreToVersion(version)
        return self.version(table)

    def drop(self, table: str) -> None:
        """Remove the table from the catalog and its folder from the lake."""
        self._require(table)
        self.spark.sql(f"DROP TABLE IF EXISTS {TableName.parse(table)}")
        jvm = self.spark.sparkContext._jvm
        path = jvm.org.apache.hadoop.fs.Path(self.path(table))
        path.getFileSystem(self._hadoop_conf()).delete(path, True)

    def vacuum(self, table: str, retain_hours: int | None = None) -> None:
        """Remove files no longer referenced and older than the retention (erasure)."""
        self._require(table)
        hours = self.vacuum_retain_hours if retain_hours is None else retain_hours
        DeltaTable.forPath(self.spark, self.path(table)).vacuum(float(hours))

    def delta_folders(self) -> list[str]:
        """Every Delta table folder under the root, lake tables and any other (dbt's intermediate tables), sorted."""
        jvm = self.spark.sparkContext._jvm
        conf = self._hadoop_conf()
        root = self.root
        found = set()
        for depth in ("*", "*/*", "*/*/*"):
            pattern = jvm.org.apache.hadoop.fs.Path(f"{root}/{depth}/_delta_log")
            for status in pattern.getFileSystem(conf).globStatus(pattern) or []:
                found.add(str(status.getPath().getParent().toUri().getPath() if root.startswith("/")
                              else status.getPath().getParent().toString()))
        return sorted(found)

    def partition_columns(self, folder: str) -> list[str]:
        """The partition columns of the Delta table in `folder`."""
        return list(DeltaTable.forPath(self.spark, folder).detail().first()["partitionColumns"])

    def rewrite_folder(self, df: DataFrame, folder: str, replace_where: str | None = None) -> None:
        """Replace the rows of the Delta table in `folder` (those matching `replace_where`, or all) with `df`.

        For rewrites that must leave no value in the table's log: the commit records the
        partition predicate, never the rows' values.
        """
        writer = df.write.format("delta").mode("overwrite")
        if replace_where:
            writer = writer.option("replaceWhere", replace_where)
        writer.save(folder)

    def vacuum_folders(self, folders: Sequence[str], retain_hours: float) -> int:
        """VACUUM the Delta tables in `folders` (a few at a time), Delta's retention check off for a retention below its own.

        Returns how many data files were deleted.
        """
        spark = self.spark
        check = "spark.databricks.delta.retentionDurationCheck.enabled"
        before = spark.conf.get(check, "true")

        def vacuum(folder: str) -> int:
            files = self._data_files(folder)
            DeltaTable.forPath(spark, folder).vacuum(float(retain_hours))
            return files - self._data_files(folder)

        spark.conf.set(check, "false")
        try:
            with ThreadPoolExecutor(TABLES_THREADS) as pool:
                return sum(pool.map(vacuum, folders))
        finally:
            spark.conf.set(check, before)

    def _data_files(self, folder: str) -> int:
        jvm = self.spark.sparkContext._jvm
        path = jvm.org.apache.hadoop.fs.Path(folder)
        listing = path.getFileSystem(self._hadoop_conf()).listFiles(path, True)
        count = 0
        while listing.hasNext():
            file = listing.next().getPath()
            count += file.getName().endswith(".parquet") and "/_delta_log/" not in file.toString()
        return count

    def optimize(self, table: str, zorder_by: Iterable[str] = ()) -> int:
        """Compact small files, optionally Z-ordering by columns. Returns the new version."""
        self._require(table)
        opt = DeltaTable.forPath(self.spark, self.path(table)).optimize()
        cols = list(zorder_by)
        opt.executeZOrderBy(*cols) if cols else opt.executeCompaction()
        return self.version(table)

    def _write(self, df: DataFrame, table: str, mode: str, partition_by: Sequence[str], metadata: str | None,
               replace_where: str | None = None, identifying: Sequence[str] = ()) -> int:
        TableName.parse(table)
        diff = SchemaDiff((), (), ())
        if self.exists(table):
            diff = self._check_schema(table, df.schema)
        writer = df.write.format("delta").mode(mode)
        raw = table.split(".")[0] in RAW_LAYERS
        if not self.exists(table) and (raw or identifying):
            kept = stats_columns(df.schema, partition_by, None if raw else identifying)
            writer = (writer.option("delta.dataSkippingStatsColumns", ",".join(kept)) if kept
                      else writer.option("delta.dataSkippingNumIndexedCols", "0"))
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        if diff.added:
            writer = writer.option("mergeSchema", "true")
        if replace_where:
            writer = writer.option("replaceWhere", replace_where)
        if metadata:
            writer = writer.option("userMetadata", metadata)
        writer.save(self.path(table))
        if not self.spark.catalog.tableExists(table):
            self.register(table)
        version = self.version(table)
        self._record_added(table, diff, version)
        return version

    def _check_schema(self, table: str, incoming: StructType) -> SchemaDiff:
        current = self.read(table).schema
        diff = schema_diff(current, incoming)
        if diff.retyped:
            col, old, new = diff.retyped[0]
            raise TableError(
                f"refusing to change the type of column '{col}' of {table} from {old} to {new}: "
                "cast it in the job, or migrate the table (new column, backfill, then drop the old one)"
            )
        if diff.dropped:
            raise TableError(
                f"refusing to drop column(s) {', '.join(repr(c) for c in diff.dropped)} of {table}: "
                "the incoming data lacks them; select them (null if unknown) or migrate the table"
            )
        return diff

    def _record_added(self, table: str, diff: SchemaDiff, version: int) -> None:
        if not diff.added or table == SCHEMA_CHANGES:
            return
        rows = [(table, col, dtype, version) for col, dtype in diff.added]
        changes = self.spark.createDataFrame(
            rows, "table_name string, column_name string, data_type string, table_version long"
        ).withColumn("change", F.lit("add_column")).withColumn("recorded_at", F.current_timestamp())
        with _SCHEMA_CHANGES_WRITER:  # writers of other tables in other threads: one creates it
            self._write(changes, SCHEMA_CHANGES, "append", (), None)

