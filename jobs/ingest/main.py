"""Ingest: landing files of a day (or a range of days) -> `bronze.<source>`.

Reads `<landing>/<source>/ds=YYYY-MM-DD/*`, writes
- `bronze.<source>`: good rows, typed, one row per landing data line
  (partitioned by `_ds`; layout in `jobs.common.bronze`);
- `ops.quarantine`: one row per rejected line (source, file, line_no, raw, reason);
- `ops.ingest_log`: one row per file and ingest (path, size, sha256, version, rows, outcome).

Exactly once per file: a file is known by its resolved location (a relative
landing path is made absolute first) and its checksum. A file whose location and
checksum are already in the log is skipped, so rerunning a day writes nothing. A
file that changed under the same name is ingested again as the next
`_file_version` and logged `reloaded_changed`; a file with the content of another
one is loaded and logged with `duplicate_of` (silver keeps the first delivery of
each business key).

The ingest log brackets the data: a `loading` entry for every file about to load, in
one commit before any bronze or quarantine append, and every file's outcome in one
commit at the end. A file
version whose last entry is `loading` was cut short; its rerun deletes what that
run wrote before appending, so a retry repairs rather than duplicates.

What does not belong is reported, never parsed and never fatal: a file in a source's day
folder that is not of its format (`README.txt` beside the CSVs), a folder that is no
source (`loyalty_cards/`), a day folder that is not `ds=YYYY-MM-DD` (`ds=latest`). Each
gets an `ignored` log entry with the reason and a warning in the run's output.

A file that cannot be ingested (unreadable, corrupt, compressed in a way ingest
does not read, a header without a required column) fails alone: a `failed` log
entry with the reason, nothing of it written, the source's other files and the
other sources go on, and the run ends with one message per failed file. Should
Spark fail to read a source's files, that source's files fail together.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import tempfile
import threading
import uuid
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common import logs
from jobs.common.bronze import IGNORED, INGEST_LOG_TABLE, LOADED_OUTCOMES, QUARANTINE_TABLE, bronze_table
from jobs.common.errors import C360Error
from jobs.common.lake import Lake
from jobs.common.landing import LandingError, LandingFile, clear_staging, fetch, list_files, misnamed, stray_folders
from jobs.common.landing_contract import DAY_COLUMN, ERASURE_REQUESTS, SOURCES, Source
from jobs.common.landing_contract import source as source_named
from jobs.common.pseudonym import load_key
from jobs.common.runtime import Runtime
from jobs.common.stage import Days, StageError, StageReport
from jobs.common.suppression import suppressed, without_suppressed
from jobs.ingest.inspect import FileFacts, UnreadableFileError, inspect_file
from jobs.ingest.parse import csv_records, numbered_lines, split_csv, split_json, typed

log = logging.getLogger(__name__)

LOADING = "loading"  # written before the data: a file version whose last entry is this was cut short

INGEST_LOG_DDL = (
    "batch_id STRING, source STRING, ds DATE, path STRING, size_bytes BIGINT, sha256 STRING, "
    "file_version INT, rows_in_file BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, "
    "outcome STRING, duplicate_of STRING, message STRING, ingested_at TIMESTAMP"
)


class IngestError(StageError):
    """One or more files could not be ingested; the message names each file and problem."""


@dataclass(frozen=True)
class SourceResult:
    source: str
    files_seen: int = 0
    files_skipped: int = 0
    files_loaded: int = 0
    files_changed: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    # Rows carrying an identifier of a person who asked to be erased (ops.erasure_suppression): dropped.
    rows_suppressed: int = 0
    files_failed: int = 0
    errors: tuple[str, ...] = ()  # one message per failed file, naming it
    ignored: tuple[str, ...] = ()  # one message per file that does not belong, naming it


@dataclass(frozen=True)
class IngestReport(StageReport):
    """What one ingest batch did, per source."""

    batch_id: str
    days: Days
    sources: tuple[SourceResult, ...] = field(default_factory=tuple)
    ignored: tuple[str, ...] = ()  # folders of the landing area that are no source or no day

    @property
    def failed(self) -> tuple[SourceResult, ...]:
        return tuple(s for s in self.sources if s.errors)

    @property
    def files_loaded(self) -> int:
        return sum(s.files_loaded for s in self.sources)

    @property
    def rows_loaded(self) -> int:
        return sum(s.rows_loaded for s in self.sources)

    @property
    def rows_quarantined(self) -> int:
        return sum(s.rows_quarantined for s in self.sources)


@dataclass(frozen=True)
class _PlannedFile:
    file: LandingFile
    local: Path
    facts: FileFacts
    version: int
    changed: bool
    duplicate_of: str | None
    cut_short: bool  # an earlier run logged `loading` for this version and never finished


def run(rt: Runtime, days: Days, *, sources: Sequence[str] | None = None) -> IngestReport:
    """Ingest every source's files (or those of `sources`) for `days` from `rt.config.landing.uri`.

    Raises:
        IngestError: when a file could not be ingested (each is named with its problem and logged
            `failed`; nothing of it was written, every other file was); the error carries the report.
    """
    chosen = [source_named(s) for s in sources] if sources else list(SOURCES)
    batch_id = f"{days.first:%Y%m%d}-{uuid.uuid4().hex[:12]}"
    ingested_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # lineage: when the batch ran
    staging = Path(tempfile.mkdtemp(prefix="c360-landing-"))
    outcomes: list[tuple] = []
    try:
        known = _logged_files(rt.lake, [s.name for s in chosen])
        try:
            strays = stray_folders(rt.config.landing.uri, chosen, [s.name for s in SOURCES] + [ERASURE_REQUESTS.name],
                                   rt.config.landing.s3_endpoint_url)
        except LandingError as exc:  # the sources' own listing below names the problem for each folder
            log.warning("ingest: the landing area's folders could not be checked for strays: %s", exc)
            strays = []
        for path, reason in strays:
            log.warning("ingest: ignored %s: %s", path, reason)
            outcomes.append((batch_id, None, None, path, None, None, None, None, 0, 0, IGNORED, None, reason,
                             ingested_at))
        batch = _Batch(batch_id, ingested_at, staging)

        # Every source's files are listed, fetched and checked first (Python: no Spark job), then every file
        # about to load is logged `loading` in one commit, then the sources load side by side: each writes
        # its own bronze table, and their quarantine rows are blind appends, which Delta commits side by side.
        workers = rt.config.landing.parallel_sources
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") as pool:
            plans = list(pool.map(lambda src: _plan_source(rt, src, list(days), known, batch, outcomes), chosen))
        loading = [_loading_row(src, p, batch) for src, (_, planned) in zip(chosen, plans, strict=True) for p in planned]
        if loading:
            rt.lake.append(rt.spark.createDataFrame(loading, INGEST_LOG_DDL), INGEST_LOG_TABLE)

        def ingest(src: Source, plan: tuple[SourceResult, list[_PlannedFile]]) -> SourceResult:
            with logs.step("ingest", f"{src.name}: {days}") as step:
                result = _load_source(rt, src, *plan, batch, outcomes)
                step.rows = result.rows_loaded
                step.note = ", ".join(f"{n} {what}" for n, what in ((result.files_loaded, "file(s) loaded"),
                                                                   (result.files_skipped, "unchanged"),
                                                                   (result.files_failed, "FAILED")) if n)
            return result

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") as pool:
            results = tuple(pool.map(ingest, chosen, plans))
    finally:
        clear_staging(staging)
        if outcomes:
            # Every file's outcome in one commit: loaded, reloaded_changed or failed.
            rt.lake.append(rt.spark.createDataFrame(outcomes, INGEST_LOG_DDL), INGEST_LOG_TABLE)
    report = IngestReport(batch_id, days, results, tuple(f"{path}: {reason}" for path, reason in strays))
    if report.failed:
        lines = [f"{s.source}: {message}" for s in report.failed for message in s.errors]
        raise IngestError(
            f"ingest of {len(lines)} file(s) failed; nothing of them was written, every other file was "
            f"(see {INGEST_LOG_TABLE}, outcome 'failed'):\n  " + "\n  ".join(lines), report)
    return report


@dataclass(frozen=True)
class _Batch:
    batch_id: str
    ingested_at: dt.datetime
    staging: Path
    # Held while a source writes the table every source writes (the quarantine): the first write
    # creates the table, which two writers must not both do.
    shared_tables: threading.Lock = field(default_factory=threading.Lock, compare=False)


def _logged_files(lake: Lake, sources: list[str]) -> dict[str, list[dict]]:
    """Loaded entries of the ingest log per path, newest version last."""
    if not lake.exists(INGEST_LOG_TABLE):
        return {}
    rows = (
        lake.read(INGEST_LOG_TABLE)
        .where(F.col("source").isin(sources) & F.col("outcome").isin(*LOADED_OUTCOMES, LOADING))
        .select("path", "sha256", "file_version", "outcome")
        .collect()
    )
    by_path: dict[str, list[dict]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r["file_version"], r["outcome"] != LOADING)):
        by_path[r["path"]].append(r.asDict())
    return by_path


def _plan_source(rt: Runtime, src: Source, days: list[dt.date], known: dict[str, list[dict]], batch: _Batch,
                 outcomes: list[tuple]) -> tuple[SourceResult, list[_PlannedFile]]:
    """List, fetch and check one source's files: the files to load, and the source's result so far. The log rows
    of files ignored or unreadable are added to `outcomes`."""
    landing = rt.config.landing.uri
    endpoint = rt.config.landing.s3_endpoint_url
    files, ignored = [], []
    for file in (f for day in days for f in list_files(landing, src.name, day, endpoint)):
        reason = misnamed(src, file.name)
        if reason is None:
            files.append(file)
            continue
        log.warning("ingest %s: ignored %s: %s", src.name, file.uri, reason)
        ignored.append(f"{file.uri}: {reason}")
        outcomes.append(_failed_row(src, file, batch, reason, IGNORED))
    if not files:
        return SourceResult(src.name, ignored=tuple(ignored)), []
    checksums = {e["sha256"]: path for path, entries in known.items() for e in entries if e["outcome"] != LOADING}
    planned: list[_PlannedFile] = []
    errors: list[str] = []
    skipped = 0
    for file in files:
        try:
            local = fetch(file, batch.staging, endpoint)
            facts = inspect_file(local, file.uri, src)
        except (UnreadableFileError, LandingError) as exc:
            errors.append(str(exc))
            outcomes.append(_failed_row(src, file, batch, str(exc)))
            continue
        entries = known.get(file.uri, [])
        history = [e for e in entries if e["outcome"] != LOADING]
        if history and history[-1]["sha256"] == facts.sha256:
            skipped += 1
            continue
        version = history[-1]["file_version"] + 1 if history else 1
        twin = checksums.get(facts.sha256)
        planned.append(_PlannedFile(
            file, local, facts, version,
            changed=bool(history),
            duplicate_of=twin if twin and twin != file.uri else None,
            cut_short=bool(entries) and entries[-1]["outcome"] == LOADING and entries[-1]["file_version"] == version,
        ))
        checksums.setdefault(facts.sha256, file.uri)
    result = SourceResult(src.name, files_seen=len(files), files_skipped=skipped, files_failed=len(errors),
                          errors=tuple(errors), ignored=tuple(ignored))
    return result, planned


def _load_source(rt: Runtime, src: Source, result: SourceResult, planned: list[_PlannedFile], batch: _Batch,
                 outcomes: list[tuple]) -> SourceResult:
    """Read, check and write the planned files of one source (logged `loading` already); their log rows are added
    to `outcomes`."""
    if not planned:
        return result
    spark, lake = rt.spark, rt.lake
    try:
        rows, loaded, quarantined = _checked_rows(spark, lake, src, planned, batch)
    except Exception as exc:  # noqa: BLE001 - Spark could not read these files: they fail, other sources go on
        names = ", ".join(p.file.uri for p in planned)
        message = f"Spark could not read {names}: {_first_line(exc)}"
        log.error("ingest %s: %s", src.name, message)
        outcomes.extend(_failed_row(src, p.file, batch, message) for p in planned)
        return dataclasses.replace(result, files_failed=result.files_failed + len(planned),
                                   errors=(*result.errors, message))
    try:
        rows, gone = _without_suppressed(rt, src, rows, loaded, quarantined)
        log_rows = _log_rows(src, planned, loaded, quarantined, gone, batch)
        _write(lake, src, planned, rows, batch, any(quarantined.values()))
    finally:
        rows.unpersist()
    outcomes.extend(log_rows)
    return dataclasses.replace(
        result,
        files_loaded=len(planned),
        files_changed=sum(p.changed for p in planned),
        rows_loaded=sum(loaded.values()),
        rows_quarantined=sum(quarantined.values()),
        rows_suppressed=sum(gone.values()),
    )


def _checked_rows(spark: SparkSession, lake: Lake, src: Source, planned: list[_PlannedFile],
                  batch: _Batch) -> tuple[DataFrame, dict[int, int], dict[int, int]]:
    """The planned files' typed rows (persisted) and per file the rows loaded and quarantined.

    Raises:
        C360Error: Spark read another number of lines than the driver counted in a file.
    """
    paths = [_spark_path(spark, lake, p, batch, i) for i, p in enumerate(planned)]
    rows = _typed_rows(spark, src, planned, paths)
    meta = spark.createDataFrame(
        [(i, p.file.uri, p.version, p.file.day) for i, p in enumerate(planned)],
        f"_file_idx INT, _source_file STRING, _file_version INT, {DAY_COLUMN} DATE",
    )
    rows = (
        rows.join(F.broadcast(meta), "_file_idx")
        .withColumn("_ingested_at", F.lit(batch.ingested_at).cast("timestamp"))
        .withColumn("_batch_id", F.lit(batch.batch_id))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        counts = rows.groupBy("_file_idx").agg(
            F.count("*").alias("rows"), F.count("_reason").alias("bad"), F.max("_last_line").alias("last_line"),
        ).collect()
        loaded = {i: 0 for i in range(len(planned))}
        quarantined = dict(loaded)
        lines = dict(loaded)
        for r in counts:
            quarantined[r["_file_idx"]] = r["bad"]
            loaded[r["_file_idx"]] = r["rows"] - r["bad"]
            lines[r["_file_idx"]] = r["last_line"]
        for i, p in enumerate(planned):
            if lines[i] != p.facts.data_lines:
                raise C360Error(
                    f"{p.file.uri}: {p.facts.data_lines} data lines in the file but Spark read {lines[i]}; "
                    "nothing was written"
                )
    except BaseException:
        rows.unpersist()
        raise
    return rows, loaded, quarantined


def _write(lake: Lake, src: Source, planned: list[_PlannedFile], rows: DataFrame, batch: _Batch,
           any_bad: bool) -> None:
    """The bronze and quarantine appends of one source."""
    good = rows.where(F.col("_reason").isNull()).select(
        *src.column_names, DAY_COLUMN, "_source_file", "_file_version",
        F.col("_line").cast("bigint").alias("_line_no"), "_ingested_at", "_batch_id",
    )
    if len({p.file.day for p in planned}) > 1:
        good = good.repartition(DAY_COLUMN)  # a backfill writes one file per day, not one per task and day
    repair = _file_scope([p for p in planned if p.cut_short])
    if repair:
        _drop_rows_of(lake, bronze_table(src), repair)
    lake.append(good, bronze_table(src), partition_by=[DAY_COLUMN], metadata=batch.batch_id)
    if any_bad:
        bad = rows.where(F.col("_reason").isNotNull()).select(
            F.lit(src.name).alias("source"), F.col("_source_file").alias("file"),
            F.col("_line").cast("bigint").alias("line_no"), F.col("value").alias("raw"),
            F.col("_reason").alias("reason"), DAY_COLUMN, "_source_file", "_file_version", "_ingested_at", "_batch_id",
        )
        with batch.shared_tables:
            if repair:
                _drop_rows_of(lake, QUARANTINE_TABLE, f"source = '{src.name}' AND {repair}")
            lake.append(bad, QUARANTINE_TABLE, partition_by=[DAY_COLUMN], metadata=batch.batch_id)


def _without_suppressed(rt: Runtime, src: Source, rows: DataFrame, loaded: dict[int, int],
                        quarantined: dict[int, int]) -> tuple[DataFrame, dict[int, int]]:
    """Drop the rows carrying an identifier on the erasure suppression list; per file, how many went.

    `loaded` and `quarantined` are updated to what is left. Consent events are never
    suppressed: a new opt-in is how a person comes back.
    """
    hashes = suppressed(rt.lake) if src.name != "consent_events" else None
    gone = dict.fromkeys(loaded, 0)
    if hashes is None:
        return rows, gone
    kept = without_suppressed(rows, hashes, load_key(rt.config.privacy), src.column_names).persist(
        StorageLevel.MEMORY_AND_DISK)
    left = {r["_file_idx"]: (r["good"], r["bad"]) for r in kept.groupBy("_file_idx").agg(
        F.count(F.when(F.col("_reason").isNull(), 1)).alias("good"), F.count("_reason").alias("bad")).collect()}
    for i in loaded:
        good, bad = left.get(i, (0, 0))
        gone[i] = loaded[i] + quarantined[i] - good - bad
        loaded[i], quarantined[i] = good, bad
    rows.unpersist()
    return kept, gone


def _planned_row(src: Source, p: _PlannedFile, batch: _Batch, counts: tuple, outcome: str, message: str | None) -> tuple:
    """The log entry (INGEST_LOG_DDL) of a planned file version; `counts` are its rows, loaded and quarantined."""
    return (batch.batch_id, src.name, p.file.day, p.file.uri, p.facts.size, p.facts.sha256, p.version, *counts,
            outcome, p.duplicate_of, message, batch.ingested_at)


def _log_rows(src: Source, planned: list[_PlannedFile], loaded: dict[int, int], quarantined: dict[int, int],
              suppressed_rows: dict[int, int], batch: _Batch) -> list[tuple]:
    return [
        _planned_row(src, p, batch, (loaded[i] + quarantined[i] + suppressed_rows[i], loaded[i], quarantined[i]),
                     "reloaded_changed" if p.changed else "loaded", _note(p, suppressed_rows[i]))
        for i, p in enumerate(planned)
    ]


def _loading_row(src: Source, p: _PlannedFile, batch: _Batch) -> tuple:
    """The log entry of a file version about to load: the last entry of a version whose load was cut short."""
    return _planned_row(src, p, batch, (None, None, None), LOADING, _note(p))


def _failed_row(src: Source, file: LandingFile, batch: _Batch, message: str, outcome: str = "failed") -> tuple:
    return (batch.batch_id, src.name, file.day, file.uri, file.size, None, None, None, 0, 0, outcome, None, message,
            batch.ingested_at)


def _typed_rows(spark: SparkSession, src: Source, planned: list[_PlannedFile], paths: list[str]) -> DataFrame:
    if src.format == "jsonl":
        return typed(split_json(numbered_lines(spark, paths), src), src)
    # Only a file with a double quote can hold a record over several lines.
    quoted = [i for i, p in enumerate(planned) if p.facts.quotes]
    plain = [i for i, p in enumerate(planned) if not p.facts.quotes]
    parts = []
    if plain:
        parts.append(numbered_lines(spark, paths, plain).withColumn("_last_line", F.col("_line")))
    if quoted:
        parts.append(csv_records(numbered_lines(spark, paths, quoted)))
    records = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
    by_header: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, p in enumerate(planned):
        by_header[p.facts.header].append(i)
    by_file_header = [
        typed(split_csv(records.where(F.col("_file_idx").isin(idx)), header, src), src)
        for header, idx in by_header.items()
    ]
    out = by_file_header[0]
    for part in by_file_header[1:]:
        out = out.unionByName(part)
    return out


def _drop_rows_of(lake: Lake, table: str, scope: str) -> None:
    """Delete rows a run that was cut short wrote for these file versions, before loading them again."""
    if lake.exists(table):
        lake.delete(table, scope)


def _file_scope(planned: list[_PlannedFile]) -> str:
    """SQL predicate matching exactly the rows of these file versions ("" for none)."""
    if not planned:
        return ""
    days = sorted({p.file.day for p in planned})
    files = " OR ".join(
        f"(_source_file = '{_sql_text(p.file.uri)}' AND _file_version = {p.version})" for p in planned
    )
    return f"{DAY_COLUMN} >= '{days[0]}' AND {DAY_COLUMN} <= '{days[-1]}' AND ({files})"


def _sql_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _note(p: _PlannedFile, suppressed_rows: int = 0) -> str | None:
    notes = []
    if suppressed_rows:
        notes.append(f"{suppressed_rows} row(s) of persons erased at their request dropped (ops.erasure_suppression)")
    if p.changed:
        notes.append(f"file changed since version {p.version - 1}: ingested again as version {p.version}")
    if p.duplicate_of:
        notes.append(f"same content as {p.duplicate_of}")
    if p.facts.note:
        notes.append(p.facts.note)
    return "; ".join(notes) or None


def _first_line(exc: BaseException) -> str:
    """The error's first line; for an error raised in the JVM, the Java exception's (py4j's own first line
    only says which call failed)."""
    java = getattr(exc, "java_exception", None)
    text = (str(java.toString()) if java is not None else str(exc)).strip() or type(exc).__name__
    return text.splitlines()[0][:500]


def _spark_path(spark: SparkSession, lake: Lake, planned: _PlannedFile, batch: _Batch, index: int) -> str:
    """Where Spark reads a fetched file, under a name of our own.

    Hadoop reads a path as a glob (`[`, `]`, `{`, `*`, `?`), refuses a `:` in a file name, and
    picks a decompressor by the name's suffix: Spark is given a link (local master) or a copy
    under the lake (cluster) named `<n>.txt`, or `<n>.txt.gz` when the bytes are gzip.
    """
    name = f"{index:05d}.txt" + (".gz" if planned.facts.gzip else "")
    local = planned.local.resolve()
    if spark.sparkContext.master.startswith("local"):
        link = batch.staging / "_spark" / planned.file.source / name
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(local, link)
        return str(link)
    jvm = spark.sparkContext._jvm
    target = jvm.org.apache.hadoop.fs.Path(f"{lake.root}/_staging/{batch.batch_id}/{planned.file.source}/{name}")
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    source = jvm.org.apache.hadoop.fs.Path(jvm.java.io.File(str(local)).toURI())
    # A plain stream copy (the store's own PUT); S3A's copyFromLocalFile goes through the AWS SDK's
    # asynchronous transfer manager, which S3-compatible stores that answer `100 Continue` stall.
    jvm.org.apache.hadoop.fs.FileUtil.copy(source.getFileSystem(hadoop_conf), source,
                                           target.getFileSystem(hadoop_conf), target, False, True, hadoop_conf)
    return str(target.toString())
