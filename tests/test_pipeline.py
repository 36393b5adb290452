"""The daily pipeline: a gate failure stops the day before silver; a range equals its days."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from pyspark.sql import functions as F

from jobs import pipeline
from jobs.common.runtime import Runtime
from jobs.generate.main import generate
from jobs.generate.rates import VariationRates
from jobs.quality.gate import QualityGateError

DAY1 = dt.date(2026, 10, 1)
DAY2 = dt.date(2026, 10, 2)


@pytest.fixture
def rt(lake, spark, config, tmp_path) -> Runtime:
    generate(tmp_path / "sample", customers=300, days=2, seed=21, start=DAY1, rates=VariationRates(),
             log=lambda *_: None)
    local = dataclasses.replace(
        config,
        lake=dataclasses.replace(config.lake, root=lake.root),
        landing=dataclasses.replace(config.landing, uri=str(tmp_path / "sample" / "landing")),
    )
    return Runtime(local, spark, lake)


def test_a_gate_failure_stops_the_day_and_leaves_silver_at_its_last_good_version(rt, tmp_path):
    for step in (pipeline.ingest_step, pipeline.quality_gate_step, pipeline.silver_step):
        step(rt, DAY1, DAY1)
    silver = [t for t in rt.lake.table_names() if t.startswith("silver.")]
    assert "silver.web_events" in silver
    versions = {t: rt.lake.version(t) for t in silver}

    # day 2's clickstream arrives with an event type nobody knows: well-typed, so it loads to bronze
    events = tmp_path / "sample" / "landing" / "web_events" / "ds=2026-10-02" / "web_events_20261002.jsonl"
    events.write_text(events.read_text().replace('"event_type":"view"', '"event_type":"teleport"'))
    pipeline.ingest_step(rt, DAY2, DAY2)
    assert rt.lake.read("bronze.web_events").where("event_type = 'teleport'").count() > 0
    with pytest.raises(QualityGateError, match="web_events") as failure:
        pipeline.quality_gate_step(rt, DAY2, DAY2)
    assert "event_type" in str(failure.value)
    assert {t: rt.lake.version(t) for t in silver} == versions
    assert rt.lake.read("silver.web_events").where(F.col("_ds") == DAY2).count() == 0
    failed = rt.lake.read("ops.dq_results").where(
        (F.col("run_date") == DAY2) & ~F.col("success") & (F.col("severity") == "error")
    )
    assert failed.where("source = 'web_events'").count() >= 1
