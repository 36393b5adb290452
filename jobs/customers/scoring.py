"""Customer scores in Spark: the lifetime value models applied to every customer of a summary.

Reads a DataFrame shaped like `gold.customer_purchase_summary` (one row per customer_key:
frequency, recency_days, t_days, monetary_value); returns one row per customer_key with
expected purchases over a horizon, P(alive), the expected spend per purchase and the
discounted lifetime value. The fitted parameters travel to the executors inside the
function; each Arrow batch is scored by `clv.predict` (pymc-marketing's formulas), so the
same code scores a laptop's sample and a cluster's base.
"""
from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.customers import clv

CLV_SCORES_DDL = "customer_key STRING, expected_purchases DOUBLE, p_alive DOUBLE, expected_spend DOUBLE, clv DOUBLE"
GOLD_SUMMARY_COLUMNS = ("customer_key", "frequency", "recency_days", "t_days", "monetary_value")


def clv_scores(summary: DataFrame, purchases: clv.PurchaseModel, spend: clv.SpendModel, *, horizon_days: float,
               clv_months: int, annual_discount_rate: float) -> DataFrame:
    """One row per customer_key of `summary`: expected_purchases (within `horizon_days`), p_alive, expected_spend, clv.

    Raises:
        clv.ClvError: `summary` lacks a column of `GOLD_SUMMARY_COLUMNS` (checked before any job runs).
    """
    unit = purchases.time_unit_days

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            out = clv.predict(batch, purchases, spend, horizon=horizon_days / unit, clv_months=clv_months,
                              annual_discount_rate=annual_discount_rate)
            yield out.rename(columns={"customer_id": "customer_key"})[
                ["customer_key", "expected_purchases", "p_alive", "expected_spend", "clv"]]

    return _in_model_units(summary, unit).mapInPandas(score, CLV_SCORES_DDL)


def summary_frame(summary: DataFrame, time_unit_days: float = 1.0) -> pd.DataFrame:
    """`summary` on the driver in the models' shape (customer_id, frequency, recency, T, monetary_value).

    For fitting: the models fit on the driver, on the whole summary or a sample of it.
    """
    return _in_model_units(summary, time_unit_days).toPandas()


def _in_model_units(summary: DataFrame, time_unit_days: float) -> DataFrame:
    """The gold summary's columns as the models take them: times in `time_unit_days`, numbers as doubles.

    Raises:
        clv.ClvError: a column of `GOLD_SUMMARY_COLUMNS` is missing.
    """
    missing = [c for c in GOLD_SUMMARY_COLUMNS if c not in summary.columns]
    if missing:
        raise clv.ClvError(f"the customer summary has no column {', '.join(missing)} "
                           f"(expected the columns of gold.customer_purchase_summary)")
    return summary.select(
        F.col("customer_key").cast("string").alias("customer_id"), F.col("frequency").cast("double"),
        (F.col("recency_days") / F.lit(time_unit_days)).cast("double").alias("recency"),
        (F.col("t_days") / F.lit(time_unit_days)).cast("double").alias("T"),
        F.col("monetary_value").cast("double"),
    )
