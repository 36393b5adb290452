"""The `erase` stage: forget the persons who asked, in every layer, and prove it on disk.

Input:
- `<landing>/erasure_requests/ds=<day>/*.csv` for the days run, and `--request-file F` (any
  file in the same format, docs/landing.md); the `erasure_request` lines of
  `silver.consent_events` of the days (subject: a CRM, account or loyalty id, or an email).
- `silver.identity_map` and the silver source tables: who the identifiers name.

What one run does, for every request not yet done (`ops.erasure_log`):
1. resolves the request to customer keys through `silver.identity_map` (`jobs.privacy.erase`);
   an email or phone that several customers share names none of them;
2. removes every row naming an erased value from every Delta table under the lake root
   (bronze, silver, the identity tables, gold and dbt's intermediate tables, serving, ops),
   rewriting only the partitions that held them; quarantined lines are matched on their raw
   text; quality results and report files have the values replaced by `[erased]`; Spark's and
   Splink's checkpoints are deleted;
3. VACUUMs every table it rewrote with `privacy.erasure_vacuum_retain_hours` (0: the files
   that held the rows are deleted now); `ops.identity_runs` then points every earlier run at
   the versions the erasure left, the only ones still on disk;
4. writes every landing file that holds an erased value back without those lines (local and
   S3), the request's own line included;
5. adds the keyed hashes (HMAC-SHA256, `jobs.common.pseudonym`) of the identifiers to
   `ops.erasure_suppression`: ingest drops later rows carrying them until the person opts in
   again;
6. appends one row per request to `ops.erasure_log` (no raw identifier).

Each step is idempotent and the log row comes last: a run that stops half-way is finished by
running it again (the tables that resolve a request are rewritten last).

| table | grain | write |
|---|---|---|
| ops.erasure_log | one row per request handled | append |
| ops.erasure_suppression | one row per keyed hash of a forgotten identifier | append |
"""
from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common import landing as landing_area
from jobs.common import match_model_file as model_file
from jobs.common.errors import C360Error
from jobs.common.lake import Lake
from jobs.common.landing_contract import DAY_COLUMN, ERASURE_REQUESTS, SOURCES
from jobs.common.pseudonym import keyed_hash, load_key
from jobs.common.runtime import Runtime
from jobs.common.stage import Days, StageReport
from jobs.common.suppression import SUPPRESSION, SUPPRESSION_DDL
from jobs.privacy.erase import (
    RECORD_KEYS,
    REQUEST_IDENTIFIERS,
    erased_by_kind,
    erased_values,
    given_identifiers,
    names_erased,
    needles,
    record_identifiers,
    resolve,
    scrub_pattern,
    shared_identifiers,
)

log = logging.getLogger(__name__)

ERASURE_LOG = "ops.erasure_log"
ERASURE_LOG_DDL = (
    "request_id STRING, person_hmac STRING, received_at TIMESTAMP, deadline DATE, completed_at TIMESTAMP, "
    "status STRING, customer_keys INT, shared_identifiers ARRAY<STRING>, rows_removed MAP<STRING, BIGINT>, "
    "files_vacuumed BIGINT, landing_files_rewritten INT, run_date DATE"
)
QUARANTINE = "ops.quarantine"
IDENTITY_RUNS = "ops.identity_runs"
MAP = "silver.identity_map"
LINKS = "silver.identity_links"
# Free-text columns where an identifier may be quoted (samples of failing values).
TEXT_COLUMNS = {"ops.dq_results": ("observed_value", "details")}
# Array columns of record ids (a sample of an oversized cluster's records).
RECORD_ID_ARRAYS = {"ops.identity_oversized_clusters": "sample_record_ids"}
REDACTED = "[erased]"


class ErasureRequestError(C360Error):
    """An erasure request file is unreadable or a line of it incomplete."""


@dataclass(frozen=True)
class Request:
    request_id: str
    received_at: dt.datetime
    identifiers: dict[str, str]
    origin: str  # the file (and line) or table it came from


@dataclass(frozen=True)
class ErasureReport(StageReport):
    days: str
    requests: int
    already_done: int
    customer_keys: int
    statuses: dict[str, int]
    rows_removed: dict[str, int]
    tables_rewritten: int
    files_vacuumed: int
    landing_files_rewritten: int
    report_files_scrubbed: int
    suppressions_lifted: int
    near_deadline: list[str] = field(default_factory=list)
    model_names_forgotten: int = 0  # names only the erased persons had, taken out of the identity match model
    seconds: float = 0.0


def run(rt: Runtime, days: Days, *, request_file: str | None = None) -> ErasureReport:
    """Handle the erasure requests of `days` (and of `request_file`); see the module docstring."""
    lake, config, spark = rt.lake, rt.config, rt.spark
    began = time.perf_counter()
    requests = _landing_requests(rt, days) + _consent_requests(lake, days)
    if request_file:
        requests += parse_requests(_read_file_text(request_file, config.landing.s3_endpoint_url), request_file)
    lifted = _lift_suppression(rt, days)
    done = _done_requests(lake)
    todo = [r for r in requests if r.request_id not in done]
    day = days.last
    near = _near_deadline(requests, done, day, config.privacy.erasure_deadline_days, config.privacy.erasure_warn_days)
    if not todo:
        return ErasureReport(str(days), len(requests), len(requests) - len(todo), 0, {}, {}, 0, 0, 0, 0, lifted,
                             near, round(time.perf_counter() - began, 1))
    key = load_key(config.privacy)
    rows = [(r.request_id, *(r.identifiers.get(k) for k in REQUEST_IDENTIFIERS)) for r in todo]
    requests_df = spark.createDataFrame(rows, "request_id STRING, " + ", ".join(f"{k} STRING" for k in REQUEST_IDENTIFIERS))
    given = given_identifiers(requests_df)
    identity_map = lake.read(MAP) if lake.exists(MAP) else None
    if identity_map is None:
        raise C360Error(f"erasure needs {MAP}: run resolve_identities first (no identities, nothing to resolve)")
    silver = {s: lake.read(f"silver.{s}") for s in RECORD_KEYS if lake.exists(f"silver.{s}")}
    records = record_identifiers(silver, identity_map).persist(StorageLevel.MEMORY_AND_DISK)
    # Resolved now, before any row goes: every later step reads these collected values.
    keys = [(r.request_id, r.customer_key) for r in resolve(given, records).collect()]
    keys_df = spark.createDataFrame(keys, "request_id STRING, customer_key STRING")
    shared = {}
    for r in shared_identifiers(given, records).collect():
        shared.setdefault(r.request_id, []).append(r.kind)
    values_rows = [(r.kind, r.value) for r in erased_values(records, keys_df, given, identity_map).collect()]
    records.unpersist()
    pattern = scrub_pattern(needles(values_rows))

    rows_removed, rewritten = _erase_tables(lake, erased_by_kind(values_rows), pattern)
    names_forgotten = _forget_model_names(lake, config.identity.model_dir)
    files_vacuumed = lake.vacuum_folders(rewritten, config.privacy.erasure_vacuum_retain_hours)
    _repoint_identity_runs(lake)
    _clear_checkpoints(lake)
    scrubbed = _scrub_reports(config.lake.reports, pattern)
    landing_files = _rewrite_landing(config.landing.uri, config.landing.s3_endpoint_url, pattern)
    _suppress(lake, values_rows, todo, key, day)

    completed = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    per_request: dict[str, int] = {}
    for request_id, _ in keys:
        per_request[request_id] = per_request.get(request_id, 0) + 1
    statuses: dict[str, int] = {}
    log_rows = []
    for r in todo:
        n = per_request.get(r.request_id, 0)
        status = "erased" if n else ("needs_review" if r.request_id in shared else "nothing_held")
        statuses[status] = statuses.get(status, 0) + 1
        deadline = r.received_at.date() + dt.timedelta(days=config.privacy.erasure_deadline_days)
        log_rows.append((r.request_id, _person_hash(r, key), r.received_at, deadline, completed, status, n,
                         sorted(set(shared.get(r.request_id, []))), rows_removed, files_vacuumed, landing_files, day))
    lake.append(spark.createDataFrame(log_rows, ERASURE_LOG_DDL), ERASURE_LOG)
    return ErasureReport(
        str(days), len(requests), len(requests) - len(todo), len({k for _, k in keys}), statuses, rows_removed,
        len(rewritten), files_vacuumed, landing_files, scrubbed, lifted, near, round(time.perf_counter() - began, 1),
        names_forgotten)


# -- requests ---------------------------------------------------------------------------------

def parse_requests(text: str, origin: str) -> list[Request]:
    """The requests of one `erasure_requests` CSV file; a bad line is an error naming the file, line and column."""
    reader = csv.DictReader(io.StringIO(text))
    header = {(h or "").strip().lower() for h in reader.fieldnames or ()}
    missing = [c for c in ERASURE_REQUESTS.required_columns if c not in header]
    if missing:
        raise ErasureRequestError(f"{origin}: the header lacks {', '.join(missing)} (docs/landing.md, erasure_requests)")
    out = []
    for line_no, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        if not row.get("request_id"):
            raise ErasureRequestError(f"{origin} line {line_no}: request_id is empty")
        try:
            received = dt.datetime.fromisoformat(row.get("received_at", "").replace("Z", "+00:00"))
        except ValueError:
            raise ErasureRequestError(
                f"{origin} line {line_no}: received_at is not an ISO-8601 time (e.g. 2026-10-01T13:45:00Z)") from None
        ids = {k: row[k] for k in REQUEST_IDENTIFIERS if row.get(k)}
        if not ids:
            raise ErasureRequestError(
                f"{origin} line {line_no}: no identifier; give at least one of {', '.join(REQUEST_IDENTIFIERS)}")
        out.append(Request(row["request_id"], received.astimezone(dt.UTC).replace(tzinfo=None) if received.tzinfo
                           else received, ids, f"{origin} line {line_no}"))
    return out


def _read_file_text(uri: str, endpoint: str) -> str:
    file = landing_area.LandingFile(uri if landing_area.is_s3(uri) else str(Path(uri).resolve()),
                                    ERASURE_REQUESTS.name, dt.date.min, 0)
    try:
        data = landing_area.read_bytes(file, endpoint)
    except OSError as exc:
        raise ErasureRequestError(f"cannot read the request file {uri}: {exc.strerror or exc}") from None
    return _decode(data, uri)[0]


def _decode(data: bytes, origin: str) -> tuple[str, bool]:
    zipped = data[:2] == b"\x1f\x8b"
    try:
        return (gzip.decompress(data) if zipped else data).decode("utf-8"), zipped
    except (OSError, UnicodeDecodeError) as exc:
        raise ErasureRequestError(f"{origin}: not UTF-8 text (or gzip of it): {exc}") from None


def _landing_requests(rt: Runtime, days: Days) -> list[Request]:
    landing, endpoint = rt.config.landing.uri, rt.config.landing.s3_endpoint_url
    out = []
    for day in days:
        for file in landing_area.list_files(landing, ERASURE_REQUESTS.name, day, endpoint):
            out += parse_requests(_decode(landing_area.read_bytes(file, endpoint), file.uri)[0], file.uri)
    return out


def _consent_requests(lake: Lake, days: Days) -> list[Request]:
    """The `erasure_request` lines of silver.consent_events of the days: one request each."""
    table = "silver.consent_events"
    if not lake.exists(table):
        return []
    rows = (lake.read(table).where((F.col("action") == "erasure_request")
                                   & F.col(DAY_COLUMN).between(F.lit(days.first), F.lit(days.last)))
            .select("event_id", "event_ts", "subject_type", "subject_id").collect())
    kinds = {"crm_id", "account_id", "loyalty_id", "email"}
    return [Request(f"consent_events:{r.event_id}", r.event_ts, {r.subject_type: r.subject_id}, table)
            for r in rows if r.subject_type in kinds and r.subject_id]


def _done_requests(lake: Lake) -> set[str]:
    if not lake.exists(ERASURE_LOG):
        return set()
    return {r.request_id for r in lake.read(ERASURE_LOG).select("request_id").collect()}


def _near_deadline(requests: Sequence[Request], done: set[str], day: dt.date, deadline_days: int,
                   warn_days: int) -> list[str]:
    """Requests received but not done whose deadline is within `warn_days` of `day` (or past)."""
    return sorted(f"{r.request_id} (deadline {r.received_at.date() + dt.timedelta(days=deadline_days)})"
                  for r in requests if r.request_id not in done
                  and (r.received_at.date() + dt.timedelta(days=deadline_days) - day).days <= warn_days)


def _lift_suppression(rt: Runtime, days: Days) -> int:
    """A new opt-in about an identifier on the suppression list takes it off; how many hashes were lifted."""
    lake = rt.lake
    table = "silver.consent_events"
    if not lake.exists(SUPPRESSION) or not lake.exists(table):
        return 0
    opt_ins = (lake.read(table).where((F.col("action") == "opt_in")
                                      & F.col(DAY_COLUMN).between(F.lit(days.first), F.lit(days.last)))
               .select("subject_id").where("subject_id IS NOT NULL"))
    if opt_ins.isEmpty():
        return 0
    key = load_key(rt.config.privacy)
    hashes = {keyed_hash(r.subject_id.strip().lower(), key) for r in opt_ins.collect()}
    listed = lake.read(SUPPRESSION)
    lifting = listed.where(F.col("value_hmac").isin(*hashes)).count()
    if lifting:
        lake.overwrite(listed.where(~F.col("value_hmac").isin(*hashes)), SUPPRESSION)
    return lifting


def _person_hash(request: Request, key: bytes) -> str:
    """A keyed hash of the identifiers the person gave (the same person, the same hash), never the values."""
    text = "|".join(f"{k}={request.identifiers[k].strip().lower()}" for k in sorted(request.identifiers))
    return keyed_hash(text, key)


# -- the lake ---------------------------------------------------------------------------------

def _table_name(lake: Lake, folder: str) -> str:
    """`layer.name` of a lake table's folder (`gold._intermediate.int_x` for dbt's intermediate tables)."""
    root = lake.root.removeprefix("file:")
    relative = folder.removeprefix("file:")
    relative = relative[len(root):] if relative.startswith(root) else relative
    return ".".join(relative.strip("/").split("/"))


def _erase_tables(lake: Lake, erased: dict[str, list[str]], pattern: str | None) -> tuple[dict[str, int], list[str]]:
    """Remove (or redact) what names an erased value in every Delta table.

    Returns the rows removed (or redacted) per table and the folders rewritten.
    """
    spark = lake.spark
    marks = {}
    for folder in lake.delta_folders():
        name = _table_name(lake, folder)
        if name in (ERASURE_LOG, SUPPRESSION):
            continue
        df = spark.read.format("delta").load(folder)
        marked = _marked(name, df, erased, pattern)
        if marked is not None:
            marks[name] = (folder, marked)
    # Which tables hold anything to erase: one Spark job over all of them.
    probes = [m.where("_erase OR _redact").limit(1).select(F.lit(name).alias("table"))
              for name, (_, m) in marks.items()]
    found = sorted({r.table for r in reduce(DataFrame.unionByName, probes).collect()}) if probes else []
    removed: dict[str, int] = {}
    rewritten = []
    # What resolves a request goes last (silver's source tables, then the identity map): a run
    # that stops half-way, rerun, still finds the persons and finishes their erasure.
    for name in sorted(found, key=lambda t: (t == MAP, t.startswith("silver."), t)):
        folder, marked = marks[name]
        redact = {c: pattern for c in TEXT_COLUMNS.get(name, ())}
        arrays = {RECORD_ID_ARRAYS[name]: _erased_array(erased)} if name in RECORD_ID_ARRAYS else {}
        n = _rewrite(lake, folder, marked, lake.partition_columns(folder), redact=redact, arrays=arrays)
        if n:
            removed[name] = n
            rewritten.append(folder)
    return removed, rewritten


def _erased_array(erased: dict[str, list[str]]):
    return F.array(*[F.lit(v) for v in erased.get("record_id", [])])


def _marked(name: str, df: DataFrame, erased: dict[str, list[str]], pattern: str | None) -> DataFrame | None:
    """`df` with `_erase` (drop the row) and `_redact` (replace values in it); None: nothing in it can name a person."""
    no = F.lit(False)
    if name == QUARANTINE:
        if pattern is None:
            return None
        return df.withColumn("_erase", F.coalesce(F.col("raw").rlike(pattern), no)).withColumn("_redact", no)
    if name in TEXT_COLUMNS:
        if pattern is None:
            return None
        matches = F.greatest(*[F.coalesce(F.col(c).rlike(pattern), no) for c in TEXT_COLUMNS[name]])
        return df.withColumn("_erase", no).withColumn("_redact", matches)
    if name in RECORD_ID_ARRAYS:
        col = RECORD_ID_ARRAYS[name]
        if not erased.get("record_id"):
            return None
        lowered = F.transform(col, lambda x: F.lower(x))
        return df.withColumn("_erase", no).withColumn(
            "_redact", F.coalesce(F.size(F.array_intersect(lowered, _erased_array(erased))) > 0, no))
    erase = names_erased(df, erased)
    if erase is None:
        return None
    return df.withColumn("_erase", erase).withColumn("_redact", no)


def _partition_predicate(rows: list, parts: list[str]) -> str:
    def literal(v) -> str:
        if v is None:
            return "NULL"
        if isinstance(v, dt.date):
            return f"DATE'{v.isoformat()}'"
        if isinstance(v, (int, float)):
            return str(v)
        return "'" + str(v).replace("'", "''") + "'"

    clauses = [" AND ".join(f"`{p}` IS NULL" if r[p] is None else f"`{p}` = {literal(r[p])}" for p in parts)
               for r in rows]
    return " OR ".join(f"({c})" for c in clauses)


def _rewrite(lake: Lake, folder: str, marked: DataFrame, parts: list[str], redact: dict[str, str] | None = None,
             arrays: dict | None = None) -> int:
    """Rewrite the rows flagged `_erase` (dropped) or `_redact` (values replaced); the number of rows touched."""
    flagged = marked.where("_erase OR _redact")
    touched = flagged.groupBy(*parts).count().collect() if parts else [{"count": flagged.count()}]
    n = sum(r["count"] for r in touched)
    if not n:
        return 0
    out = marked.where(~F.col("_erase"))
    for col, pattern in (redact or {}).items():
        out = out.withColumn(col, F.regexp_replace(F.col(col), pattern, REDACTED))
    for col, erased in (arrays or {}).items():
        out = out.withColumn(col, F.filter(col, _not_in(erased)))
    out = out.drop("_erase", "_redact")
    if parts:
        predicate = _partition_predicate(touched, parts)
        lake.rewrite_folder(out.where(predicate), folder, predicate)
    else:
        lake.rewrite_folder(out, folder)
    return n


def _not_in(erased):
    return lambda x: ~F.array_contains(erased, F.lower(x))


def _forget_model_names(lake: Lake, model_dir: str) -> int:
    """Take out of the identity match model's name frequencies every name no silver record holds any more
    (the names only the erased persons had); how many entries went."""
    model = model_file.load(model_dir, lake.spark)
    columns = list((model or {}).get(model_file.TERM_FREQUENCIES) or {})
    if not columns:
        return 0
    held: dict[str, set[str]] = {c: set() for c in columns}
    for table in (t for t in lake.table_names() if t.startswith("silver.")):
        df = lake.read(table)
        for column in (c for c in columns if c in df.columns):
            names = df.select(F.lower(F.trim(column)).alias("n")).where(F.col("n").isNotNull()).distinct()
            held[column] |= {r.n for r in names.collect()}
    forgotten, gone = model_file.forget_names(model, held)
    if gone:
        model_file.save(forgotten, model_dir, lake.spark)
    return gone


def _repoint_identity_runs(lake: Lake) -> None:
    """Every identity run now starts from the versions the erasure left (the older ones are vacuumed)."""
    if not lake.exists(IDENTITY_RUNS) or not lake.exists(MAP):
        return
    runs = lake.read(IDENTITY_RUNS)
    updated = runs.withColumn("map_version", F.lit(lake.version(MAP)).cast("bigint"))
    if lake.exists(LINKS):
        updated = updated.withColumn("links_version", F.lit(lake.version(LINKS)).cast("bigint"))
    lake.overwrite(updated.select(*runs.columns), IDENTITY_RUNS)


def _clear_checkpoints(lake: Lake) -> None:
    """Spark's (and Splink's) checkpoint folder: transient copies of records, deleted whole."""
    jvm = lake.spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(f"{lake.root}/_checkpoints")
    fs = path.getFileSystem(lake.spark.sparkContext._jsc.hadoopConfiguration())
    if fs.exists(path):
        for status in fs.listStatus(path):
            fs.delete(status.getPath(), True)


def _scrub_reports(reports: str, pattern: str | None) -> int:
    """Report files (Data Docs, dbt docs) quoting an erased value get `[erased]` in its place; how many changed."""
    root = Path(reports.removeprefix("file://"))
    if pattern is None or not root.is_dir():
        return 0
    regex = re.compile(pattern)
    changed = 0
    for path in root.rglob("*"):
        if not path.is_file() or path.suffix not in (".html", ".json", ".txt", ".csv", ".md"):
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        new = regex.sub(REDACTED, text)
        if new != text:
            path.write_text(new, encoding="utf-8", errors="surrogateescape")
            changed += 1
    return changed


def _rewrite_landing(landing: str, endpoint: str, pattern: str | None) -> int:
    """Write back every landing file holding an erased value without the lines holding one; how many changed."""
    if pattern is None:
        return 0
    regex = re.compile(pattern)
    changed = 0
    for spec in (*SOURCES, ERASURE_REQUESTS):
        for day in landing_area.list_days(landing, spec.name, endpoint):
            for file in landing_area.list_files(landing, spec.name, day, endpoint):
                text, zipped = _decode(landing_area.read_bytes(file, endpoint), file.uri)
                lines = text.splitlines(keepends=True)
                head = lines[:1] if spec.format == "csv" else []
                body = lines[len(head):]
                keep = [line for line in body if not regex.search(line)]
                if len(keep) == len(body):
                    continue
                data = "".join(head + keep).encode("utf-8")
                landing_area.write_bytes(file, gzip.compress(data, mtime=0) if zipped else data, endpoint)
                changed += 1
    return changed


def _suppress(lake: Lake, values_rows: list[tuple[str, str]], todo: Sequence[Request], key: bytes,
              day: dt.date) -> None:
    """Keyed hashes of the forgotten identifiers: ingest drops rows carrying them (jobs.common.suppression)."""
    kinds = {"email", "phone", "crm_id", "account_id", "loyalty_id", "cookie_id"}
    request = todo[0].request_id if len(todo) == 1 else f"{len(todo)} requests of {day}"
    rows = sorted({(kind, keyed_hash(value, key)) for kind, value in values_rows if kind in kinds})
    if rows:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        lake.append(lake.spark.createDataFrame([(k, h, request, now) for k, h in rows], SUPPRESSION_DDL), SUPPRESSION)

