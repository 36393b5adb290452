"""The `score_recommendations` stage (daily): the champion's top N per customer into serving.

The champion is the registered served model (jobs/recommend/served.py), bound to the
day's catalog and popularity; its `predict` scores every Arrow batch of customers with a
history it may read, and once each list that depends only on consent and segment
(jobs/recommend/scoring.py).

Tables read: gold.customer_product_activity (one row per customer_key, sku and day),
gold.product_features (one row per sku), gold.customer_rfm_history (one row per
customer_key per as-of day), gold.customer_360 (one row per customer_key: consent).

Table written: serving.recommendations, one row per customer_key, rank and run_date
(customer_key, rank, product_id, score, source, reason, model_version, generated_at,
run_date). A run replaces its run_date and drops run days older than
`recommend.retention_days` in the same Delta commit, so a rerun rewrites the day and a
failed run leaves the table as it was.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from pyspark.sql import functions as F

from jobs.common.runtime import Runtime
from jobs.common.stage import Days, StageReport
from jobs.recommend import registry
from jobs.recommend.inputs import (
    ACTIVITY,
    CUSTOMERS,
    PRODUCTS,
    RECOMMENDATIONS,
    RFM_HISTORY,
    histories,
    load_catalog,
    popularity,
    require_gold,
    segments_as_of,
)
from jobs.recommend.interactions import interactions
from jobs.recommend.scoring import score
from jobs.recommend.served import RecommenderModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreReport(StageReport):
    day: dt.date
    model_version: str | None
    customers: int
    rows: int
    by_source: dict[str, int]
    table_version: int
    seconds: float


def run(rt: Runtime, days: Days, *, generated_at: dt.datetime | None = None) -> ScoreReport:
    """Top-N recommendations for every customer as of the last of `days` -> serving.recommendations.

    A range scores once, as of its last day (run_date = `days.last`). Without a champion
    yet (before the first training), customers get content and popularity recommendations
    and model_version is null.

    Args:
        rt: the runtime.
        days: the days run.
        generated_at: the `generated_at` stamped on the rows (default: now).
    """
    lake, config, day = rt.lake, rt.config, days.last
    began = time.perf_counter()
    rc = config.recommend
    generated_at = generated_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    lake.register_all()
    require_gold(lake, day, (ACTIVITY, PRODUCTS, RFM_HISTORY, CUSTOMERS))
    catalog = load_catalog(lake.read(PRODUCTS), rc.repeatable_categories)
    registry.connect(config)
    champion = registry.champion_model(config)
    if champion is None:
        log.warning("no %s champion yet: content and popularity recommendations only", rc.registered_model)
    recent = interactions(lake.read(ACTIVITY), day, rc.weights, rc.half_life_days, rc.history_days).cache()
    segments = segments_as_of(lake.read(RFM_HISTORY), day)
    customers = (
        lake.read(CUSTOMERS)
        .select("customer_key", F.coalesce("consent_personalization", F.lit(False)).alias("personalised"))
        .join(segments, "customer_key", "left")
    )
    today = popularity(recent, segments, catalog)
    model = (champion.bound(catalog, today) if champion is not None
             else RecommenderModel(None, catalog, today, rc.top_n, rc.new_product_slots))
    recs = score(customers, histories(recent), model)
    rows = recs.select(
        "customer_key", "rank", "product_id", "score", "source", "reason",
        F.lit(model.version).cast("string").alias("model_version"),
        F.lit(generated_at).cast("timestamp").alias("generated_at"),
        F.lit(day).alias("run_date"),
    ).sortWithinPartitions("customer_key", "rank")  # sorted in each file: row-group statistics let readers skip
    version = lake.replace_run_date(rows, RECOMMENDATIONS, day, rc.retention_days,
                                    metadata=f"score_recommendations {day}")
    recent.unpersist()
    written = lake.read(RECOMMENDATIONS).where(F.col("run_date") == F.lit(day))
    counts = {r.source: r["count"] for r in written.groupBy("source").count().collect()}
    return ScoreReport(
        day=day, model_version=model.version,
        customers=written.select("customer_key").distinct().count(), rows=sum(counts.values()),
        by_source=counts, table_version=version, seconds=time.perf_counter() - began,
    )
