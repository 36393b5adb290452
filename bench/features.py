"""`c360 bench features [--scale N]`: dbt build time, and RFM segments against the generator's truth.

It generates N persons (default 20 k) x 30 days of the default setting, loads them
(ingest -> silver), resolves identities as of the last day, then times the feature
build as of that day (`dbt build` of every model and test; docs left out) and
compares `gold.customer_rfm` with the truth: each customer key stands for the
person most of its records belong to, and that person either churned inside the
window (truth `churn_date`) or did not. It prints the segment distribution of
both groups and the share of each group in the lapsing segments (R score 1-2:
At Risk, Can't Lose Them, Hibernating, Lost).
"""
from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from bench.identity import DAYS, START, _config, _load, _truth
from jobs import pipeline
from jobs.common import runtime
from jobs.common.bench import Figures, peak_rss_mb
from jobs.common.config import load_config
from jobs.common.stage import Days
from jobs.generate.main import generate
from jobs.identity.main import MAP

DEFAULT_SCALE = 20_000
LAPSING = ("At Risk", "Can't Lose Them", "Hibernating", "Lost")


def key_persons(identity_map: DataFrame, truth: DataFrame) -> DataFrame:
    """customer_key -> the person most of its records belong to (ties: the smallest person id)."""
    counts = identity_map.join(truth, "record_id").groupBy("customer_key", "person_id").count()
    best = Window.partitionBy("customer_key").orderBy(F.col("count").desc(), "person_id")
    return counts.withColumn("_r", F.row_number().over(best)).where("_r = 1").select("customer_key", "person_id")


def segments_by_churn(rfm: DataFrame, persons: DataFrame, churned: DataFrame) -> DataFrame:
    """(churned, rfm_segment, customers) over the active base."""
    return (
        rfm.join(persons, "customer_key")
        .join(churned, "person_id", "left")
        .withColumn("churned", F.coalesce("churned", F.lit(False)))
        .groupBy("churned", "rfm_segment").count()
    )


def run(scale: int | None = None, profile: str | None = None) -> Figures:
    base = load_config(profile)
    persons_n = scale or DEFAULT_SCALE
    scratch = Path(tempfile.mkdtemp(prefix="c360-bench-features-"))
    last = START + dt.timedelta(days=DAYS - 1)
    tag = f"{persons_n // 1000}k"
    try:
        out = scratch / "gen"
        generate(out, persons_n, DAYS, seed=7, start=START, rates=base.generator.rates("default"), log=lambda *_: None)
        config = _config(base, scratch / "lake", out / "landing")
        rt = runtime.start(config=config, app_name="c360 bench features")
        loading = time.perf_counter()
        _load(rt, config, START, last)
        load_s = time.perf_counter() - loading
        resolving = time.perf_counter()
        pipeline.stage("resolve_identities").run(rt, Days.of(last))
        resolve_s = time.perf_counter() - resolving
        began = time.perf_counter()
        report = pipeline.stage("build_features").run(rt, Days.of(last), docs=False)
        figures: Figures = {f"{tag}_dbt_build_s": round(time.perf_counter() - began, 1),
                            f"{tag}_models": report.models, f"{tag}_tests": report.tests,
                            f"{tag}_ingest_and_silver_s": round(load_s, 1), f"{tag}_resolve_s": round(resolve_s, 1)}
        for table in ("gold.customer_360", "gold.customer_rfm", "gold.product_features"):
            figures[f"{tag}_{table.split('.')[1]}_rows"] = rt.lake.read(table).count()

        truth, _ = _truth(rt.spark, out / "truth")
        persons = key_persons(rt.lake.read(MAP), truth)
        churned = (
            rt.spark.read.parquet(str(out / "truth" / "persons"))
            .where(F.col("churn_date").isNotNull() & (F.col("churn_date") <= F.lit(last)))
            .select("person_id", F.lit(True).alias("churned"))
        )
        counts = segments_by_churn(rt.lake.read("gold.customer_rfm"), persons, churned).collect()
        for group, flag in (("churned", True), ("active", False)):
            rows = {r.rfm_segment: r["count"] for r in counts if r.churned == flag}
            total = sum(rows.values()) or 1
            figures[f"{tag}_{group}_buyers"] = sum(rows.values())
            figures[f"{tag}_{group}_lapsing_share"] = round(sum(rows.get(s, 0) for s in LAPSING) / total, 3)
            for segment, n in sorted(rows.items(), key=lambda kv: -kv[1]):
                figures[f"{tag}_{group}_{segment.lower().replace(' ', '_').replace(chr(39), '')}"] = n
        figures["peak_rss_mb_python"] = round(peak_rss_mb())
        jvm_pid = int(rt.spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
        figures["peak_rss_mb_spark_jvm"] = round(peak_rss_mb(jvm_pid))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return figures
