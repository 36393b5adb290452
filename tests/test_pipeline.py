"""The stage registry and the daily pipeline: one contract, a gate failure stops the day, a range equals its days."""
from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import inspect
import json
import re

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs import pipeline
from jobs.common.errors import C360Error
from jobs.common.stage import Days, StageReport
from jobs.generate.main import generate
from jobs.quality.gate import QualityGateError
from tests.support.runtime import runtime_for

DAY1 = dt.date(2026, 10, 1)
DAY2 = dt.date(2026, 10, 2)
BATCH_STAMP = ["_batch_id", "_ingested_at"]


@pytest.mark.parametrize("stage", list(pipeline.STAGES.values()), ids=list(pipeline.STAGES))
def test_every_stage_has_the_one_contract(stage):
    """`run(rt, days, *, options)` returning a frozen dataclass report; options match the command's flags."""
    module = importlib.import_module(stage.module)
    assert module.__name__.startswith("jobs.") and module.__name__.split(".")[1] not in ("common", "pipeline")
    signature = inspect.signature(module.run)
    params = list(signature.parameters.values())
    assert [p.name for p in params[:2]] == ["rt", "days"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty
               for p in params[2:]), f"{stage.name}: options are keyword-only with defaults"
    assert {o.keyword for o in stage.options} <= {p.name for p in params[2:]}
    report = inspect.signature(module.run).return_annotation
    report_class = getattr(module, report) if isinstance(report, str) else report
    assert issubclass(report_class, StageReport) and dataclasses.is_dataclass(report_class)
    assert report_class.__dataclass_params__.frozen
    assert re.search(r"\b(bronze|silver|gold|serving|ops)\.", module.__doc__ or ""), f"{stage.module} names its tables"
    assert stage.layers and set(stage.layers) <= {"bronze", "silver", "gold", "serving", "ops", "models", "reports"}


def test_days_and_reports_are_json_ready():
    days = Days.of(dt.datetime(2026, 10, 1, 5), dt.date(2026, 10, 3))
    assert (days.first, days.last, len(days), str(days)) == (DAY1, dt.date(2026, 10, 3), 3, "2026-10-01 .. 2026-10-03")
    assert list(Days.of(DAY1)) == [DAY1]
    with pytest.raises(C360Error, match="before the first day"):
        Days.of(DAY2, DAY1)

    @dataclasses.dataclass(frozen=True)
    class Report(StageReport):
        days: Days
        written: dict[str, int]

    assert json.loads(json.dumps(Report(days, {"silver.x": 1}).as_dict())) == {
        "days": {"first": "2026-10-01", "last": "2026-10-03"}, "written": {"silver.x": 1}}


def test_an_unknown_stage_is_named():
    with pytest.raises(C360Error, match="unknown stage 'nope'; stages: ingest, quality_gate"):
        pipeline.stage("nope")


def test_a_gate_failure_stops_the_day_and_leaves_silver_at_its_last_good_version(e2e, tmp_path):
    """A day whose clickstream carries an event type nobody knows: well-typed, so it loads to bronze; the gate stops it."""
    rt, day = e2e.rt, e2e.last + dt.timedelta(days=1)
    source = e2e.sample / "landing" / "web_events" / f"ds={e2e.last}" / f"web_events_{e2e.last:%Y%m%d}.jsonl"
    landing = tmp_path / "landing"
    target = landing / "web_events" / f"ds={day}" / f"web_events_{day:%Y%m%d}.jsonl"
    target.parent.mkdir(parents=True)
    lines = source.read_text().splitlines()[:200]
    target.write_text("\n".join(line.replace(str(e2e.last), str(day)).replace('"event_type":"view"',
                                                                              '"event_type":"teleport"')
                                for line in lines) + "\n")
    silver = [t for t in rt.lake.table_names() if t.startswith("silver.")]
    assert "silver.web_events" in silver
    versions = {t: rt.lake.version(t) for t in silver}

    day_rt = rt.with_landing(str(landing))
    since = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with pytest.raises(QualityGateError, match="web_events") as failure:
        pipeline.run(day_rt, Days.of(day), ("ingest", "quality_gate", "silver"), log=lambda *_: None)
    # ops.processing_log: ingest ran and succeeded, the gate failed saying why, silver never ran
    logged = rt.lake.read("ops.processing_log").where(F.col("started_at") >= F.lit(since)).collect()
    assert {(r.stage, r.ds, r.status) for r in logged} == {("ingest", day, "succeeded"),
                                                          ("quality_gate", day, "failed")}
    (gate,) = [r for r in logged if r.stage == "quality_gate"]
    assert gate.error.startswith("QualityGateError: ") and gate.layers == ["ops"] and gate.code_version
    assert rt.lake.read("bronze.web_events").where("event_type = 'teleport'").count() > 0
    assert "event_type" in str(failure.value)
    assert failure.value.report is not None and not failure.value.report.passed  # the error carries the verdict
    assert {t: rt.lake.version(t) for t in silver} == versions
    assert rt.lake.read("silver.web_events").where(F.col("_ds") == day).count() == 0
    failed = rt.lake.read("ops.dq_results").where(
        (F.col("run_date") == day) & ~F.col("success") & (F.col("severity") == "error")
    )
    assert failed.where("source = 'web_events'").count() >= 1


def test_a_range_equals_its_days(spark, config, tmp_path):
    """Ingest and silver over 2026-10-01 .. 02 in one run give the tables that two one-day runs give."""
    generate(tmp_path / "sample", customers=150, days=2, seed=21, start=DAY1, log=lambda *_: None)
    landing = tmp_path / "sample" / "landing"
    sources = ("crm_customers", "orders", "web_accounts")  # one per silver write mode: scd2, day, latest
    lakes = {}
    for mode in ("range", "days"):
        from jobs.common.lake import Lake

        lake = Lake(spark, dataclasses.replace(config.lake, root=str(tmp_path / mode)))
        rt = runtime_for(config, lake, landing)
        spans = [Days.of(DAY1, DAY2)] if mode == "range" else [Days.of(DAY1), Days.of(DAY2)]
        for days in spans:
            pipeline.stage("ingest").run(rt, days, sources=sources)
            pipeline.stage("silver").run(rt, days)
        lakes[mode] = lake
    tables = [f"{layer}.{s}" for s in sources for layer in ("bronze", "silver")]
    assert set(tables) <= set(lakes["range"].table_names())
    # a range is one run over its days in ops.processing_log; two days are two runs
    for mode, runs in (("range", 1), ("days", 2)):
        logged = lakes[mode].read("ops.processing_log").where("stage = 'ingest'").collect()
        assert sorted(r.ds for r in logged) == [DAY1, DAY2] and len({r.run_id for r in logged}) == runs
        assert all(r.status == "succeeded" and r.layers == ["bronze", "ops"] and r.error is None for r in logged)
        assert all(r.code_version and r.finished_at >= r.started_at for r in logged)
    for table in tables:
        by_range, by_day = (lakes[m].read(table) for m in ("range", "days"))
        assert by_range.count() > 0, table
        # Rows equal in every column but the batch's own stamp (id and time of the ingest run).
        assert_df_equality(by_range, by_day, ignore_row_order=True, ignore_columns=BATCH_STAMP)
