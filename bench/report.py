"""`c360 bench report [--scale N]`: what the run report and drift monitoring cost on a day of N persons.

It generates N persons (default 100 k) x 30 days of the default setting, ingests and
conforms the range (ingest, silver; the quality gate on the last day, as a daily run
would), resolves identities and builds the features as of the last day, scores recommendations and segments, then times the last
two daily stages on that day: `monitor_drift` and `run_report`. It prints their seconds,
the report's size, images and sections with data, and each step's time before them.
"""
from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

from bench.identity import DAYS, START, _config
from jobs import pipeline
from jobs.common import runtime
from jobs.common.bench import Figures, peak_rss_mb
from jobs.common.config import load_config
from jobs.common.stage import Days
from jobs.generate.main import generate

DEFAULT_SCALE = 100_000


def run(scale: int | None = None, profile: str | None = None) -> Figures:
    base = load_config(profile)
    persons = scale or DEFAULT_SCALE
    scratch = Path(tempfile.mkdtemp(prefix="c360-bench-report-"))
    last = START + dt.timedelta(days=DAYS - 1)
    tag = f"{persons // 1000}k"
    figures: Figures = {}
    try:
        out = scratch / "gen"
        generate(out, persons, DAYS, seed=7, start=START, rates=base.generator.rates("default"), log=lambda *_: None)
        config = _config(base, scratch / "lake", out / "landing")
        rt = runtime.start(config=config, app_name="c360 bench report")
        steps = [("ingest", Days.of(START, last), {}), ("quality_gate", Days.of(last), {}),
                 ("silver", Days.of(START, last), {}), ("resolve_identities", Days.of(last), {}),
                 ("build_features", Days.of(last), {"docs": False}), ("score_recommendations", Days.of(last), {}),
                 ("score_customers", Days.of(last), {})]
        for name, days, options in steps:
            began = time.perf_counter()
            pipeline.stage(name).run(rt, days, **options)
            figures[f"{tag}_{name}_s"] = round(time.perf_counter() - began, 1)
        began = time.perf_counter()
        drift = pipeline.stage("monitor_drift").run(rt, Days.of(last))
        figures[f"{tag}_monitor_drift_s"] = round(time.perf_counter() - began, 1)
        figures[f"{tag}_drift_variables"] = drift.monitored
        began = time.perf_counter()
        report = pipeline.stage("run_report").run(rt, Days.of(last))
        figures[f"{tag}_run_report_s"] = round(time.perf_counter() - began, 1)
        figures[f"{tag}_report_kb"] = round(Path(report.path).stat().st_size / 1024)
        figures[f"{tag}_report_images"] = report.images
        figures[f"{tag}_sections_with_data"] = len(report.sections_with_data)
        figures[f"{tag}_sections_without_data"] = ", ".join(report.sections_without_data) or "none"
        figures[f"{tag}_customers"] = rt.lake.read("gold.customer_360").count()
        figures["peak_rss_mb_python"] = round(peak_rss_mb())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return figures
