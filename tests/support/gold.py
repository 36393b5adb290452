"""A small gold layer with known tastes, for the recommender's tests (no dbt run needed).

Customers fall into four taste groups; each group shops one category. Its columns are
those of the dbt marts the recommender reads (gold.customer_product_activity,
gold.product_features, gold.customer_rfm_history, gold.customer_360).
"""
from __future__ import annotations

import datetime as dt

import numpy as np
from pyspark.sql import SparkSession

from jobs.common.lake import Lake

CATEGORIES = ("Shoes", "Tea", "Books", "Toys")
REPEATABLE = ("Tea",)


def write_gold(spark: SparkSession, lake: Lake, last: dt.date, days: int = 28, customers: int = 160,
               per_category: int = 10, seed: int = 3) -> dict[str, object]:
    """Write the four gold tables as of `last`; returns what the test needs to know about them."""
    rng = np.random.default_rng(seed)
    skus = [f"SKU-{c}{j:02d}" for c in range(len(CATEGORIES)) for j in range(per_category)]
    unsellable = {skus[3], skus[per_category + 3]}
    products = [
        (sku, f"{CATEGORIES[n // per_category]} item {n % per_category}", CATEGORIES[n // per_category],
         f"Brand{n // per_category}{n % 2}", ("budget", "mid", "premium")[n % 3], sku not in unsellable, True,
         last, 100 - n)
        for n, sku in enumerate(skus)
    ]
    spark_products = spark.createDataFrame(
        products, "sku string, product_name string, category string, brand string, price_band string, "
                  "in_stock boolean, is_active boolean, as_of_date date, popularity_rank_30d int")
    keys = [f"ck-{i:04d}" for i in range(customers)]
    rows = []
    first = last - dt.timedelta(days=days - 1)
    for i, key in enumerate(keys):
        group = i % len(CATEGORIES)
        # Within its category, each customer favours a few items; popularity is skewed.
        weights = np.exp(-0.3 * np.arange(per_category))
        weights = weights / weights.sum()
        for d in range(days):
            if rng.random() > 0.35:
                continue
            day = first + dt.timedelta(days=d)
            cat = group if rng.random() < 0.9 else int(rng.integers(len(CATEGORIES)))
            item = skus[cat * per_category + int(rng.choice(per_category, p=weights))]
            views = int(rng.integers(1, 4))
            carts = int(rng.random() < 0.5)
            bought = int(carts and rng.random() < 0.6)
            rows.append((key, item, day, views, carts, bought, bought))
    activity = spark.createDataFrame(
        rows, "customer_key string, sku string, activity_date date, views int, add_to_carts int, "
              "purchases int, units int"
    ).groupBy("customer_key", "sku", "activity_date").sum("views", "add_to_carts", "purchases", "units")
    for name in ("views", "add_to_carts", "purchases", "units"):
        activity = activity.withColumnRenamed(f"sum({name})", name)
    from pyspark.sql import functions as F

    activity = activity.select(
        "customer_key", "sku", "activity_date",
        *[F.col(c).cast("int").alias(c) for c in ("views", "add_to_carts", "purchases", "units")],
        F.lit(last).alias("as_of_date"),
    )
    no_consent = set(keys[::10])
    customer_360 = spark.createDataFrame(
        [(k, last, k not in no_consent) for k in keys],
        "customer_key string, as_of_date date, consent_personalization boolean")
    segments = ("Champions", "Lost")
    rfm = spark.createDataFrame(
        [(k, d, segments[i % 2]) for i, k in enumerate(keys) if i % 3 for d in (first, last)],
        "customer_key string, as_of_date date, rfm_segment string")
    lake.overwrite(activity, "gold.customer_product_activity")
    lake.overwrite(spark_products, "gold.product_features")
    lake.overwrite(rfm, "gold.customer_rfm_history")
    lake.overwrite(customer_360, "gold.customer_360")
    return {"skus": skus, "unsellable": unsellable, "no_consent": no_consent, "customers": keys}
