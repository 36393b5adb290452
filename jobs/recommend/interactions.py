"""Interactions: gold.customer_product_activity -> one row per (customer_key, sku) as of a cutoff.

An interaction's strength is the weighted sum of its views, add-to-carts and purchases
(weights from `recommend.weights`), each day's events halved every `half_life_days`
before the cutoff; days after the cutoff are never read, so a training set for a past
cutoff sees nothing of what came later.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.common.config import InteractionWeights

# What a customer last did with a product, most telling first (explanations quote it).
BOUGHT, ADDED_TO_CART, VIEWED = 2, 1, 0


def decay(age_days: Column, half_life_days: float) -> Column:
    """The weight left after `age_days`: 1 on the day, 0.5 after one half-life."""
    return F.pow(F.lit(0.5), age_days.cast("double") / F.lit(float(half_life_days)))


def interactions(activity: DataFrame, cutoff: dt.date, weights: InteractionWeights,
                 half_life_days: float, history_days: int) -> DataFrame:
    """Weighted, decayed interactions up to `cutoff` (inclusive).

    Args:
        activity: gold.customer_product_activity (customer_key, sku, activity_date, views,
            add_to_carts, purchases, ...).
        cutoff: the last day that counts.
        weights: what one view, add-to-cart and purchase adds.
        half_life_days: days after which an event counts half.
        history_days: days before the cutoff that count at all.

    Returns:
        customer_key, sku, strength (> 0), views, add_to_carts, purchases, last_date and
        kind (BOUGHT, ADDED_TO_CART or VIEWED: the strongest thing the customer did).
    """
    first = cutoff - dt.timedelta(days=history_days - 1)
    raw = (
        F.col("views") * F.lit(weights.view)
        + F.col("add_to_carts") * F.lit(weights.add_to_cart)
        + F.col("purchases") * F.lit(weights.purchase)
    )
    age = F.datediff(F.lit(cutoff), F.col("activity_date"))
    return (
        activity
        .where(F.col("activity_date").between(F.lit(first), F.lit(cutoff)))
        .groupBy("customer_key", "sku")
        .agg(
            F.sum(raw * decay(age, half_life_days)).alias("strength"),
            F.sum("views").cast("int").alias("views"),
            F.sum("add_to_carts").cast("int").alias("add_to_carts"),
            F.sum("purchases").cast("int").alias("purchases"),
            F.max("activity_date").alias("last_date"),
        )
        .where(F.col("strength") > 0)
        .withColumn(
            "kind",
            F.when(F.col("purchases") > 0, BOUGHT).when(F.col("add_to_carts") > 0, ADDED_TO_CART).otherwise(VIEWED),
        )
    )


def purchases_between(activity: DataFrame, after: dt.date, until: dt.date) -> DataFrame:
    """(customer_key, sku) bought on a day in (`after`, `until`]: the relevant items of a holdout."""
    return (
        activity
        .where((F.col("activity_date") > F.lit(after)) & (F.col("activity_date") <= F.lit(until))
               & (F.col("purchases") > 0))
        .select("customer_key", "sku")
        .distinct()
    )


def sample_customers(frame: DataFrame, max_customers: int, customers: int) -> DataFrame:
    """A hash-chosen share of the customers (the same ones on every run) when there are more than `max_customers`."""
    if customers <= max_customers:
        return frame
    buckets = 10_000
    keep = max(1, int(buckets * max_customers / customers))
    return frame.where(F.pmod(F.xxhash64("customer_key"), F.lit(buckets)) < keep)
