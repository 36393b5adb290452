"""The daily pipeline: the steps `c360 run` and the `c360_daily` DAG run, in this order.

    ingest        landing -> bronze.* (+ ops.ingest_log, ops.quarantine)
    quality_gate  Great Expectations suites on the day's bronze rows -> ops.dq_results;
                  an error-severity failure stops the run before silver
    silver        bronze -> silver.* (typed, conformed, deduplicated, SCD2 history)
    resolve_identities
                  silver source records -> silver.identity_map / customers (stable customer_key)
    build_features
                  dbt build as of the day: silver -> gold.customer_rfm, customer_features,
                  product_features, customer_360 (a failing dbt test leaves gold as it was)
    score_recommendations
                  the champion recommender's top N per customer -> serving.recommendations

Outside the daily order, `train_recommender` (the weekly `c360_train` DAG) searches,
trains, evaluates and registers the recommender in MLflow as of a day.

Every step is a function of (profile, first day, last day) and rewrites exactly
those days, so a rerun or backfill never duplicates. A range runs each step once
over all its days (one bronze commit per source, one gate and silver pass).
"""
from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable
from typing import Any

from jobs.common import runtime
from jobs.common.errors import C360Error

STEPS = ("ingest", "quality_gate", "silver", "resolve_identities", "build_features", "score_recommendations")
WEEKLY_STEPS = ("train_recommender",)


@functools.lru_cache(maxsize=4)
def _runtime(profile: str | None) -> runtime.Runtime:
    # One SparkSession per process: Airflow's `dags test` runs every task in one process.
    return runtime.start(profile, app_name="c360 daily")


def ingest_step(rt: runtime.Runtime, start: dt.date, end: dt.date, landing: str | None = None) -> dict[str, Any]:
    from jobs.ingest.main import ingest

    report = ingest(rt.spark, rt.lake, rt.config, start, end, landing=landing)
    report.raise_for_failures()
    return {
        "batch_id": report.batch_id,
        "files_loaded": sum(s.files_loaded for s in report.sources),
        "files_skipped": sum(s.files_skipped for s in report.sources),
        "rows_loaded": sum(s.rows_loaded for s in report.sources),
        "rows_quarantined": sum(s.rows_quarantined for s in report.sources),
    }


def quality_gate_step(rt: runtime.Runtime, start: dt.date, end: dt.date, landing: str | None = None) -> dict[str, Any]:
    from jobs.quality.gate import enforce, run_gate

    result = run_gate(rt.spark, rt.lake, start, rt.config.lake.reports, until=end)
    enforce(result)
    return {"passed": result.passed, "data_docs": str(result.docs_index) if result.docs_index else None}


def silver_step(rt: runtime.Runtime, start: dt.date, end: dt.date, landing: str | None = None) -> dict[str, Any]:
    from jobs.silver.main import build_silver

    return build_silver(rt.spark, rt.lake, start, until=end)


def resolve_identities_step(rt: runtime.Runtime, start: dt.date, end: dt.date, landing: str | None = None) -> dict[str, Any]:
    """Identity state as of the last day (a range resolves once, over everything landed by its end)."""
    from dataclasses import asdict

    from jobs.identity.main import resolve_identities

    report = asdict(resolve_identities(rt.spark, rt.lake, rt.config, end))
    report["ds"] = report["ds"].isoformat()
    return report


def build_features_step(rt: runtime.Runtime, start: dt.date, end: dt.date, landing: str | None = None) -> dict[str, Any]:
    """Gold as of the last day (a range builds once: every model is computed as of its end)."""
    from dataclasses import asdict

    from jobs.features.main import build_features

    report = asdict(build_features(rt.spark, rt.lake, rt.config.lake.reports, end))
    report["as_of"] = report["as_of"].isoformat()
    return report


def score_recommendations_step(rt: runtime.Runtime, start: dt.date, end: dt.date,
                               landing: str | None = None) -> dict[str, Any]:
    """Recommendations as of the last day (a range scores once)."""
    from dataclasses import asdict

    from jobs.recommend.main import score_recommendations

    report = asdict(score_recommendations(rt.spark, rt.lake, rt.config, end))
    report["day"] = report["day"].isoformat()
    return report


def train_recommender_step(rt: runtime.Runtime, start: dt.date, end: dt.date,
                           landing: str | None = None) -> dict[str, Any]:
    """The recommender trained as of the last day; registered, promoted if it beats the champion."""
    from dataclasses import asdict

    from jobs.recommend.main import train_recommender

    report = asdict(train_recommender(rt.spark, rt.lake, rt.config, end))
    report["day"] = report["day"].isoformat()
    return report


_STEP_FUNCTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "ingest": ingest_step,
    "quality_gate": quality_gate_step,
    "silver": silver_step,
    "resolve_identities": resolve_identities_step,
    "build_features": build_features_step,
    "score_recommendations": score_recommendations_step,
    "train_recommender": train_recommender_step,
}


def run_step(step: str, start: dt.date, end: dt.date | None = None, landing: str | None = None,
             profile: str | None = None) -> dict[str, Any]:
    """Run one step for `start`..`end` (inclusive) in this process's runtime."""
    if step not in _STEP_FUNCTIONS:
        raise C360Error(f"unknown step '{step}'; steps: {', '.join(STEPS + WEEKLY_STEPS)}")
    # Airflow hands over pendulum dates; Spark wants plain ones.
    start = dt.date(start.year, start.month, start.day)
    end = dt.date(end.year, end.month, end.day) if end else start
    if end < start:
        raise C360Error(f"the last day {end} is before the first day {start}")
    return _STEP_FUNCTIONS[step](_runtime(profile), start, end, landing)


def run(start: dt.date, end: dt.date | None = None, landing: str | None = None, profile: str | None = None,
        steps: tuple[str, ...] = STEPS, log: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """Run the steps in order; the first failing step stops the run with its error."""
    results = {}
    for step in steps:
        began = time.perf_counter()
        results[step] = run_step(step, start, end, landing, profile)
        log(f"{step:<13} {time.perf_counter() - began:6.1f} s  {results[step]}")
    return results
