"""`c360 bench ingest`: landing -> bronze throughput, and one incremental day, per scale.

For each scale (persons; default 100 k and 1 M) it generates 30 days of landing
files, then measures:
- floor: pyarrow reading every landing file (CSV / JSON lines) and writing it as
  Parquet, no Spark, no checks (what a plain copy costs on this machine);
- history: `ingest` of days 1..29 for every source in one batch (rows/s over all
  data lines), then silver for the same range;
- incremental day: the whole daily pipeline (ingest -> gate -> silver) for day 30,
  as `c360_daily` runs it.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from jobs import pipeline
from jobs.common import runtime
from jobs.common.bench import Figures, peak_rss_mb
from jobs.common.config import load_config
from jobs.common.rates import VariationRates
from jobs.common.stage import Days
from jobs.generate.main import generate

START = dt.date(2026, 10, 1)
DAYS = 30


def _floor(landing: Path, scratch: Path) -> tuple[int, float]:
    rows = 0
    scratch.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    for i, path in enumerate(sorted(p for p in landing.rglob("*") if p.is_file())):
        try:
            table = pacsv.read_csv(path) if path.suffix == ".csv" else pajson.read_json(path)
        except Exception:  # noqa: BLE001 - files with planted broken lines: pyarrow has no quarantine
            continue
        pq.write_table(table, scratch / f"{i}.parquet")
        rows += table.num_rows
    return rows, time.perf_counter() - began


def _data_lines(landing: Path, last: dt.date) -> int:
    total = 0
    for path in landing.rglob("*"):
        if path.is_file() and dt.date.fromisoformat(path.parent.name[3:]) <= last:
            total += path.read_bytes().count(b"\n") - (1 if path.suffix == ".csv" else 0)
    return total


def measure(persons: int, scratch: Path, profile: str | None) -> Figures:
    tag = f"{persons // 1000}k"
    out = scratch / tag
    generate(out, persons, DAYS, seed=7, start=START, rates=VariationRates(), log=lambda *_: None)
    landing = out / "landing"
    floor_rows, floor_s = _floor(landing, scratch / f"{tag}_floor")
    base = load_config(profile)
    config = dataclasses.replace(base, lake=dataclasses.replace(base.lake, root=str(scratch / f"{tag}_lake")),
                                 landing=dataclasses.replace(base.landing, uri=str(landing)))
    rt = runtime.start(config=config, app_name="c360 bench ingest")
    last_history = START + dt.timedelta(days=DAYS - 2)
    history_lines = _data_lines(landing, last_history)
    figures: Figures = {}
    for step in ("ingest", "silver"):
        began = time.perf_counter()
        pipeline.stage(step).run(rt, Days.of(START, last_history))
        figures[f"{tag}_history_{step}_s"] = round(time.perf_counter() - began, 1)
    day = START + dt.timedelta(days=DAYS - 1)
    day_total = 0.0
    for step in ("ingest", "quality_gate", "silver"):
        began = time.perf_counter()
        pipeline.stage(step).run(rt, Days.of(day))
        seconds = time.perf_counter() - began
        day_total += seconds
        figures[f"{tag}_day_{step}_s"] = round(seconds, 1)
    return {
        f"{tag}_history_data_lines": history_lines,
        f"{tag}_history_ingest_rows_per_s": round(history_lines / figures[f"{tag}_history_ingest_s"]),
        f"{tag}_pyarrow_floor_rows_per_s": round(floor_rows / floor_s),
        **figures,
        f"{tag}_incremental_day_total_s": round(day_total, 1),
    }


def run(scale: int | None = None, profile: str | None = None) -> Figures:
    scales = [scale] if scale else [100_000, 1_000_000]
    scratch = Path(tempfile.mkdtemp(prefix="c360-bench-ingest-"))
    figures: Figures = {}
    try:
        for persons in scales:
            figures.update(measure(persons, scratch, profile))
            shutil.rmtree(scratch / f"{persons // 1000}k", ignore_errors=True)
        figures["peak_rss_mb_python"] = round(peak_rss_mb())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return figures
