"""Distributed scoring: customers + histories -> top-N rows, the hybrid core run per partition.

The product side (catalog, item factors, popularity: a few MB) travels with the
function to every task; customers stream through `mapInPandas` in Arrow batches, so
no customer data reaches the driver.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

from jobs.recommend.hybrid import Catalog, Factors, History, Popularity, recommend

RECS_SCHEMA = "customer_key string, rank int, product_id string, score double, source string, reason string"
MAX_HISTORY = 200


def score(customers: DataFrame, histories: DataFrame, catalog: Catalog, factors: Factors | None,
          popularity: Popularity, top_n: int, new_product_slots: int) -> DataFrame:
    """Top-N recommendations for every customer.

    Args:
        customers: customer_key, personalised (bool: consent to personalization; without it the
            customer's history is not read and the list is the non-personalised one), rfm_segment (nullable).
        histories: customer_key, items, strengths, kinds (jobs.recommend.inputs.histories).
        catalog, factors, popularity, top_n, new_product_slots: see jobs.recommend.hybrid.recommend.

    Returns:
        customer_key, rank (1..top_n), product_id, score, source, reason.
    """
    segment_of = {s: i for i, s in enumerate(popularity.segments)}

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            history = History.from_lists(list(batch["items"]), list(batch["strengths"]), list(batch["kinds"]),
                                         max_len=MAX_HISTORY)
            segment = np.array([segment_of.get(s, -1) for s in batch["rfm_segment"]], dtype=np.int64)
            personalised = batch["personalised"].fillna(False).to_numpy(dtype=bool)
            recs = recommend(catalog, factors, popularity, history, segment, personalised, top_n, new_product_slots)
            yield pd.DataFrame({
                "customer_key": batch["customer_key"].to_numpy()[recs.customer],
                "rank": recs.rank.astype(np.int32),
                "product_id": catalog.sku[recs.item],
                "score": recs.score,
                "source": recs.source,
                "reason": recs.reason,
            })

    customers = customers.select("customer_key", "personalised", "rfm_segment")
    # The history of a customer without personalization consent is not read at all.
    consented = histories.join(customers.where("personalised").select("customer_key"), "customer_key")
    return customers.join(consented, "customer_key", "left").mapInPandas(run, RECS_SCHEMA)
