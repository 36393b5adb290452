"""The `score_customers` stage (daily): customer scores and segments as of the day, into serving.

Tables read: gold.customer_purchase_summary (one row per customer_key with a purchase up
to the day), gold.customer_rfm (one row per customer_key in the RFM base),
gold.customer_churn_features (one row per customer_key active on the day),
gold.customer_features (one row per customer_key: the behaviour the segments cluster).

Tables written, each one commit per run that replaces its run_date and drops run days
older than `customers.retention_days` (a rerun rewrites the day; a failed run leaves the
table as it was):
- serving.customer_scores, one row per customer_key with a purchase per run_date:
  expected_purchases_90d, p_alive, clv_12m (the `c360_clv` champion; 12 months discounted
  at `customers.annual_discount_rate`), churn_probability, churn_risk_band, churn_drivers
  (the `c360_churn` champion; null for a customer not active on the day: no purchase in
  `customers.churn.active_days`), clv_model_version, churn_model_version, generated_at,
  run_date; a model without a champion yet leaves its columns null;
- serving.customer_segments, one row per customer_key of the RFM base per run_date:
  rfm_score, rfm_segment, cluster_id, cluster_name (the `c360_segments` champion's
  cluster; null until one is registered), segment_model_version, generated_at, run_date.

Before the first lifetime value or churn model is trained, the run writes the segments
only and says so in its report and log.
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
from jobs.customers.clv_model import ScoreParams
from jobs.customers.gold import CHURN_FEATURES, FEATURES, RFM, SCORES, SEGMENTS, SUMMARY, require_gold
from jobs.customers.scoring import churn_scores, clv_scores, segment_assignments

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CustomerScoreReport(StageReport):
    day: dt.date
    clv_model_version: str | None
    churn_model_version: str | None
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
    churn_ref = models.champion(cc.churn.registered_model)
    segments_ref = models.champion(cc.segments.registered_model)

    segments = lake.read(RFM).select("customer_key", "rfm_score", "rfm_segment")
    if segments_ref is not None:
        require_gold(lake, day, (FEATURES,))
        clusters = segment_assignments(lake.read(FEATURES), models.load_python_model(segments_ref))
        segments = segments.join(clusters, "customer_key", "left")
    else:
        segments = segments.select("*", F.lit(None).cast("int").alias("cluster_id"),
                                   F.lit(None).cast("string").alias("cluster_name"))
    segments = segments.select(
        "customer_key", "rfm_score", "rfm_segment", "cluster_id", "cluster_name",
        F.lit(segments_ref.label if segments_ref else None).cast("string").alias("segment_model_version"), *stamp)
    segments_version = _replace_day(lake, segments, SEGMENTS, day, cc.retention_days)
    segmented = _rows_of_day(lake, SEGMENTS, day)

    if clv_ref is None and churn_ref is None:
        note = (f"no {cc.clv_registered_model} or {cc.churn.registered_model} champion yet (run `c360 train-clv` "
                f"and `c360 train-churn`): RFM segments written, customer scores not")
        log.warning(note)
        return CustomerScoreReport(day=day, clv_model_version=None, churn_model_version=None, scored_customers=0,
                                   segmented_customers=segmented, scores_version=None,
                                   segments_version=segments_version, note=note,
                                   seconds=time.perf_counter() - began)
    summary = lake.read(SUMMARY)
    rows = summary.select("customer_key")
    if clv_ref is not None:
        scored = clv_scores(summary, models.load_python_model(clv_ref),
                            ScoreParams(annual_discount_rate=cc.annual_discount_rate))
        rows = rows.join(scored.select("customer_key", F.col("expected_purchases").alias("expected_purchases_90d"),
                                       "p_alive", F.col("clv").alias("clv_12m")), "customer_key", "left")
    else:
        rows = rows.select("customer_key", *(F.lit(None).cast("double").alias(c)
                                             for c in ("expected_purchases_90d", "p_alive", "clv_12m")))
    if churn_ref is not None:
        require_gold(lake, day, (CHURN_FEATURES,))
        model = models.load_python_model(churn_ref)
        rows = rows.join(churn_scores(lake.read(CHURN_FEATURES), model), "customer_key", "left")
    else:
        rows = rows.select("*", F.lit(None).cast("double").alias("churn_probability"),
                           F.lit(None).cast("string").alias("churn_risk_band"),
                           F.lit(None).cast("array<string>").alias("churn_drivers"))
    scores = rows.select(
        "customer_key", "expected_purchases_90d", "p_alive", "clv_12m", "churn_probability", "churn_risk_band",
        "churn_drivers", F.lit(clv_ref.label if clv_ref else None).cast("string").alias("clv_model_version"),
        F.lit(churn_ref.label if churn_ref else None).cast("string").alias("churn_model_version"), *stamp)
    scores_version = _replace_day(lake, scores, SCORES, day, cc.retention_days)
    missing = [name for name, ref in (("lifetime value", clv_ref), ("churn", churn_ref)) if ref is None]
    note = ("scores written" + (f"; no {' or '.join(missing)} champion yet, its columns are null" if missing else "")
            + ("" if segments_ref else "; no behavioural segment champion yet, cluster columns null"))
    return CustomerScoreReport(
        day=day, clv_model_version=clv_ref.label if clv_ref else None,
        churn_model_version=churn_ref.label if churn_ref else None,
        scored_customers=_rows_of_day(lake, SCORES, day), segmented_customers=segmented,
        scores_version=scores_version, segments_version=segments_version, note=note,
        seconds=time.perf_counter() - began)


def _replace_day(lake: Lake, rows: DataFrame, table: str, day: dt.date, retention_days: int) -> int:
    """Rows of `day` replace that run day, and run days older than the retention go, in one commit."""
    rows = rows.sortWithinPartitions("customer_key")  # sorted in each file: row-group statistics let readers skip
    return lake.replace_run_date(rows, table, day, retention_days, metadata=f"score_customers {day}")


def _rows_of_day(lake: Lake, table: str, day: dt.date) -> int:
    return lake.read(table).where(F.col("run_date") == F.lit(day)).count()
