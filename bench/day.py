"""`c360 bench day [--scale N]`: one incremental day of `c360_daily` at N persons, task by task.

The lake: N persons (default 100 k) generated over 31 days of the default setting; the
first 30 are the history, built as a backfill would leave it (ingest, the quality gate
and silver over the range, identities, features and scores as of the 30th day), with
the models trained once as of that day (the recommender, lifetime value, churn and
segments; the lifetime value holdout and the churn horizon shortened to 10 days each so
a 30-day history trains them). The built history is kept in `$C360_BENCH_CACHE`
(default `~/.c360/bench`) under `day-<N>/history` and copied to `day-<N>/lake` for every
run: a rerun times the same day on the same history without building it again
(`C360_BENCH_FRESH=1` builds it anew). A history built in the run is itself timed, step by
step with each step's share: the N persons end to end from an empty lake.

Then day 31 runs through every daily stage in the DAG's order, one at a time (the tasks
`c360_daily` runs for a day, on one warm SparkSession as `airflow dags test` runs them; a
few untimed Delta writes in a scratch folder warm a fresh JVM first, so a kept history and
a fresh one time the day alike).
For each it prints the seconds, the share of the day, and the peak resident memory of the
Python driver and of the JVM during it; for the dbt build, also its slowest models (dbt's own
timings) and the models' total. The day's dbt build is then run again computing every customer
(`features.incremental: false`): its time, and the gold tables whose rows differ from the day's
build (none, when the incremental day is right).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path

from bench.identity import START, _config
from jobs import pipeline
from jobs.common import runtime
from jobs.common.bench import Figures, peak_rss_mb, reset_peak_rss
from jobs.common.config import Config, load_config
from jobs.common.files import read_text
from jobs.common.frames import same_rows
from jobs.common.stage import Days
from jobs.features.main import FeaturesReport
from jobs.generate.main import generate

DEFAULT_SCALE = 100_000
HISTORY_DAYS = 30
# Horizons short enough for a 30-day history to train the customer models once.
SHORT_HORIZON_DAYS = 10
TRAINING = pipeline.WEEKLY_NAMES  # the training marts, then the four models


def _bench_config(base: Config, root: Path, landing: Path) -> Config:
    config = _config(base, root, landing)
    customers = dataclasses.replace(
        config.customers, clv_holdout_days=SHORT_HORIZON_DAYS,
        churn=dataclasses.replace(config.customers.churn, horizon_days=SHORT_HORIZON_DAYS))
    return dataclasses.replace(config, customers=customers)


def _cache(persons: int) -> Path:
    return Path(os.environ.get("C360_BENCH_CACHE", Path.home() / ".c360" / "bench")).expanduser() / f"day-{persons}"


def _build_history(base: Config, built: Path, persons: int, log) -> dict[str, float]:
    """Generate the sample and build its history into `built` (lake/ and gen/); each step's seconds."""
    history_last = START + dt.timedelta(days=HISTORY_DAYS - 1)
    shutil.rmtree(built, ignore_errors=True)
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    generate(built / "gen", persons, HISTORY_DAYS + 1, seed=7, start=START, rates=base.generator.rates("default"),
             log=lambda *_: None)
    seconds["generate"] = time.perf_counter() - began
    rt = runtime.start(config=_bench_config(base, built / "lake", built / "gen" / "landing"),
                       app_name="c360 bench day (history)")
    history = Days.of(START, history_last)
    first = [("ingest", history, {}), ("quality_gate", history, {}), ("silver", history, {}),
             ("resolve_identities", Days.of(history_last), {}),
             ("build_features", Days.of(history_last), {"docs": False})]
    done = {name for name, _, _ in first}
    steps = [*first, *[(name, Days.of(history_last), {}) for name in TRAINING],
             *[(name, Days.of(history_last), {}) for name in pipeline.DAILY_NAMES if name not in done]]
    for name, days, options in steps:
        began = time.perf_counter()
        pipeline.stage(name).run(rt, days, **options)
        seconds[name] = time.perf_counter() - began
        log(f"history {name:<22} {seconds[name]:7.1f} s")
    return seconds


def _warm_up(rt: runtime.Runtime, scratch: Path) -> None:
    """Untimed Delta writes, a MERGE and reads in a scratch folder: a history just built leaves the JVM warm, a kept
    one starts it cold, and the first timed stage would carry the JIT's warm-up either way or not."""
    from delta.tables import DeltaTable

    shutil.rmtree(scratch, ignore_errors=True)
    rows = rt.spark.range(100_000).selectExpr("id", "id % 97 AS bucket", "cast(id AS string) AS name")
    for _ in range(3):
        rows.write.format("delta").mode("append").partitionBy("bucket").save(str(scratch))
        (DeltaTable.forPath(rt.spark, str(scratch)).alias("t")
         .merge(rows.limit(1000).alias("s"), "t.id = s.id").whenMatchedUpdateAll().execute())
        rt.spark.read.format("delta").load(str(scratch)).groupBy("bucket").count().collect()
    shutil.rmtree(scratch, ignore_errors=True)


def _dbt_models(rt: runtime.Runtime, tag: str, top: int = 8) -> Figures:
    """The `top` slowest models of the day's dbt build (the run results it publishes with its docs), in seconds."""
    text = read_text(rt.spark, f"{rt.config.lake.reports.rstrip('/')}/dbt_docs/run_results.json")
    if text is None:
        return {}
    models = [(r["unique_id"].split(".")[-1], r["execution_time"]) for r in json.loads(text)["results"]
              if r["unique_id"].startswith("model.")]
    figures: Figures = {f"{tag}_dbt_models_s": round(sum(seconds for _, seconds in models), 1)}
    for name, seconds in sorted(models, key=lambda m: -m[1])[:top]:
        figures[f"{tag}_dbt_{name}_s"] = round(seconds, 1)
    return figures


def _against_full_build(rt: runtime.Runtime, day: dt.date, built: FeaturesReport, tag: str, log) -> Figures:
    """The day's dbt build again, computing every customer: its seconds, and whether each gold table it
    writes holds the same rows as the day's (incremental) build wrote (time travel to that version)."""
    from jobs.features.main import run as build_features

    full_rt = dataclasses.replace(rt, config=dataclasses.replace(
        rt.config, features=dataclasses.replace(rt.config.features, incremental=False)))
    began = time.perf_counter()
    full = build_features(full_rt, Days.of(day), docs=False)
    figures: Figures = {f"{tag}_build_features_full_s": round(time.perf_counter() - began, 1)}
    differing = []
    for table, version in built.gold_versions.items():
        if full.gold_versions.get(table, version) != version:
            if not same_rows(rt.lake.read(table, version=version), rt.lake.read(table)):
                differing.append(table)
    figures[f"{tag}_build_features_differing_from_full"] = ", ".join(differing) or "none"
    log(f"day {day} build_features, every customer: {figures[f'{tag}_build_features_full_s']} s; "
        f"tables differing from the day's build: {figures[f'{tag}_build_features_differing_from_full']}")
    return figures


def run(scale: int | None = None, profile: str | None = None, log=print) -> Figures:
    base = load_config(profile)
    persons = scale or DEFAULT_SCALE
    tag = f"{persons // 1000}k" if persons >= 1000 else str(persons)
    day = START + dt.timedelta(days=HISTORY_DAYS)
    built = _cache(persons)
    lake, history = built / "lake", built / "history"
    figures: Figures = {}
    if os.environ.get("C360_BENCH_FRESH") or not (history / "_built").is_file():
        shutil.rmtree(history, ignore_errors=True)
        steps = _build_history(base, built, persons, log)
        end_to_end = sum(steps.values())
        for name, seconds in steps.items():
            figures[f"{tag}_history_{name}_s"] = round(seconds, 1)
            figures[f"{tag}_history_{name}_share_pct"] = round(100 * seconds / end_to_end, 1)
        # From empty: the sample generated, 30 days through every stage, the four models trained once.
        figures[f"{tag}_history_total_s"] = round(end_to_end, 1)
        log(f"history from empty {end_to_end:7.1f} s")
        shutil.copytree(lake, history, symlinks=True)
        (history / "_built").write_text(f"{persons} persons, {HISTORY_DAYS} days to {day - dt.timedelta(days=1)}\n")
    else:  # the history as built: the day runs on the same path, so a catalog or a log naming it stays right
        shutil.rmtree(lake)
        shutil.copytree(history, lake, symlinks=True)
    rt = runtime.start(config=_bench_config(base, lake, built / "gen" / "landing"), app_name="c360 bench day")
    _warm_up(rt, built / "warm-up")
    gateway = rt.spark.sparkContext._gateway
    jvm = gateway.proc.pid if getattr(gateway, "proc", None) else None  # spark-submit execs the driver's JVM
    timed: dict[str, float] = {}
    for name in pipeline.DAILY_NAMES:
        reset_peak_rss()
        if jvm:
            reset_peak_rss(jvm)
        began = time.perf_counter()
        report = pipeline.stage(name).run(rt, Days.of(day))
        timed[name] = time.perf_counter() - began
        if name == "build_features":
            built_day = report
            figures[f"{tag}_build_features_incremental_since"] = str(report.incremental_since or report.full_reason)
            figures[f"{tag}_build_features_touched_customers"] = report.touched
        figures[f"{tag}_{name}_s"] = round(timed[name], 1)
        figures[f"{tag}_{name}_peak_python_mb"] = round(peak_rss_mb())
        if jvm:
            figures[f"{tag}_{name}_peak_jvm_mb"] = round(peak_rss_mb(jvm))
        log(f"day {day} {name:<22} {timed[name]:7.1f} s")
    figures.update(_dbt_models(rt, tag))
    total = sum(timed.values())
    for name, seconds in timed.items():
        figures[f"{tag}_{name}_share_pct"] = round(100 * seconds / total, 1)
    figures[f"{tag}_day_total_s"] = round(total, 1)
    figures.update(_against_full_build(rt, day, built_day, tag, log))
    figures[f"{tag}_day"] = day.isoformat()
    figures[f"{tag}_customers"] = rt.lake.read("gold.customer_360").count()
    figures[f"{tag}_history_kept_in"] = str(history)
    return figures
