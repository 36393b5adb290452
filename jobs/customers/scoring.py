"""Customer scores in Spark: the registered lifetime value model over every customer of a summary.

Reads a DataFrame shaped like `gold.customer_purchase_summary` (one row per customer_key:
frequency, recency_days, t_days, monetary_value); returns one row per customer_key with
expected purchases over a horizon, P(alive), the expected spend per purchase and the
discounted lifetime value. The model (its fitted parameters) travels to the executors
inside the function; each Arrow batch is scored by the model's own `score`, the logic its
registered pyfunc serves, so the same code scores a laptop's sample and a cluster's base.

`holdout_figures` judges a model on `gold.customer_purchase_holdout` in Spark: per-customer
error of the predicted holdout purchases against a naive baseline, the aggregate error, and
the holdout table by calibration frequency.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.customers import clv
from jobs.customers.churn import INPUT_COLUMNS as INPUT_COLUMNS_CHURN
from jobs.customers.churn import ChurnError, ChurnModel
from jobs.customers.clv_model import INPUT_COLUMNS, LifetimeValueModel, ScoreParams
from jobs.customers.segments import SegmentModel, behaviour

CLV_SCORES_DDL = "customer_key STRING, expected_purchases DOUBLE, p_alive DOUBLE, expected_spend DOUBLE, clv DOUBLE"
SEGMENTS_DDL = "customer_key STRING, cluster_id INT, cluster_name STRING"
CHURN_SCORES_DDL = ("customer_key STRING, churn_probability DOUBLE, churn_risk_band STRING, "
                    "churn_drivers ARRAY<STRING>")
HOLDOUT_TABLE_MAX_FREQUENCY = 7


def clv_scores(summary: DataFrame, model: LifetimeValueModel, params: ScoreParams) -> DataFrame:
    """One row per customer_key of `summary`: expected_purchases (within the horizon), p_alive, expected_spend, clv.

    Raises:
        clv.ClvError: `summary` lacks a column of `INPUT_COLUMNS` (checked before any job runs).
    """
    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield model.score(batch, params)

    return _model_input(summary).mapInPandas(score, CLV_SCORES_DDL)


def churn_scores(examples: DataFrame, model: ChurnModel) -> DataFrame:
    """One row per customer_key of `examples` (gold.customer_churn_features, or the examples of one cutoff):
    churn_probability, churn_risk_band, churn_drivers (up to three sentences), by the model's own `score`.

    Raises:
        ChurnError: `examples` lacks a column the model takes (checked before any job runs).
    """
    missing = [c for c in INPUT_COLUMNS_CHURN if c not in examples.columns]
    if missing:
        raise ChurnError(f"the churn examples have no column {', '.join(missing)}")

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield model.score(batch)

    return examples.select(*INPUT_COLUMNS_CHURN).mapInPandas(score, CHURN_SCORES_DDL)


def segment_assignments(features: DataFrame, model: SegmentModel) -> DataFrame:
    """customer_key, cluster_id, cluster_name per customer with a purchase in `features` (gold.customer_features).

    The behaviour columns are built for the model's categories; each Arrow batch is assigned by the model's own
    `assign` (nearest centroid).
    """
    rows = behaviour(features, model.categories)

    def assign(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield model.assign(batch)

    return rows.mapInPandas(assign, SEGMENTS_DDL)


def summary_frame(summary: DataFrame, time_unit_days: float = 1.0) -> pd.DataFrame:
    """`summary` on the driver in the models' shape (customer_id, frequency, recency, T, monetary_value).

    For fitting: the models fit on the driver, on the whole summary or a sample of it.
    """
    return _model_input(summary).select(
        F.col("customer_key").alias("customer_id"), "frequency",
        (F.col("recency_days") / F.lit(time_unit_days)).alias("recency"),
        (F.col("t_days") / F.lit(time_unit_days)).alias("T"), "monetary_value",
    ).toPandas()


def holdout_figures(holdout: DataFrame, model: LifetimeValueModel, holdout_days: int) -> dict[str, Any]:
    """`model` judged on `holdout` (gold.customer_purchase_holdout): its errors against the naive baseline.

    Returns:
        customers, actual and predicted holdout purchases in all, their relative error,
        per-customer MAE of the model and of the naive baseline (each customer's calibration
        purchase rate, repeat purchase days per day since the first, carried forward), and
        `table`: per calibration frequency (the last row: that many or more) customers and the
        mean actual and predicted holdout purchases.
    """
    params = ScoreParams(horizon_days=float(holdout_days))
    predicted = clv_scores(holdout, model, params).select("customer_key", "expected_purchases")
    rate = F.when(F.col("t_days") > 0, F.col("frequency") / F.col("t_days")).otherwise(F.lit(0.0))
    judged = holdout.select(
        "customer_key", F.col("holdout_purchases").cast("double").alias("actual"),
        (rate * F.lit(float(holdout_days))).alias("naive"),
        F.least(F.col("frequency"), F.lit(HOLDOUT_TABLE_MAX_FREQUENCY)).alias("group"),
    ).join(predicted, "customer_key").withColumnRenamed("expected_purchases", "predicted").cache()
    try:
        totals = judged.agg(
            F.count("*").alias("customers"), F.sum("actual").alias("actual"), F.sum("predicted").alias("predicted"),
            F.avg(F.abs(F.col("predicted") - F.col("actual"))).alias("mae"),
            F.avg(F.abs(F.col("naive") - F.col("actual"))).alias("mae_naive"),
        ).first()
        rows = judged.groupBy("group").agg(F.count("*").alias("customers"), F.avg("actual").alias("actual"),
                                           F.avg("predicted").alias("predicted")).orderBy("group").collect()
    finally:
        judged.unpersist()
    if not totals["customers"]:
        raise clv.ClvError("gold.customer_purchase_holdout has no customer: no purchase before its calibration end")
    table = [{"frequency": f"{r['group']}+" if r["group"] == HOLDOUT_TABLE_MAX_FREQUENCY else str(r["group"]),
              "customers": r["customers"], "actual": _rounded(r["actual"]), "predicted": _rounded(r["predicted"])}
             for r in rows]
    actual, total = float(totals["actual"]), float(totals["predicted"])
    return {
        "customers": int(totals["customers"]), "holdout_purchases": actual, "predicted_purchases": total,
        "aggregate_error": (total - actual) / actual if actual else None,
        "mae": float(totals["mae"]), "mae_naive": float(totals["mae_naive"]), "table": table,
    }


def _rounded(value: float | None) -> float | None:
    """A table figure to 4 places; None stays None (a group whose every prediction is null)."""
    return None if value is None else round(value, 4)


def _model_input(summary: DataFrame) -> DataFrame:
    """The summary's model columns, numbers as doubles.

    Raises:
        clv.ClvError: a column of `INPUT_COLUMNS` is missing.
    """
    missing = [c for c in INPUT_COLUMNS if c not in summary.columns]
    if missing:
        raise clv.ClvError(f"the customer summary has no column {', '.join(missing)} "
                           f"(expected the columns of gold.customer_purchase_summary)")
    return summary.select(F.col("customer_key").cast("string"),
                          *(F.col(c).cast("double") for c in INPUT_COLUMNS[1:]))
