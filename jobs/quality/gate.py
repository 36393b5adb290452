"""The bronze -> silver quality gate: Great Expectations suites over each landing day of a run.

Input: `bronze.<source>` rows with `_ds = day` (newest version of each landing file),
the suites in `expectations/<source>.json` (see `jobs.quality.suites`), and, for
cross-table checks, `bronze.products` (latest snapshot on or before the day),
`bronze.orders` (the same day) and, for the re-delivery check, `silver.<source>` on
other landing days.

Output:
- `ops.dq_results`: one row per expectation per (run_date, source); a rerun of a
  day replaces that day's rows of the sources it validates. A source the landing
  contract expects every day or every week (`delivery: daily | weekly`) also gets
  `expect_source_delivered`: did any file land for it that day, or in the 7 days to
  it (`ops.ingest_log`, or bronze rows)? Nothing arrived fails it, with the severity
  `quality.missing_source` gives the source (error by default): a missing till feed
  stops the run instead of making store customers look lapsed.
- Data Docs under `<reports_dir>/data_docs/`: GX's validation page per day and
  source, GX's page per suite, and an index over every day in `ops.dq_results`.
- a `GateResult`; `enforce(result)` raises `QualityGateError` when an
  error-severity expectation failed. Warn-severity failures never raise.

Each source is read once for the whole range: the days' rows with the references
joined by day, and the row counts of the 4 weeks before for the volume checks. Every
day still gets its own result, with its own parameters. Days of at most
`quality.driver_max_rows` rows are collected together and validated by GX's pandas engine
in the driver; a bigger day by GX's Spark engine, a Spark job per metric.
`landing.parallel_sources` sources are read at a time. The days collected together are
first validated as one batch on the expectations that do not depend on the day
(`_range_pass`, `quality.range_first`): one that holds on every row of the range holds on
each day, and its result for a day is carried into the day's; GX runs on the day only the
rest. Every validation in a process shares one ephemeral GX context. Each source-day runs
as the suite's GX Checkpoint: its validation definition (the suite on a whole-dataframe
batch, the day's parameters), then its action completing the result with the carried ones
and rendering the Data Docs page (`jobs.quality.gx_actions`); the checkpoint is reused
while the expectations it runs stay the same. An error-severity failure stops the
stage; in Airflow the task's failure then alerts (`jobs.common.alerts`), once, after its
retries, naming every failing expectation.
"""
from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import functools
import json
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType

from jobs.common import logs, redelivery
from jobs.common.bronze import IGNORED, INGEST_LOG_TABLE, bronze_table, latest_file_versions
from jobs.common.config import QualityConfig
from jobs.common.errors import C360Error, ConfigError
from jobs.common.lake import Lake
from jobs.common.landing_contract import DAY_COLUMN, SOURCES_BY_NAME
from jobs.common.runtime import Runtime
from jobs.common.stage import Days, StageError, StageReport
from jobs.quality.suites import (
    LANDED_ON_REFERENCE,
    REFERENCES,
    Suite,
    columns_of,
    load_suite,
    parameters_of,
    references_of,
)

if TYPE_CHECKING:
    import pandas as pd

DQ_RESULTS = "ops.dq_results"
DQ_RESULTS_DDL = (
    "run_date DATE, source STRING, suite STRING, expectation_type STRING, `column` STRING, severity STRING, "
    "success BOOLEAN, observed_value STRING, element_count BIGINT, unexpected_count BIGINT, "
    "unexpected_percent DOUBLE, mostly DOUBLE, details STRING, batch_id STRING, rows_validated BIGINT, "
    "validated_at TIMESTAMP"
)
# How much of a failing expectation's evidence is kept in `details` and shown in messages.
_SAMPLE = 20
DELIVERED = "expect_source_delivered"
# Days a delivery of each kind may take: a daily source's file is due every day, a weekly one's every 7.
WINDOW_DAYS = {"daily": 1, "weekly": 7}
# The volume check against the same weekday looks this many weeks back.
SAME_WEEKDAY_WEEKS = 4
MISSING_SEVERITIES = ("error", "warn", "off")


class QualityGateError(StageError):
    """Error-severity expectations failed: the day's bronze rows must not reach silver."""


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation of one source on one day, as recorded in `ops.dq_results`."""

    run_date: dt.date
    source: str
    expectation_type: str
    columns: tuple[str, ...]
    severity: str
    success: bool | None  # None: skipped (a run-time parameter or reference was unknown)
    observed_value: str
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    mostly: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """`expect_x(col, col2)` with its `mostly` if set: how messages and pages name it."""
        text = f"{self.expectation_type}({', '.join(self.columns)})"
        return f"{text} mostly={self.mostly:.3g}" if self.mostly is not None else text

    def describe(self) -> str:
        return f"{self.label}: {self.observed_value}"


@dataclass(frozen=True)
class SourceSummary:
    """How one source fared on one day."""

    run_date: dt.date
    source: str
    rows: int
    evaluated: int = 0
    errors_failed: int = 0
    warnings_failed: int = 0
    skipped: int = 0
    batch_ids: tuple[str, ...] = ()
    page: str | None = None  # its Data Docs page
    missing: bool = False  # expected every day, and no file arrived
    from_range: int = 0  # expectations judged on the batch of the range's days (see `_range_pass`)

    @property
    def status(self) -> str:
        if self.missing:
            return "missing"
        if self.rows == 0:
            return "no data"
        return "failed" if self.errors_failed else "passed"


@dataclass(frozen=True)
class GateResult(StageReport):
    """The gate's verdict on a day (or a range of days)."""

    first_day: dt.date
    last_day: dt.date
    summaries: tuple[SourceSummary, ...]
    outcomes: tuple[ExpectationOutcome, ...]
    docs_index: str | None = None

    @property
    def failures(self) -> tuple[ExpectationOutcome, ...]:
        """Failed expectations of severity error: these stop the run."""
        return tuple(o for o in self.outcomes if o.severity == "error" and o.success is False)

    @property
    def warnings(self) -> tuple[ExpectationOutcome, ...]:
        """Failed expectations of severity warn: recorded, never blocking."""
        return tuple(o for o in self.outcomes if o.severity == "warn" and o.success is False)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def sources(self) -> dict[str, SourceSummary]:
        """Summary per source of the last day."""
        return {s.source: s for s in self.summaries if s.run_date == self.last_day}

    def summary(self, source: str, day: str | dt.date | None = None) -> SourceSummary:
        """The summary of `source` on `day` (default: the last day)."""
        wanted = self.last_day if day is None else _as_date(day)
        for s in self.summaries:
            if s.source == source and s.run_date == wanted:
                return s
        raise KeyError(f"no summary for {source} on {wanted.isoformat()}")

    def as_dict(self) -> dict[str, Any]:
        """The verdict in brief: status per source and day, the failing expectations, the Data Docs index."""
        return {
            "days": str(Days(self.first_day, self.last_day)),
            "passed": self.passed,
            "sources": {f"{s.run_date} {s.source}" if self.first_day != self.last_day else s.source: s.status
                        for s in self.summaries},
            "errors": [f"{o.source}: {o.label}" for o in self.failures],
            "warnings": [f"{o.source}: {o.label}" for o in self.warnings],
            "data_docs": self.docs_index,
        }


def run(rt: Runtime, days: Days, *, sources: Sequence[str] | None = None) -> GateResult:
    """Validate the bronze rows of `days`, record the results, and stop on an error-severity failure.

    Raises:
        QualityGateError: naming every failing source and expectation; carries the verdict.
    """
    result = validate(rt, days, sources=sources)
    enforce(result)
    return result


def validate(
    rt: Runtime,
    days: Days,
    sources: Sequence[str] | None = None,
    suites_dir: Path | None = None,
) -> GateResult:
    """Validate the bronze rows of each landing day of `days`, record and render the results.

    Args:
        rt: the runtime; `ops.dq_results` is written to its lake, Data Docs to `data_docs/` of
            its reports folder (`config.lake.reports`).
        days: the landing days (`_ds`); each day is validated on its own.
        sources: landing sources to validate; default all. A source without bronze rows on a day is
            summarised with status "no data".
        suites_dir: folder of the suites; default `expectations/` of the checkout.

    Returns:
        The verdict; `enforce` turns error-severity failures into an error.

    Raises:
        ConfigError: a suite file is missing or malformed.
        C360Error: an unknown source name.
    """
    from jobs.quality import docs

    spark, lake = rt.spark, rt.lake
    first, last = days.first, days.last
    names = _source_names(sources)
    suites = {name: load_suite(name, suites_dir) for name in names}
    validated_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    folder = docs.docs_dir(rt.config.lake.reports)

    summaries: list[SourceSummary] = []
    outcomes: list[ExpectationOutcome] = []
    rows: list[tuple] = []
    severities = missing_severities(rt.config.quality.missing_source_default, rt.config.quality.missing_source)
    arrived = _arrived_files(lake, first - dt.timedelta(days=max(WINDOW_DAYS.values()) - 1), last)
    inputs = _RangeInputs(lake, days, rt.config.landing.redelivery_lookback_days)
    # GX validates in a thread of its own: while it works through one source's days (Python), the readers
    # wait on Spark reading the next sources (the JVM), so the two overlap. Several sources are read at
    # once: a small day's read is mostly the driver planning and scheduling a few short jobs, and
    # `landing.parallel_sources` of them overlap on the executors.
    def read(name: str) -> list[tuple[dt.date, int, Future]]:
        with logs.step("quality_gate", f"{name}: read {len(days)} day(s)") as step:
            found = _gate_source(suites[name], inputs, validated_at, rt.config.quality, gx_thread)
            step.rows = sum(count for _, count, _ in found)
        return found

    with (ThreadPoolExecutor(1, thread_name_prefix="gx") as gx_thread,
          ThreadPoolExecutor(rt.config.landing.parallel_sources, thread_name_prefix="gate") as readers):
        checked = dict(zip(names, readers.map(read, names), strict=True))
        with logs.step("quality_gate", "validate (Great Expectations)") as step:
            done = {name: [(day, future.result()) for day, _, future in found] for name, found in checked.items()}
            step.rows = sum(1 for found in done.values() for _, (_, _, page) in found if page is not None)
            judged = sum(s.from_range for found in done.values() for _, (s, _, _) in found)
            step.note = f"source-days validated ({judged:,} results judged on their range's batch)"
    for name in names:
        for run_date, (summary, found, page_html) in done[name]:
            if page_html is not None:
                summary = dataclasses.replace(summary, page=docs.write_validation_page(spark, folder, run_date, name,
                                                                                       page_html))
                rows += [_dq_row(o, ",".join(summary.batch_ids), summary.rows, validated_at) for o in found]
            delivery = SOURCES_BY_NAME[name].delivery
            window = [run_date - dt.timedelta(days=k) for k in range(WINDOW_DAYS.get(delivery, 1))]
            delivered = delivery_outcome(name, run_date, summary.rows, sum(arrived.get((name, d), 0) for d in window),
                                         severities.get(name, "off"), delivery)
            if delivered is not None:
                found = [delivered, *found]
                rows.append(_dq_row(delivered, ",".join(summary.batch_ids), summary.rows, validated_at))
                if delivered.success is False:
                    failed = "errors_failed" if delivered.severity == "error" else "warnings_failed"
                    summary = dataclasses.replace(summary, missing=True, evaluated=summary.evaluated + 1,
                                                  **{failed: getattr(summary, failed) + 1})
            summaries.append(summary)
            outcomes += found
    # Day by day, each day's sources in the registry's order.
    position = {name: i for i, name in enumerate(names)}
    summaries.sort(key=lambda s: (s.run_date, position[s.source]))
    outcomes.sort(key=lambda o: (o.run_date, position[o.source]))
    for name in names:
        docs.write_suite_page(spark, folder, _gx().suite(suites[name]))
    docs.write_vendor_assets(spark, folder)

    _record(spark, lake, first, last, names, rows)
    index = docs.write_index(spark, lake.read(DQ_RESULTS), folder)
    return GateResult(first, last, tuple(summaries), tuple(outcomes), index)


def missing_severities(default: str, per_source: Mapping[str, str]) -> dict[str, str]:
    """The severity of "nothing arrived" for every source the contract expects every day or every week.

    Raises:
        ConfigError: a severity that is not error, warn or off, or a source the contract does not know.
    """
    for where, value in (("quality.missing_source_default", default),
                         *((f"quality.missing_source.{k}", v) for k, v in per_source.items())):
        if value not in MISSING_SEVERITIES:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(MISSING_SEVERITIES)}")
    unknown = sorted(set(per_source) - set(SOURCES_BY_NAME))
    if unknown:
        raise ConfigError(f"quality.missing_source.{unknown[0]}: no such landing source; sources: "
                          f"{', '.join(SOURCES_BY_NAME)}")
    return {name: per_source.get(name, default) for name, s in SOURCES_BY_NAME.items()
            if s.delivery in WINDOW_DAYS}


def delivery_outcome(source: str, day: dt.date, rows: int, files: int, severity: str,
                     delivery: str = "daily") -> ExpectationOutcome | None:
    """`expect_source_delivered` for one source and day: passed when a file landed in the source's window
    (the day; the 7 days to it for a weekly source), even a header-only CSV (a valid export of a quiet day),
    or bronze holds rows of the day; None when the check is off for the source."""
    if severity == "off":
        return None
    success = files > 0 or rows > 0
    window = "on" if WINDOW_DAYS[delivery] == 1 else f"in the {WINDOW_DAYS[delivery]} days to"
    expects = "one every day" if delivery == "daily" else f"one in any {WINDOW_DAYS[delivery]} days"
    observed = (f"{files} file(s) landed, {rows:,} rows" if success else
                f"no file landed for {source} {window} {day.isoformat()} (the landing contract expects {expects})")
    return ExpectationOutcome(day, source, DELIVERED, (), severity, success, observed, element_count=files,
                              unexpected_count=0 if success else 1,
                              details={"files": files, "rows": rows, "expected": delivery})


def _arrived_files(lake: Lake, first: dt.date, last: dt.date) -> dict[tuple[str, dt.date], int]:
    """Files ops.ingest_log saw per (source, landing day) in the range; empty before any ingest."""
    if not lake.exists(INGEST_LOG_TABLE):
        return {}
    # A file ingest ignored (not of the source's format) is no delivery.
    seen = (lake.read(INGEST_LOG_TABLE).where(F.col("ds").between(F.lit(first), F.lit(last))
                                              & (F.col("outcome") != IGNORED))
            .groupBy("source", "ds").agg(F.countDistinct("path").alias("files")).collect())
    return {(r["source"], r["ds"]): r["files"] for r in seen}


def enforce(result: GateResult) -> None:
    """Stop the run when error-severity expectations failed; warnings never raise.

    Raises:
        QualityGateError: one message naming every failing source and its failing expectations.
    """
    if result.passed:
        return
    grouped: dict[tuple[dt.date, str], list[ExpectationOutcome]] = {}
    for outcome in result.failures:
        grouped.setdefault((outcome.run_date, outcome.source), []).append(outcome)
    several_days = result.first_day != result.last_day
    parts = [
        (f"{day.isoformat()} " if several_days else "") + f"{source}: " + "; ".join(o.describe() for o in found)
        for (day, source), found in grouped.items()
    ]
    days = result.first_day.isoformat() + (f"..{result.last_day.isoformat()}" if several_days else "")
    failing = ", ".join(dict.fromkeys(source for _, source in grouped))
    where = f"; details in {DQ_RESULTS}" + (f" and {result.docs_index}" if result.docs_index else "")
    raise QualityGateError(
        f"quality gate failed for {days} in {failing}: "
        + " | ".join(parts)
        + where
        + "; fix the landing files and re-ingest the day, or change the rule in expectations/<source>.json if it is wrong"
        + ("; a source expected every day sent nothing: land its file (a header-only CSV for a quiet day) and "
           "ingest the day, or set quality.missing_source.<source> to warn or off"
           if any(o.expectation_type == DELIVERED for o in result.failures) else ""),
        result,
    )


# -- one source ----------------------------------------------------------------


def _gate_source(
    suite: Suite, inputs: _RangeInputs, validated_at: dt.datetime, quality: QualityConfig, gx_thread: Executor,
) -> list[tuple[dt.date, int, Future]]:
    """Validate one source on each day of the range: per day, its bronze rows and a future of the summary, the
    outcomes and GX's Data Docs page (None when the day has no bronze rows).

    The range is read once: the days' rows, with the references joined by day, and the row counts of the
    weeks before for the volume checks. Days of at most `quality.driver_max_rows` rows are collected together
    (up to that many rows at a time) and each validated by GX's pandas engine in the driver; a bigger day by
    GX's Spark engine where it lies. With `quality.range_first`, the days collected together are first
    validated as one batch (`_range_pass`).
    """
    days = list(inputs.days)

    def nothing(day: dt.date) -> tuple[dt.date, int, Future]:
        return day, 0, _done((SourceSummary(day, suite.name, 0), [], None))

    table = bronze_table(suite.name)
    if not inputs.lake.exists(table):
        return [nothing(day) for day in days]
    context_first = inputs.days.first - dt.timedelta(days=7 * SAME_WEEKDAY_WEEKS)
    bronze = inputs.lake.read(table)
    stats = _day_stats(bronze.where(F.col(DAY_COLUMN).between(F.lit(context_first), F.lit(inputs.days.last))))
    landed = [day for day in days if stats.get(day, (0, ()))[0]]
    if not landed:
        return [nothing(day) for day in days]

    # Every version of a file lies on its landing day: the newest versions of the landed days' rows.
    data = latest_file_versions(bronze.where(F.col(DAY_COLUMN).isin(*landed)))
    references = suite.references() - {LANDED_ON_REFERENCE}
    unknown_on: dict[dt.date, set[str]] = {day: set() for day in days}
    for column in sorted(references):
        keys, known_days = inputs.reference(column)
        for day in days:
            if day not in known_days:
                unknown_on[day].add(column)
        if keys is not None:
            # Left join on the day's distinct keys: one row out per row in, null where the key has no match.
            key = REFERENCES[column][0]
            data = (data.join(F.broadcast(keys), (F.col(key) == F.col(column)) & (F.col(DAY_COLUMN) == F.col(_REF_DAY)),
                              "left").drop(_REF_DAY))
    if LANDED_ON_REFERENCE in suite.references():
        data = inputs.with_landed_on(data, suite.name)
    tasks = {day: _DayTask(suite, day, stats[day][0], stats[day][1], _parameters(day, stats[day][0], stats),
                           frozenset(unknown_on[day]), validated_at) for day in landed}
    data = data.persist()
    try:
        frames: dict[dt.date, pd.DataFrame] = {}
        prepass: dict[dt.date, Future] = {}
        for chunk, parts in _collected(data, landed, stats, quality.driver_max_rows):
            frames.update(parts)
            if quality.range_first and len(parts) > 1:
                judged = gx_thread.submit(_range_pass, suite, [tasks[day] for day in parts], chunk)
                prepass.update(dict.fromkeys(parts, judged))
        checked = []
        for day in days:
            if day not in tasks:
                checked.append(nothing(day))
                continue
            task = tasks[day]
            frame = frames.get(day)
            if frame is None:  # a Spark day is validated before its cached rows are released
                spark_day = data.where(F.col(DAY_COLUMN) == F.lit(day))
                checked.append((day, task.count, _done(gx_thread.submit(_validate_day, task, spark_day).result())))
            else:
                checked.append((day, task.count, gx_thread.submit(_validate_day, task, frame, prepass.get(day))))
    finally:
        data.unpersist()
    return checked


def _day_stats(bronze: DataFrame) -> dict[dt.date, tuple[int, tuple[str, ...]]]:
    """Per landing day, the rows of the newest version of each file and their batch ids: one aggregation over
    four columns (the rows per file version), the newest versions picked in the driver."""
    versions = (bronze.groupBy(DAY_COLUMN, "_source_file", "_file_version", "_batch_id")
                .agg(F.count(F.lit(1)).alias("rows")).collect())
    newest: dict[str, int] = {}
    for r in versions:
        newest[r["_source_file"]] = max(newest.get(r["_source_file"], r["_file_version"]), r["_file_version"])
    rows: dict[dt.date, int] = {}
    batches: dict[dt.date, set[str]] = {}
    for r in versions:
        if r["_file_version"] == newest[r["_source_file"]]:
            rows[r[DAY_COLUMN]] = rows.get(r[DAY_COLUMN], 0) + r["rows"]
            batches.setdefault(r[DAY_COLUMN], set()).update([r["_batch_id"]] if r["_batch_id"] else [])
    return {day: (count, tuple(sorted(batches[day]))) for day, count in rows.items()}


def _parameters(day: dt.date, count: int, stats: Mapping[dt.date, tuple[int, tuple[str, ...]]]) -> dict[str, Any]:
    """The suite parameters of a day (`jobs.quality.suites`); None where unknown."""
    previous = day - dt.timedelta(days=1)
    weeks = [day - dt.timedelta(days=7 * k) for k in range(1, SAME_WEEKDAY_WEEKS + 1)]
    return {
        "run_date": dt.datetime.combine(day, dt.time()),
        "rows": count,
        # Unknown (and the volume check skipped) when the day before has no rows, e.g. the first day.
        "previous_day_rows": stats.get(previous, (0, ()))[0] or None,
        # The median of the same weekday's rows over the weeks before (those with rows); unknown without any.
        "same_weekday_rows": _median(sorted(stats[w][0] for w in weeks if stats.get(w, (0, ()))[0])),
    }


@dataclass(frozen=True)
class _DayTask:
    """What validating one source on one day needs besides its rows."""

    suite: Suite
    day: dt.date
    count: int
    batch_ids: tuple[str, ...]
    parameters: dict[str, Any]
    unknown_references: frozenset[str]
    validated_at: dt.datetime


def _validate_day(task: _DayTask, batch: DataFrame | pd.DataFrame, prepass: Future | None = None,
                  ) -> tuple[SourceSummary, list[ExpectationOutcome], str]:
    """Run the suite on one day's rows (pandas or Spark) with the day's parameters; the outcomes and GX's page.

    `prepass`: a future of the results `_range_pass` judged on the batch of the range's days; those expectations
    are not run again on the day, their results for the day are carried into its validation result instead."""
    suite, day = task.suite, task.day
    values = {p: task.parameters[p] for p in suite.parameters()}
    unknown = {k for k, v in values.items() if v is None} | task.unknown_references
    known = {p: v for p, v in values.items() if v is not None}
    judged = prepass.result() if prepass is not None else {}
    runnable = [i for i, e in enumerate(suite.expectations) if not _needs(e) & unknown]
    carried = {i: _day_result(judged[i], task.count) for i in runnable if i in judged}
    run = [i for i in runnable if i not in judged]
    gx_result, page, _ = _gx().validate(suite, run, batch, known, day, task.validated_at, carried=carried)
    results = gx_result.results
    found = [_outcome(day, suite.name, r) for r in results]
    found += [_skipped(day, suite.name, e, _needs(e) & unknown) for i, e in enumerate(suite.expectations)
              if i not in runnable]
    summary = SourceSummary(
        run_date=day,
        source=suite.name,
        rows=task.count,
        evaluated=len(results),
        errors_failed=sum(1 for o in found if o.severity == "error" and o.success is False),
        warnings_failed=sum(1 for o in found if o.severity == "warn" and o.success is False),
        skipped=len(found) - len(results),
        batch_ids=task.batch_ids,
        from_range=len(carried),
    )
    return summary, found, page


# Expectations whose result depends only on the batch's columns, not its rows: the same on every day of a range.
_SCHEMA_EXPECTATIONS = frozenset({"expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list",
                                  "expect_table_column_count_to_equal", "expect_column_to_exist"})
# Map expectations judging each row on its own (or among the batch's rows, as uniqueness): a value unexpected on a
# day is unexpected in any range holding the day. Not so e.g. z-scores, judged against the whole batch.
_ROW_EXPECTATIONS = frozenset({
    "expect_column_values_to_not_be_null", "expect_column_values_to_be_null", "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex",
    "expect_column_values_to_match_regex_list", "expect_column_values_to_not_match_regex_list",
    "expect_column_value_lengths_to_be_between", "expect_column_value_lengths_to_equal",
    "expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique",
    "expect_select_column_values_to_be_unique_within_record", "expect_column_pair_values_to_be_equal",
    "expect_column_pair_values_a_to_be_greater_than_b", "expect_column_pair_values_to_be_in_set",
})
# What a map expectation's BASIC result holds; a result with any other key is not carried to a day.
_MAP_RESULT_KEYS = frozenset({"element_count", "unexpected_count", "unexpected_percent", "partial_unexpected_list",
                              "missing_count", "missing_percent", "unexpected_percent_total",
                              "unexpected_percent_nonmissing"})


def _range_pass(suite: Suite, tasks: Sequence[_DayTask], frame: pd.DataFrame) -> dict[int, Any]:
    """Validate the day-independent expectations of `suite` once on the rows of several days (one pandas batch);
    the results that hold for each of the days, by the expectation's place in the suite.

    Day-independent: no run-time parameter, no reference unknown on any of the days, and either a map expectation
    judging each row (`_ROW_EXPECTATIONS`) or one about the batch's columns only (`_SCHEMA_EXPECTATIONS`).
    A map expectation with no unexpected and no missing value in the range has none on any of its days: its
    result on a day is the same with the day's row count (`_day_result`). One with an unexpected or a missing
    value, or an error, is left out and run on each day as usual, so a day's record is the one GX would give it.
    """
    unknown = set().union(*(t.unknown_references for t in tasks))
    chosen = [i for i, e in enumerate(suite.expectations) if e["type"] in _ROW_EXPECTATIONS | _SCHEMA_EXPECTATIONS
              and not parameters_of(e) and not references_of(e) & unknown]
    if not chosen:
        return {}
    result, _, position = _gx().validate(suite, chosen, frame, {}, tasks[0].day, tasks[0].validated_at,
                                         range_batch=True)
    judged = {}
    for r in result.results:
        res = r.result or {}
        if (r.exception_info or {}).get("raised_exception"):
            continue
        if r.expectation_config.type in _SCHEMA_EXPECTATIONS or (
                r.success and res.get("unexpected_count") == 0 and not res.get("missing_count")
                and set(res) <= _MAP_RESULT_KEYS):
            judged[position[r.expectation_config.id]] = r
    return judged


def _day_result(judged: Any, rows: int) -> Any:
    """A day's result of an expectation `_range_pass` judged: a schema expectation's as it is; a map expectation's
    with the day's row count, nothing unexpected and nothing missing (as GX reports such a batch)."""
    from great_expectations.core import ExpectationValidationResult

    res = copy.deepcopy(judged.result)
    if judged.expectation_config.type not in _SCHEMA_EXPECTATIONS:
        zero = {"element_count": rows, "unexpected_count": 0, "missing_count": 0, "partial_unexpected_list": []}
        res = {key: zero.get(key, 0.0) for key in res}
    return ExpectationValidationResult(success=judged.success, expectation_config=copy.deepcopy(judged.expectation_config),
                                       result=res, exception_info=copy.deepcopy(judged.exception_info),
                                       meta=copy.deepcopy(judged.meta))


def _done(value: Any) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def _collected(data: DataFrame, days: Sequence[dt.date], stats: Mapping[dt.date, tuple[int, tuple[str, ...]]],
               driver_max_rows: int) -> list[tuple[pd.DataFrame, dict[dt.date, pd.DataFrame]]]:
    """The rows of the days small enough for the driver, as pandas: consecutive days collected together, at
    most `driver_max_rows` rows at a time (GX runs dozens of metrics over a batch: in the driver they cost no
    Spark job each); per chunk, its rows and each day's."""
    chunks: list[list[dt.date]] = []
    size = 0
    for day in (d for d in days if stats[d][0] <= driver_max_rows):
        if not chunks or size + stats[day][0] > driver_max_rows:
            chunks.append([])
            size = 0
        chunks[-1].append(day)
        size += stats[day][0]
    collected = []
    for chunk in chunks:
        frame = _in_driver(data.where(F.col(DAY_COLUMN).isin(*chunk)))
        parts = {day: part.reset_index(drop=True) for day, part in frame.groupby(frame[DAY_COLUMN].dt.date, sort=False)}
        collected.append((frame, parts))
    return collected


def _in_driver(data: DataFrame) -> pd.DataFrame:
    """The rows as pandas, dates as midnight timestamps: compared with a timestamp parameter (`run_date`)
    as Spark compares them, where Python refuses to compare a date with a datetime."""
    import pandas as pd

    frame = data.toPandas()
    for column in (f.name for f in data.schema.fields if isinstance(f.dataType, DateType)):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def _needs(expectation: dict[str, Any]) -> set[str]:
    return parameters_of(expectation) | references_of(expectation)


def _outcome(run_date: dt.date, source: str, result: Any) -> ExpectationOutcome:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    res = dict(result.result or {})
    info = result.exception_info or {}
    raised = bool(info.get("raised_exception"))
    details: dict[str, Any] = {"kwargs": _shortened(kwargs)}
    if config.notes:
        details["notes"] = config.notes
    for key in ("partial_unexpected_list", "partial_unexpected_counts", "missing_count", "details"):
        if res.get(key):
            details[key] = res[key][:_SAMPLE] if isinstance(res[key], list) else res[key]
    if raised:
        details["exception"] = info.get("exception_message")
    unexpected = res.get("unexpected_count")
    if raised:
        observed = f"could not be evaluated: {info.get('exception_message')}"
    elif "observed_value" in res:
        value = res["observed_value"]
        observed = value if isinstance(value, str) else json.dumps(value, default=str)
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        if low is not None or high is not None:
            observed += f" (expected {'-inf' if low is None else low} to {'inf' if high is None else high})"
    elif unexpected is not None:
        observed = f"{unexpected} of {res.get('element_count')} rows unexpected ({res.get('unexpected_percent') or 0:.2f}%)"
        sample = res.get("partial_unexpected_list") or []
        if unexpected and sample:
            values = [v if isinstance(v, str) else json.dumps(v, default=str) for v in sample]
            shown = ", ".join(list(dict.fromkeys(values))[:5])
            observed += f", e.g. {shown}"
    else:
        observed = "success" if result.success else "failed"
    return ExpectationOutcome(
        run_date=run_date,
        source=source,
        expectation_type=config.type,
        columns=columns_of({"kwargs": kwargs}),
        severity=(config.meta or {}).get("severity", "error"),
        success=bool(result.success),
        observed_value=observed,
        element_count=res.get("element_count"),
        unexpected_count=unexpected,
        unexpected_percent=res.get("unexpected_percent"),
        mostly=kwargs.get("mostly"),
        details=details,
    )


def _median(values: list[int]) -> float | None:
    if not values:
        return None
    mid = len(values) // 2
    return float(values[mid]) if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _skipped(run_date: dt.date, source: str, expectation: dict[str, Any], missing: set[str]) -> ExpectationOutcome:
    reason = "skipped: no value for " + ", ".join(sorted(missing))
    if "previous_day_rows" in missing:
        reason += " (no bronze rows on the previous day)"
    elif "same_weekday_rows" in missing:
        reason += f" (no bronze rows on the same weekday in the {SAME_WEEKDAY_WEEKS} weeks before)"
    elif "_ref_catalog_sku" in missing:
        reason += " (no products snapshot in bronze on or before the day)"
    kwargs = expectation["kwargs"]
    mostly = kwargs.get("mostly")
    return ExpectationOutcome(
        run_date=run_date,
        source=source,
        expectation_type=expectation["type"],
        columns=columns_of(expectation),
        severity=expectation["meta"]["severity"],
        success=None,
        observed_value=reason,
        mostly=mostly if isinstance(mostly, int | float) else None,
        details={"kwargs": kwargs, "skipped": reason, **({"notes": expectation["notes"]} if expectation.get("notes") else {})},
    )


def _shortened(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Kwargs for the record: long value sets (a whole catalog) cut to a sample and a count."""
    out = dict(kwargs)
    values = out.get("value_set")
    if isinstance(values, list) and len(values) > _SAMPLE:
        out["value_set"] = {"size": len(values), "sample": values[:_SAMPLE]}
    return out


def _dq_row(o: ExpectationOutcome, batch_id: str, rows: int, validated_at: dt.datetime) -> tuple:
    return (
        o.run_date, o.source, o.source, o.expectation_type, ", ".join(o.columns) or None, o.severity, o.success,
        o.observed_value, o.element_count, o.unexpected_count,
        None if o.unexpected_percent is None else float(o.unexpected_percent),
        None if o.mostly is None else float(o.mostly),
        json.dumps(o.details, default=str, sort_keys=True), batch_id, rows, validated_at,
    )


def _record(spark: SparkSession, lake: Lake, first: dt.date, last: dt.date, names: Sequence[str], rows: list[tuple]) -> None:
    """Replace the days' rows of the validated sources in ops.dq_results, in one commit (a rerun never duplicates)."""
    df = spark.createDataFrame(rows, DQ_RESULTS_DDL)
    in_list = ", ".join(f"'{n}'" for n in names)
    predicate = f"run_date BETWEEN DATE'{first.isoformat()}' AND DATE'{last.isoformat()}' AND source IN ({in_list})"
    lake.replace_where(df, DQ_RESULTS, predicate, metadata=f"quality gate {first.isoformat()}..{last.isoformat()}")


# -- run-time inputs -------------------------------------------------------------

# The landing day a reference key belongs to, while it is joined.
_REF_DAY = "_ref_day"


class _RangeInputs:
    """The lake and the reference keys of a range of landing days, each computed once for all sources."""

    def __init__(self, lake: Lake, days: Days, lookback_days: int):
        self.lake = lake
        self.days = days
        self.lookback_days = lookback_days
        self._references: dict[str, tuple[DataFrame | None, set[dt.date]]] = {}
        # Sources are read in threads: the first to need a reference computes it, the others wait for it.
        self._computing = threading.Lock()

    def with_landed_on(self, rows: DataFrame, source: str) -> DataFrame:
        """The range's rows with `_ref_landed_on`: the landing day that already holds the row's key (silver
        on other days, or an earlier day of the range), null for a first delivery."""
        table = f"silver.{source}"
        silver = self.lake.read(table) if self.lake.exists(table) else None
        found = redelivery.redelivered_rows(rows, SOURCES_BY_NAME[source], self.days.first, self.days.last, silver,
                                            self.lookback_days).localCheckpoint()
        if found.isEmpty():  # the common case: no join
            return rows.withColumn(LANDED_ON_REFERENCE, F.lit(None).cast("date"))
        return rows.join(found.withColumnRenamed(redelivery.LANDED_ON, LANDED_ON_REFERENCE),
                         list(redelivery.ROW_ID), "left")

    def reference(self, column: str) -> tuple[DataFrame | None, set[dt.date]]:
        """The keys a reference column is matched against on each day (`_ref_day` and the key, named like the
        reference column), and the days on which they are known."""
        with self._computing:
            if column not in self._references:  # several sources join the same keys: computed once
                self._references[column] = self._reference(column)
            return self._references[column]

    def _reference(self, column: str) -> tuple[DataFrame | None, set[dt.date]]:
        key, source = REFERENCES[column]
        table = bronze_table(source)
        days = list(self.days)
        spark = self.lake.spark
        if source == "products":
            if not self.lake.exists(table):
                return None, set()
            # The catalog is a full daily snapshot: the latest one on or before each day is the truth.
            bronze = self.lake.read(table)
            snapshots = sorted(r[0] for r in bronze.where(F.col(DAY_COLUMN) <= F.lit(self.days.last))
                               .select(DAY_COLUMN).distinct().collect())
            taken = {day: max((s for s in snapshots if s <= day), default=None) for day in days}
            taken = {day: snapshot for day, snapshot in taken.items() if snapshot is not None}
            if not taken:
                return None, set()
            pairs = spark.createDataFrame([(d, s) for d, s in taken.items()], f"{_REF_DAY} DATE, _snapshot DATE")
            snapshot_keys = (latest_file_versions(bronze.where(F.col(DAY_COLUMN).isin(*set(taken.values()))))
                             .select(F.col(DAY_COLUMN).alias("_snapshot"), F.col(key).alias(column)).distinct())
            keys = pairs.join(snapshot_keys, "_snapshot").select(_REF_DAY, column)
            return keys.localCheckpoint(), set(taken)
        if not self.lake.exists(table):
            # Nothing of the source landed: no key matches.
            return spark.createDataFrame([], f"{_REF_DAY} DATE, `{column}` STRING"), set(days)
        rows = latest_file_versions(self.lake.read(table).where(
            F.col(DAY_COLUMN).between(F.lit(self.days.first), F.lit(self.days.last))))
        keys = rows.select(F.col(DAY_COLUMN).alias(_REF_DAY), F.col(key).alias(column)).distinct()
        return keys.localCheckpoint(), set(days)


# -- Great Expectations ------------------------------------------------------------

# The name of a suite's checkpoint on a batch of several days (`_range_pass`).
_RANGE_SUFFIX = "__range"


class _GxRunner:
    """The process's one ephemeral GX context; a Spark and a pandas data source, one asset per source in each,
    and per suite a Checkpoint: its validation definition, and the action rendering the Data Docs page."""

    def __init__(self) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self._gx = gx
        self.context = gx.get_context(mode="ephemeral")
        # Progress bars would interleave with job logs.
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.datasources = {"spark": self.context.data_sources.add_spark("bronze"),
                            "pandas": self.context.data_sources.add_pandas("bronze_in_driver")}
        self._batches: dict[tuple[str, str], Any] = {}
        self._checkpoints: dict[str, tuple[tuple[str, str], Any]] = {}

    def suite(self, suite: Suite) -> Any:
        """The whole suite as a GX object, for its Data Docs page."""
        return self._gx.ExpectationSuite(**suite.gx_docs_dict())

    def validate(
        self,
        suite: Suite,
        positions: Sequence[int],
        df: DataFrame | pd.DataFrame,
        parameters: dict[str, Any],
        run_date: dt.date,
        run_time: dt.datetime,
        *,
        carried: Mapping[int, Any] | None = None,
        range_batch: bool = False,
    ) -> tuple[Any, str | None, dict[str, int]]:
        """Run the expectations of `suite` at `positions` on `df`, a Spark or a pandas DataFrame (one whole-dataframe
        batch), as the suite's Checkpoint; returns the validation result (its results in the suite's order), GX's
        Data Docs page of it, and the place in the suite of each result's expectation, by the expectation's id.

        `carried`: results of other expectations of the day by their place in the suite, added to its validation
        result and page. `range_batch`: the batch holds several days (`_range_pass`): a checkpoint of its own,
        without a page."""
        import pandas as pd
        from great_expectations.core.run_identifier import RunIdentifier

        from jobs.quality.gx_actions import DataDocsPageAction

        gx = self._gx
        engine = "pandas" if isinstance(df, pd.DataFrame) else "spark"
        if (engine, suite.name) not in self._batches:
            asset = self.datasources[engine].add_dataframe_asset(suite.name)
            self._batches[engine, suite.name] = asset.add_batch_definition_whole_dataframe("landing_day")
        # GX keeps one suite per name: the suite's definition and checkpoint are made again only when the engine or
        # the runnable expectations change (most days run the same ones).
        name = f"{suite.name}{_RANGE_SUFFIX}" if range_batch else suite.name
        spec = {**suite.gx_dict(tuple(suite.expectations[i] for i in positions)), "name": name}
        key = (engine, json.dumps(spec, sort_keys=True, default=str))
        if self._checkpoints.get(name, (None, None))[0] != key:
            definition = self.context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=name, data=self._batches[engine, suite.name],
                                        suite=gx.ExpectationSuite(**spec))
            )
            # BASIC: a SUMMARY would ask every map expectation for its unexpected rows' index list and query too,
            # which nothing here reads; the action adds SUMMARY's counts of the sampled values.
            checkpoint = self.context.checkpoints.add_or_update(gx.Checkpoint(
                name=name, validation_definitions=[definition],
                actions=[] if range_batch else [DataDocsPageAction(name="data_docs_page")], result_format="BASIC"))
            self._checkpoints[name] = (key, checkpoint)
        checkpoint = self._checkpoints[name][1]
        gx_suite = checkpoint.validation_definitions[0].suite
        order = {e.id: i for e, i in zip(gx_suite.expectations, positions, strict=True)}
        if not range_batch:
            carried = carried or {}
            order |= {r.expectation_config.id: i for i, r in carried.items()}
            checkpoint.actions[0].carry(carried.values(), order)
        ran = checkpoint.run(
            batch_parameters={"dataframe": df},
            expectation_parameters=parameters,
            run_id=RunIdentifier(run_name=run_date.isoformat(), run_time=run_time.replace(tzinfo=dt.UTC)),
        )
        (result,) = ran.run_results.values()
        page = None if range_batch else checkpoint.actions[0].pages[0]
        return result, page, order


@functools.cache
def _gx() -> _GxRunner:
    return _GxRunner()


# -- small helpers ---------------------------------------------------------------------


def _as_date(day: str | dt.date) -> dt.date:
    if isinstance(day, dt.datetime):
        return day.date()
    if isinstance(day, dt.date):
        return day
    try:
        return dt.date.fromisoformat(day)
    except ValueError:
        raise C360Error(f"bad day '{day}': use YYYY-MM-DD") from None


def _source_names(sources: Iterable[str] | None) -> list[str]:
    if sources is None:
        return list(SOURCES_BY_NAME)
    names = list(dict.fromkeys(sources))
    unknown = [n for n in names if n not in SOURCES_BY_NAME]
    if unknown:
        raise C360Error(
            f"unknown source(s) {', '.join(unknown)} for the quality gate; known sources: {', '.join(SOURCES_BY_NAME)}"
        )
    return names
