"""`c360 bench recs_scoring`: time `score-recommendations` for every customer of a lake.

It reads the lake of the profile (`C360_LAKE_ROOT` points it at any lake the pipeline
has built, e.g. one of 1 M persons), takes the day its gold layer is as of, makes sure
a champion exists (without one it trains a model first, on the first grid point and
without the `implicit` comparison, so only the scoring is timed) and times the scoring
of every customer in gold.customer_360: top N per customer into serving.recommendations.

Customers without personalization consent get the non-personalised list, which costs
less; so it also times the same scoring with every customer treated as consenting
(written to a scratch Delta table outside the lake): the cost when all are personalised.

`--scale N` also times the scoring step alone, without the write (Spark's `noop` sink), for
N customers: the lake's customers and histories copied under new keys until there are about
N. It runs twice: as served (a list without a history computed once per consent and segment),
and with every customer put through `predict` one by one, the baseline.
"""
from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time

from pyspark.sql import functions as F

from jobs import pipeline
from jobs.common import runtime
from jobs.common.bench import Figures, peak_rss_mb
from jobs.common.config import AlsSearch, load_config
from jobs.common.stage import Days
from jobs.recommend import registry
from jobs.recommend.inputs import (
    ACTIVITY,
    CUSTOMERS,
    PRODUCTS,
    RFM_HISTORY,
    histories,
    load_catalog,
    popularity,
    segments_as_of,
)
from jobs.recommend.interactions import interactions
from jobs.recommend.scoring import RECS_SCHEMA, score


def run(scale: int | None = None, profile: str | None = None) -> Figures:
    config = load_config(profile)
    rt = runtime.start(config=config, app_name="c360 bench recs_scoring")
    rt.lake.register_all()
    day = rt.lake.read(ACTIVITY).agg(F.max("as_of_date")).first()[0]
    figures: Figures = {"lake": config.lake.root, "day": day.isoformat()}
    registry.connect(config)
    if registry.champion(config) is None:
        rc = config.recommend
        first = AlsSearch(ranks=rc.search.ranks[-1:], reg_params=rc.search.reg_params[-1:], alphas=rc.search.alphas[:1])
        quick = dataclasses.replace(config, recommend=dataclasses.replace(rc, search=first))
        began = time.perf_counter()
        trained = pipeline.stage("train_recommender").run(dataclasses.replace(rt, config=quick), Days.of(day),
                                                          compare_implicit=False)
        figures["train_one_grid_point_s"] = round(time.perf_counter() - began, 1)
        figures["train_interactions"] = trained.train_interactions
    began = time.perf_counter()
    report = pipeline.stage("score_recommendations").run(rt, Days.of(day))
    seconds = time.perf_counter() - began
    figures.update({
        "model_version": report.model_version,
        "customers": report.customers,
        "rows": report.rows,
        "score_s": round(seconds, 1),
        "rows_per_s": round(report.rows / seconds),
        **{f"rows_{source}": n for source, n in sorted(report.by_source.items())},
        "peak_rss_mb_python": round(peak_rss_mb()),
    })
    figures.update(_all_personalised(rt, config, day))
    if scale:
        figures.update(_scoring_alone(rt, config, day, scale))
    jvm_pid = int(rt.spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
    figures["peak_rss_mb_spark_jvm"] = round(peak_rss_mb(jvm_pid))
    return figures


def _inputs(rt, config, day, personalised):
    """What `score-recommendations` scores as of `day`, with `personalised` (a column of gold.customer_360) as each
    customer's consent: (customers, interactions cached, the champion bound to the day)."""
    rc = config.recommend
    lake = rt.lake
    catalog = load_catalog(lake.read(PRODUCTS), rc.repeatable_categories)
    recent = interactions(lake.read(ACTIVITY), day, rc.weights, rc.half_life_days, rc.history_days).cache()
    segments = segments_as_of(lake.read(RFM_HISTORY), day)
    customers = (lake.read(CUSTOMERS).select("customer_key", personalised.alias("personalised"))
                 .join(segments, "customer_key", "left"))
    model = registry.champion_model(config).bound(catalog, popularity(recent, segments, catalog))
    return customers, recent, model


def _all_personalised(rt, config, day) -> Figures:
    scratch = tempfile.mkdtemp(prefix="c360-bench-scoring-")
    try:
        began = time.perf_counter()
        customers, recent, model = _inputs(rt, config, day, F.lit(True))
        recs = score(customers, histories(recent), model)
        recs.write.format("delta").save(f"{scratch}/recommendations")
        seconds = time.perf_counter() - began
        recent.unpersist()
        written = rt.spark.read.format("delta").load(f"{scratch}/recommendations")
        counts = {r.source: r["count"] for r in written.groupBy("source").count().collect()}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "all_personalised_score_s": round(seconds, 1),
        "all_personalised_rows": sum(counts.values()),
        **{f"all_personalised_rows_{source}": n for source, n in sorted(counts.items())},
    }


def _scoring_alone(rt, config, day, persons: int) -> Figures:
    """The scoring step for about `persons` customers (the lake's, copied), into a `noop` sink: served, and with
    every customer through `predict`."""
    customers, recent, model = _inputs(rt, config, day, F.coalesce("consent_personalization", F.lit(False)))
    copies = rt.spark.range(max(1, round(persons / customers.count()))).select(F.col("id").alias("copy"))

    def copied(frame):
        return frame.crossJoin(copies).withColumn(
            "customer_key", F.concat("customer_key", F.lit("-"), F.col("copy").cast("string"))).drop("copy")

    many = copied(customers).localCheckpoint()
    many_histories = copied(histories(recent)).localCheckpoint()
    recent.unpersist()

    def one_by_one(batches):
        for batch in batches:
            yield model.predict(None, batch)

    consented = many_histories.join(many.where("personalised").select("customer_key"), "customer_key")
    timed = {
        "served": lambda: score(many, many_histories, model),
        "one_by_one": lambda: many.join(consented, "customer_key", "left").mapInPandas(one_by_one, RECS_SCHEMA),
    }
    figures: Figures = {"scoring_alone_customers": many.count(),
                        "scoring_alone_personal": consented.count()}
    for name, recs in timed.items():
        began = time.perf_counter()
        recs().write.format("noop").mode("overwrite").save()
        figures[f"scoring_alone_{name}_s"] = round(time.perf_counter() - began, 1)
    return figures
