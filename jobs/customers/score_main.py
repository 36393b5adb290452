"""The `score_customers` stage (daily): customer scores and segments as of the day, into serving.

Tables read: gold.customer_purchase_summary (one row per customer_key with a purchase up
to the day), gold.customer_rfm (one row per customer_key in the RFM base).

Tables written, each one commit per run that replaces its run_date and drops run days
older than `customers.retention_days` (a rerun rewrites the day; a failed run leaves the
table as it was):
- serving.customer_scores, one row per customer_key with a purchase per run_date:
  expected_purchases_90d, p_alive, clv_12m (the `c360_clv` champion; 12 months discounted
  at `customers.annual_discount_rate`), churn_probability, churn_risk_band, churn_drivers
  (null until a churn model is registered), clv_model_version, churn_model_version,
  generated_at, run_date;
- serving.customer_segments, one row per customer_key of the RFM base per run_date:
  rfm_score, rfm_segment, cluster_id, cluster_name (null until a segment model is
  registered), segment_model_version, generated_at, run_date.

Before the first lifetime value model is trained, the run writes the segments only and
says so in its report and log.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common import models
from jobs.common.lake import Lake
from jobs.common.runtime import Runtime
from jobs.common.stage import Days, StageReport
from jobs.customers.clv_model import ScoreParams, load
from jobs.customers.gold import RFM, SCORES, SEGMENTS, SUMMARY, require_gold
from jobs.customers.scoring import clv_scores

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CustomerScoreReport(StageReport):
    day: dt.date
    clv_model_version: str | None
    scored_customers: int
    segmented_customers: int
    scores_version: int | None
    segments_version: int
    note: str
    seconds: float


def run(rt: Runtime, days: Days, *, generated_at: dt.datetime | None = None) -> CustomerScoreReport:
    """Scores and segments of every customer as of the last of `days` -> serving.customer_scores / _segments.

    Args:
        rt: the runtime.
        days: the days run; a range scores once, as of its last day (run_date = `days.last`).
        generated_at: the `generated_at` stamped on the rows (default: now).
    """
    lake, config, day = rt.lake, rt.config, days.last
    cc = config.customers
    began = time.perf_counter()
    generated_at = generated_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    stamp = (F.lit(generated_at).cast("timestamp").alias("generated_at"), F.lit(day).alias("run_date"))
    lake.register_all()
    require_gold(lake, day, (SUMMARY, RFM))
    models.connect(config, cc.experiment)
    clv_ref = models.champion(cc.clv_registered_model)

    segments = lake.read(RFM).select(
        "customer_key", "rfm_score", "rfm_segment", F.lit(None).cast("int").alias("cluster_id"),
        F.lit(None).cast("string").alias("cluster_name"), F.lit(None).cast("string").alias("segment_model_version"),
        *stamp)
    segments_version = _replace_day(lake, segments, SEGMENTS, day, cc.retention_days)
    segmented = _rows_of_day(lake, SEGMENTS, day)

    if clv_ref is None:
        note = (f"no {cc.clv_registered_model} champion yet (run `c360 train-clv`): "
                f"RFM segments written, customer scores not")
        log.warning(note)
        return CustomerScoreReport(day=day, clv_model_version=None, scored_customers=0,
                                   segmented_customers=segmented, scores_version=None,
                                   segments_version=segments_version, note=note,
                                   seconds=time.perf_counter() - began)
    model = load(clv_ref.uri)
    scored = clv_scores(lake.read(SUMMARY), model, ScoreParams(annual_discount_rate=cc.annual_discount_rate))
    scores = scored.select(
        "customer_key", F.col("expected_purchases").alias("expected_purchases_90d"), "p_alive",
        F.col("clv").alias("clv_12m"),
        F.lit(None).cast("double").alias("churn_probability"), F.lit(None).cast("string").alias("churn_risk_band"),
        F.lit(None).cast("array<string>").alias("churn_drivers"),
        F.lit(clv_ref.label).alias("clv_model_version"), F.lit(None).cast("string").alias("churn_model_version"),
        *stamp)
    scores_version = _replace_day(lake, scores, SCORES, day, cc.retention_days)
    return CustomerScoreReport(
        day=day, clv_model_version=clv_ref.label, scored_customers=_rows_of_day(lake, SCORES, day),
        segmented_customers=segmented, scores_version=scores_version, segments_version=segments_version,
        note="lifetime value scored; churn and behavioural segments not trained yet",
        seconds=time.perf_counter() - began)


def _replace_day(lake: Lake, rows: DataFrame, table: str, day: dt.date, retention_days: int) -> int:
    """Rows of `day` replace that run day, and run days older than the retention go, in one commit."""
    oldest = day - dt.timedelta(days=retention_days)
    return lake.replace_where(rows, table, f"run_date = '{day}' OR run_date < '{oldest}'",
                              partition_by=["run_date"], metadata=f"score_customers {day}")


def _rows_of_day(lake: Lake, table: str, day: dt.date) -> int:
    return lake.read(table).where(F.col("run_date") == F.lit(day)).count()
