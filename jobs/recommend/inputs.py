"""The recommender's inputs from gold, as of a day: products, segments, popularity, histories.

Reads gold.product_features (one row per sku), gold.customer_rfm_history (one row per
customer_key per as-of day) and interactions (jobs/recommend/interactions.py). The
product side is small (the catalog) and goes to the driver as numpy arrays; customers
stay distributed.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common.errors import C360Error
from jobs.common.lake import Lake
from jobs.recommend.hybrid import Catalog, Popularity

ACTIVITY = "gold.customer_product_activity"
PRODUCTS = "gold.product_features"
RFM_HISTORY = "gold.customer_rfm_history"
CUSTOMERS = "gold.customer_360"
RECOMMENDATIONS = "serving.recommendations"
PRICE_BANDS = ("budget", "mid", "premium")


class RecommendError(C360Error):
    """The recommender cannot run (missing or stale inputs)."""


def require_gold(lake: Lake, day: dt.date, tables: tuple[str, ...]) -> None:
    for table in tables:
        if not lake.exists(table):
            raise RecommendError(f"{table} does not exist: run `c360 build-features --date {day}` (or c360_daily) first")
    # Before anyone bought anything the activity mart is empty; the catalog says how fresh the build is.
    as_of, table = None, ACTIVITY
    for table in (ACTIVITY, PRODUCTS):
        as_of = lake.read(table).agg(F.max("as_of_date")).first()[0]
        if as_of is not None:
            break
    if as_of is None or as_of < day:
        raise RecommendError(
            f"{table} is as of {as_of}, before {day}: run `c360 build-features --date {day}` first"
        )


def load_catalog(products: DataFrame, repeatable_categories: tuple[str, ...]) -> Catalog:
    """gold.product_features -> a Catalog in sku order.

    A product is sellable when it is active and in stock as of the features' day.
    """
    rows = (
        products.select("sku", "product_name", "category", "brand", "price_band", "in_stock", "is_active")
        .orderBy("sku").collect()
    )
    categories = tuple(sorted({r.category or "" for r in rows}))
    brands = tuple(sorted({r.brand or "" for r in rows}))
    bands = PRICE_BANDS + tuple(sorted({r.price_band for r in rows if r.price_band not in PRICE_BANDS}))
    repeatable = {c.lower() for c in repeatable_categories}
    return Catalog(
        sku=np.array([r.sku for r in rows], dtype=object),
        name=np.array([r.product_name or r.sku for r in rows], dtype=object),
        category=np.array([categories.index(r.category or "") for r in rows], dtype=np.int64),
        brand=np.array([brands.index(r.brand or "") for r in rows], dtype=np.int64),
        price_band=np.array([bands.index(r.price_band) for r in rows], dtype=np.int64),
        sellable=np.array([bool(r.in_stock) and bool(r.is_active) for r in rows], dtype=bool),
        repeatable=np.array([(r.category or "").lower() in repeatable for r in rows], dtype=bool),
        category_names=categories,
        brand_names=brands,
        price_band_names=bands,
    )


def segments_as_of(rfm_history: DataFrame, day: dt.date) -> DataFrame:
    """(customer_key, rfm_segment) from the latest RFM build on or before `day`.

    Customers without a purchase in the RFM window have no row (no segment).
    """
    latest = rfm_history.where(F.col("as_of_date") <= F.lit(day)).agg(F.max("as_of_date")).first()[0]
    if latest is None:
        return rfm_history.where(F.lit(False)).select("customer_key", "rfm_segment")
    return rfm_history.where(F.col("as_of_date") == F.lit(latest)).select("customer_key", "rfm_segment")


def popularity(interactions: DataFrame, segments: DataFrame, catalog: Catalog) -> Popularity:
    """Interaction strength summed per product: over everyone, and per RFM segment."""
    index = {s: i for i, s in enumerate(catalog.sku)}
    rows = (
        interactions.join(segments, "customer_key", "left")
        .groupBy("rfm_segment", "sku").agg(F.sum("strength").alias("strength"))
        .collect()
    )
    names = tuple(sorted({r.rfm_segment for r in rows if r.rfm_segment is not None}))
    by_segment = np.zeros((len(names), len(catalog)))
    overall = np.zeros(len(catalog))
    for r in rows:
        item = index.get(r.sku)
        if item is None:
            continue
        overall[item] += r.strength
        if r.rfm_segment is not None:
            by_segment[names.index(r.rfm_segment), item] += r.strength
    return Popularity(overall=overall, by_segment=by_segment, segments=names)


def histories(interactions: DataFrame) -> DataFrame:
    """(customer_key, skus, strengths, kinds): each customer's interactions as parallel arrays (the model's input)."""
    return (
        interactions
        .groupBy("customer_key")
        .agg(F.sort_array(F.collect_list(F.struct(
            F.col("sku"), F.col("strength").cast("double").alias("strength"), F.col("kind")))).alias("h"))
        .select(
            "customer_key",
            F.col("h.sku").alias("skus"),
            F.col("h.strength").alias("strengths"),
            F.col("h.kind").alias("kinds"),
        )
    )
