"""The bronze -> silver quality gate: suites, verdicts, ops.dq_results and Data Docs (GX on Spark).

Great Expectations' first validation in a process takes tens of seconds, so the
Spark tests share one module-scoped lake (bronze built once from a generated
sample) and one clean gate run; the error tests inject rows into a later day.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common.bronze import INGEST_LOG_TABLE, META_NAMES, latest_file_versions
from jobs.common.errors import C360Error, ConfigError
from jobs.common.lake import Lake
from jobs.common.landing_contract import SOURCES, SOURCES_BY_NAME
from jobs.common.runtime import Runtime
from jobs.common.stage import Days
from jobs.generate.main import generate
from jobs.ingest.main import INGEST_LOG_DDL
from jobs.quality.gate import (
    DQ_RESULTS,
    ExpectationOutcome,
    GateResult,
    QualityGateError,
    SourceSummary,
    delivery_outcome,
    enforce,
    validate,
)
from jobs.quality.suites import LANDED_ON_REFERENCE, REFERENCES, SEVERITIES, columns_of, load_suite
from tests.conftest import reset_catalog
from tests.support.runtime import runtime_for

DAY1, DAY2, DAY3 = dt.date(2026, 10, 1), dt.date(2026, 10, 2), dt.date(2026, 10, 3)


# -- the suites (no Spark) ------------------------------------------------------


@pytest.mark.parametrize("source", [s.name for s in SOURCES])
def test_every_source_has_a_suite_on_known_columns_with_a_severity(source):
    suite = load_suite(source)
    known = set(SOURCES_BY_NAME[source].column_names) | set(META_NAMES) | set(REFERENCES) | {LANDED_ON_REFERENCE}
    assert suite.expectations
    for exp in suite.expectations:
        assert exp["meta"]["severity"] in SEVERITIES
        assert set(columns_of(exp)) <= known, f"{source}: {exp['type']} names a column outside bronze.{source}"
    # A source silver stores per landing day warns on rows re-delivered from another day.
    landed = [e["meta"]["severity"] for e in suite.expectations if LANDED_ON_REFERENCE in columns_of(e)]
    assert landed == (["warn"] if SOURCES_BY_NAME[source].silver_write == "day" else [])
    required = set(SOURCES_BY_NAME[source].required_columns)
    not_null = {e["kwargs"]["column"] for e in suite.expectations if e["type"] == "expect_column_values_to_not_be_null"}
    assert not_null == required
    severities = {e["meta"]["severity"] for e in suite.expectations}
    assert severities == {"error", "warn"}


def test_a_suite_file_without_severity_is_refused_naming_file_and_expectation(tmp_path):
    bad = {"name": "orders", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "order_id"}, "meta": {}},
    ]}
    (tmp_path / "orders.json").write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"orders\.json: expectation 1 \(expect_column_values_to_not_be_null\).*severity"):
        load_suite("orders", tmp_path)


def test_a_suite_with_an_unknown_parameter_is_refused(tmp_path):
    bad = {"name": "orders", "expectations": [
        {"type": "expect_table_row_count_to_be_between", "meta": {"severity": "warn"},
         "kwargs": {"min_value": {"$PARAMETER": "yesterday_rows * 0.5"}}},
    ]}
    (tmp_path / "orders.json").write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown parameter.*yesterday_rows"):
        load_suite("orders", tmp_path)


def _outcome(source: str, severity: str, success: bool, column: str = "event_id") -> ExpectationOutcome:
    return ExpectationOutcome(DAY2, source, "expect_column_values_to_not_be_null", (column,), severity, success,
                              "2 of 10 rows unexpected (20.00%)")


def test_enforce_raises_one_message_naming_sources_and_expectations():
    result = GateResult(DAY2, DAY2, (), (
        _outcome("web_events", "error", False),
        _outcome("orders", "error", False, "order_id"),
        _outcome("orders", "warn", False, "email"),
        _outcome("crm_customers", "error", True, "crm_id"),
    ))
    with pytest.raises(QualityGateError) as err:
        enforce(result)
    message = str(err.value)
    assert "2026-10-02" in message
    assert "web_events: expect_column_values_to_not_be_null(event_id)" in message
    assert "orders: expect_column_values_to_not_be_null(order_id)" in message
    assert "email" not in message.split("details in")[0]  # the warning is not a reason to stop
    assert "crm_customers" not in message


def test_enforce_lets_warnings_pass():
    result = GateResult(DAY2, DAY2, (), (_outcome("orders", "warn", False, "email"),))
    enforce(result)
    assert result.passed and len(result.warnings) == 1


# -- the gate on generated data (Spark + GX) ------------------------------------------


@pytest.fixture(scope="module")
def gate_lake(spark, config, tmp_path_factory) -> Lake:
    """Bronze for three generated days, built like ingest does (typed, lineage, required columns present)."""
    sample = tmp_path_factory.mktemp("gate_sample")
    generate(sample, customers=2000, days=3, seed=5, start=DAY1, log=lambda *_: None)
    reset_catalog(spark)
    lake = Lake(spark, dataclasses.replace(config.lake, root=str(tmp_path_factory.mktemp("gate_lake"))))
    for src in SOURCES:
        reader = spark.read.schema(src.ddl())
        folder = str(sample / "landing" / src.name)
        raw = reader.option("header", True).csv(folder) if src.format == "csv" else reader.json(folder)
        bronze = (
            raw.dropna(subset=list(src.required_columns))
            .withColumn("_ds", F.col("ds").cast("date"))
            .drop("ds")
            .withColumn("_source_file", F.input_file_name())
            .withColumn("_file_version", F.lit(1))
            .withColumn("_line_no", F.monotonically_increasing_id() + 1)
            .withColumn("_ingested_at", F.lit(dt.datetime(2026, 10, 4, 6, 0)))
            .withColumn("_batch_id", F.concat(F.lit("batch-"), F.col("_ds").cast("string")))
        )
        lake.append(bronze, f"bronze.{src.name}", partition_by=["_ds"])
    return lake


@pytest.fixture(scope="module")
def gate_rt(config, gate_lake) -> Runtime:
    return runtime_for(config, gate_lake)


@pytest.fixture(scope="module")
def reports(gate_rt) -> Path:
    return Path(gate_rt.config.lake.reports)


@pytest.fixture(scope="module")
def clean_run(gate_rt) -> GateResult:
    """The generator's default data of the second day, every source."""
    return validate(gate_rt, Days.of(DAY2))


def _dq(lake: Lake, day: dt.date) -> DataFrame:
    return lake.read(DQ_RESULTS).where(F.col("run_date") == F.lit(day))


def test_default_data_passes_every_error_expectation(clean_run):
    assert clean_run.passed, [o.describe() for o in clean_run.failures]
    enforce(clean_run)
    assert set(clean_run.sources) == {s.name for s in SOURCES}
    for name, summary in clean_run.sources.items():
        if name == "email_events" and summary.rows == 0:
            continue  # campaigns do not go out every day
        assert summary.status == "passed", name
        assert summary.rows > 0 and summary.evaluated > 0
        assert summary.batch_ids == ("batch-2026-10-02",)


def test_warn_failures_are_recorded_but_do_not_block(clean_run, gate_lake):
    # The first landing day carries the CRM backlog, so the second day's volume is far below it.
    row_count = clean_run.summary("crm_customers")
    assert row_count.warnings_failed >= 1 and row_count.errors_failed == 0
    warn = (
        _dq(gate_lake, DAY2)
        .where("source = 'crm_customers' AND expectation_type = 'expect_table_row_count_to_be_between'")
        .collect()
    )
    # against the day before: failed; against the same weekday of the weeks before: none landed yet
    assert sorted((r.severity, str(r.success)) for r in warn) == [("warn", "False"), ("warn", "None")]
    assert any("expected" in r.observed_value for r in warn)
    assert clean_run.passed


def test_dq_results_hold_one_row_per_expectation(clean_run, gate_lake):
    rows = _dq(gate_lake, DAY2)
    assert rows.count() == len(clean_run.outcomes)
    for name, summary in clean_run.sources.items():
        if summary.rows:
            delivered = 1 if SOURCES_BY_NAME[name].delivery == "daily" else 0  # expect_source_delivered
            assert rows.where(F.col("source") == name).count() == len(load_suite(name).expectations) + delivered
    sample = rows.where("source = 'order_lines' AND expectation_type = 'expect_compound_columns_to_be_unique'").first()
    assert sample.batch_id == "batch-2026-10-02"
    assert sample.severity in SEVERITIES and sample.unexpected_count == 0
    assert json.loads(sample.details)["kwargs"]["column_list"]
    # Only the volume checks are ever skipped: when the previous day had no rows (campaign emails), and
    # against the same weekday before the lake holds four weeks.
    skipped = rows.where("success IS NULL").collect()
    assert all(r.expectation_type == "expect_table_row_count_to_be_between" for r in skipped)
    assert all("previous day" in r.observed_value or "same weekday" in r.observed_value for r in skipped)


def test_data_docs_have_an_index_and_a_page_per_day_and_source(clean_run, reports):
    index = Path(clean_run.docs_index)
    assert index == reports / "data_docs" / "index.html"
    text = index.read_text(encoding="utf-8")
    assert "2026-10-02" in text
    for name, summary in clean_run.sources.items():
        if summary.rows:
            assert name in text
            assert Path(summary.page).is_file()
            assert Path(summary.page).parent.parts[-3:] == ("2026-10-02", name, "bronze")
            assert (reports / "data_docs" / "expectations" / f"{name}.html").is_file()
    suite_page = (reports / "data_docs" / "expectations" / "order_lines.html").read_text(encoding="utf-8")
    assert "with mostly = (0.9 - 5 / rows" in suite_page
    # Styled with no network: the pages load Bootstrap and jQuery from static/vendor/, nothing from a CDN.
    page = Path(clean_run.sources["orders"].page)
    for text in (page.read_text(encoding="utf-8"), suite_page):
        assert not re.search(r"""<(?:link|script)\b[^>]*(?:href|src)=["']https?://""", text)
        assert "static/vendor/bootstrap.min.css" in text and "static/vendor/jquery.min.js" in text
    vendor = reports / "data_docs" / "static" / "vendor"
    assert (page.parent / "../../../../static/vendor/bootstrap.min.css").resolve() == (vendor / "bootstrap.min.css").resolve()
    assert "Bootstrap" in (vendor / "bootstrap.min.css").read_text()[:300]
    assert (vendor / "jquery.min.js").stat().st_size > 50_000 and (vendor / "bootstrap.bundle.min.js").is_file()


def _inject(lake: Lake, source: str, rows: DataFrame) -> None:
    lake.append(rows.select(*lake.read(f"bronze.{source}").columns), f"bronze.{source}", partition_by=["_ds"])


def test_injected_errors_fail_naming_source_and_expectation_and_a_rerun_replaces_results(gate_rt, clean_run, gate_lake):
    events = latest_file_versions(gate_lake.read("bronze.web_events").where(F.col("_ds") == F.lit(DAY3)))
    # The same event twice in one file, and an event without its id.
    _inject(gate_lake, "web_events", events.limit(2).withColumn("_line_no", F.col("_line_no") + 100_000))
    _inject(gate_lake, "web_events", events.limit(1).withColumn("event_id", F.lit(None).cast("string")))
    # Lines of orders that are not in the day's orders: far more than a header lost to quarantine.
    lines = latest_file_versions(gate_lake.read("bronze.order_lines").where(F.col("_ds") == F.lit(DAY3)))
    orphans = lines.withColumn("order_id", F.concat(F.lit("MISSING-"), F.col("order_id")))
    _inject(gate_lake, "order_lines", orphans)

    result = validate(gate_rt, Days.of(DAY3), sources=["web_events", "order_lines"])
    assert not result.passed
    assert result.summary("web_events").status == "failed"
    assert result.summary("order_lines").status == "failed"
    failed = {(o.source, o.label) for o in result.failures}
    assert ("web_events", "expect_compound_columns_to_be_unique(event_id, _source_file)") in failed
    assert ("web_events", "expect_column_values_to_not_be_null(event_id)") in failed
    # Half the lines are orphans: past the error tier's 20% plus 10 rows.
    orphaned = [o for o in result.failures if o.columns == ("order_id", "_ref_day_order_id")]
    assert [o.source for o in orphaned] == ["order_lines"]
    assert 0 < orphaned[0].mostly < 0.8 and orphaned[0].unexpected_percent == pytest.approx(50.0)
    with pytest.raises(QualityGateError) as err:
        enforce(result)
    message = str(err.value)
    assert message.startswith("quality gate failed for 2026-10-03 in web_events, order_lines:")
    assert "web_events: expect_column_values_to_not_be_null(event_id): 1 of" in message
    assert f"order_lines: {orphaned[0].label}: " in message
    assert "MISSING-" in message  # the evidence: which keys had no match
    assert DQ_RESULTS in message

    # A rerun of the day replaces its rows instead of adding to them; other days are untouched.
    # The rerun validates in Spark (a day above `quality.driver_max_rows`): the same verdicts and evidence
    # as the pandas engine in the driver gave the small day.
    before = _dq(gate_lake, DAY3).count()
    assert before == len(result.outcomes)
    day2_rows = _dq(gate_lake, DAY2).count()
    in_spark = dataclasses.replace(gate_rt, config=dataclasses.replace(
        gate_rt.config, quality=dataclasses.replace(gate_rt.config.quality, driver_max_rows=0)))
    again = validate(in_spark, Days.of(DAY3), sources=["web_events", "order_lines"])
    assert _dq(gate_lake, DAY3).count() == before
    assert _dq(gate_lake, DAY2).count() == day2_rows
    assert {(o.source, o.label) for o in again.failures} == failed
    assert [_verdict(o) for o in again.outcomes] == [_verdict(o) for o in result.outcomes]
    index = Path(again.docs_index).read_text(encoding="utf-8")
    assert "2026-10-03" in index and "2026-10-02" in index


def test_a_range_validated_first_as_one_batch_records_what_each_day_alone_records(gate_rt, gate_lake):
    """`quality.range_first`: the day-independent expectations run once on the range's rows, the rest per day.
    A duplicate and a null injected into the first day fail their expectations on the range's batch: those run
    on each day again, and the clean day after it passes them. Every record is the one of validating each day alone."""
    sources = ["web_events", "crm_customers", "order_lines", "orders"]
    events = gate_lake.read("bronze.web_events").where(F.col("_ds") == F.lit(DAY1)).limit(3)
    dirty = events.withColumn("_batch_id", F.lit("batch-range-test"))
    dirty = dirty.unionByName(events.limit(1).withColumn("event_id", F.lit(None).cast("string"))
                              .withColumn("_batch_id", F.lit("batch-range-test")))
    _inject(gate_lake, "web_events", dirty)
    try:
        days = Days(DAY1, DAY3)
        first = validate(gate_rt, days, sources=sources)
        first_page = Path(first.summary("web_events", DAY2).page).read_text(encoding="utf-8")
        alone = validate(dataclasses.replace(gate_rt, config=dataclasses.replace(
            gate_rt.config, quality=dataclasses.replace(gate_rt.config.quality, range_first=False))), days,
            sources=sources)
    finally:
        gate_lake.delete("bronze.web_events", F.col("_batch_id") == "batch-range-test")
    assert all(s.rows and s.from_range for s in first.summaries)
    assert sum(s.from_range for s in alone.summaries) == 0
    assert [dataclasses.replace(s, from_range=0) for s in first.summaries] == list(alone.summaries)
    assert first.outcomes == alone.outcomes  # every field: verdict, counts, percentages, evidence, kwargs
    failed = {(o.run_date, o.source, o.label) for o in first.failures}
    assert (DAY1, "web_events", "expect_compound_columns_to_be_unique(event_id, _source_file)") in failed
    assert (DAY1, "web_events", "expect_column_values_to_not_be_null(event_id)") in failed
    assert not any(day == DAY2 and source == "web_events" for day, source, _ in failed)
    # the day's page holds every expectation GX evaluated on the day alone, those judged on the range among them
    alone_page = Path(alone.summary("web_events", DAY2).page).read_text(encoding="utf-8")
    summary = first.summary("web_events", DAY2)
    assert summary.from_range > 0
    assert _evaluated_on_page(first_page) == _evaluated_on_page(alone_page) == summary.evaluated


def _evaluated_on_page(page: str) -> int:
    """The "Evaluated Expectations" figure of a GX validation page."""
    found = re.search(r"Evaluated Expectations\s*(\d+)", re.sub(r"<[^>]+>", " ", page))
    assert found, "no Evaluated Expectations figure on the page"
    return int(found.group(1))


def _verdict(o: ExpectationOutcome) -> tuple:
    """What an engine decides about an expectation: the outcome and its evidence (as a set: order may differ)."""
    sample = o.details.get("partial_unexpected_list") or []
    return (o.source, o.label, o.severity, o.success, o.element_count, o.unexpected_count, o.unexpected_percent,
            frozenset(json.dumps(v, default=str, sort_keys=True) for v in sample))


def test_first_day_skips_the_volume_check_and_unknown_sources_are_refused(gate_rt):
    result = validate(gate_rt, Days.of(DAY1), sources=["orders"])
    skipped = [o for o in result.outcomes if o.success is None]
    assert [o.expectation_type for o in skipped] == ["expect_table_row_count_to_be_between"] * 2
    assert "previous day" in skipped[0].observed_value and "same weekday" in skipped[1].observed_value
    assert result.summary("orders").skipped == 2
    with pytest.raises(C360Error, match="unknown source.*nope"):
        validate(gate_rt, Days.of(DAY1), sources=["nope"])
    quiet = dt.date(2026, 9, 1)
    off = _missing(gate_rt, {"orders": "off"})
    empty = validate(off, Days.of(quiet), sources=["orders"])
    assert empty.passed and empty.summary("orders") == SourceSummary(quiet, "orders", 0)


def _missing(rt: Runtime, per_source: dict, default: str = "error") -> Runtime:
    quality = dataclasses.replace(rt.config.quality, missing_source=per_source, missing_source_default=default)
    return dataclasses.replace(rt, config=dataclasses.replace(rt.config, quality=quality))


def test_a_daily_source_with_no_file_fails_or_warns_as_configured_naming_source_and_day(gate_rt, gate_lake):
    day = dt.date(2026, 9, 1)  # nothing landed: no ingest_log row, no bronze row
    result = validate(gate_rt, Days.of(day), sources=["orders", "web_events"])
    assert not result.passed and result.summary("orders").status == "missing"
    assert result.summary("web_events").status == "no data"  # delivered only on days with events: no check
    with pytest.raises(QualityGateError) as error:
        enforce(result)
    message = str(error.value)
    assert message.startswith("quality gate failed for 2026-09-01 in orders: orders: expect_source_delivered(): no "
                              "file landed for orders on 2026-09-01")
    assert "set quality.missing_source.<source> to warn or off" in message
    recorded = _dq(gate_lake, day).collect()
    assert [(r.source, r.expectation_type, r.severity, r.success) for r in recorded] == [
        ("orders", "expect_source_delivered", "error", False)]
    # configured as a warning: recorded, the run goes on
    warned = validate(_missing(gate_rt, {"orders": "warn"}), Days.of(day), sources=["orders"])
    assert warned.passed and [o.label for o in warned.warnings] == ["expect_source_delivered()"]
    # a header-only export (a quiet day) is a delivery: ingest logged the file
    log = gate_lake.spark.createDataFrame(
        [("b1", "orders", day, "landing/orders/ds=2026-09-01/orders_20260901.csv", 120, "x", 1, 0, 0, 0, "loaded",
          None, None, dt.datetime(2026, 9, 2, 6))], INGEST_LOG_DDL)
    gate_lake.append(log, INGEST_LOG_TABLE)
    try:
        quiet = validate(gate_rt, Days.of(day), sources=["orders"])
        assert quiet.passed and quiet.summary("orders").status == "no data"
        assert [(o.expectation_type, o.success) for o in quiet.outcomes] == [("expect_source_delivered", True)]
    finally:
        gate_lake.drop(INGEST_LOG_TABLE)
    with pytest.raises(ConfigError, match="quality.missing_source.tills: no such landing source"):
        validate(_missing(gate_rt, {"tills": "warn"}), Days.of(day), sources=["orders"])
    with pytest.raises(ConfigError, match="quality.missing_source_default: 'fatal' is not one of error, warn, off"):
        validate(_missing(gate_rt, {}, "fatal"), Days.of(day), sources=["orders"])


def test_the_volume_is_also_judged_against_the_same_weekday_of_the_weeks_before(gate_rt, gate_lake):
    """Orders of the second day copied to the same weekday one and two weeks earlier, ten times over:
    the day is then far below its usual weekday (a warning naming the check), not only the day before."""
    rows = gate_lake.read("bronze.orders").where(F.col("_ds") == F.lit(DAY2))
    tenfold = rows.crossJoin(gate_lake.spark.range(10).withColumnRenamed("id", "_copy")).drop("_copy")
    earlier = [DAY2 - dt.timedelta(days=7), DAY2 - dt.timedelta(days=14)]
    for day in earlier:
        _inject(gate_lake, "orders", tenfold.withColumn("_ds", F.lit(day)))
    try:
        result = validate(gate_rt, Days.of(DAY2), sources=["orders"])
        volume = [o for o in result.outcomes if o.expectation_type == "expect_table_row_count_to_be_between"]
        weekday = [o for o in volume if "same weekday" in o.details.get("notes", "")]
        assert len(volume) == 2 and len(weekday) == 1
        assert weekday[0].success is False and weekday[0].severity == "warn" and result.passed
        assert weekday[0] in result.warnings
    finally:
        gate_lake.delete("bronze.orders", F.col("_ds").isin(*earlier))


def test_a_weekly_source_is_due_once_in_any_seven_days():
    day = dt.date(2026, 10, 8)
    assert delivery_outcome("catalog", day, rows=0, files=1, severity="error", delivery="weekly").success
    late = delivery_outcome("catalog", day, rows=0, files=0, severity="warn", delivery="weekly")
    assert late.success is False and late.severity == "warn"
    assert late.observed_value == ("no file landed for catalog in the 7 days to 2026-10-08 (the landing contract "
                                   "expects one in any 7 days)")
    assert delivery_outcome("catalog", day, rows=0, files=0, severity="off", delivery="weekly") is None
