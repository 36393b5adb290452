"""Distributed scoring: customers + histories -> top-N rows, the registered model's `predict` per partition.

The model (catalog, item factors, popularity: a few MB) travels with the function to
every task; customers stream through `mapInPandas` in Arrow batches, so no customer
data reaches the driver.
"""
from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from pyspark.sql import DataFrame

from jobs.recommend.served import RecommenderModel

RECS_SCHEMA = "customer_key string, rank int, product_id string, score double, source string, reason string"


def score(customers: DataFrame, histories: DataFrame, model: RecommenderModel) -> DataFrame:
    """Top-N recommendations for every customer.

    Args:
        customers: customer_key, personalised (bool: consent to personalization; without it the
            customer's history is not read and the list is the non-personalised one), rfm_segment (nullable).
        histories: customer_key, skus, strengths, kinds (jobs.recommend.inputs.histories).
        model: the recommender bound to the day's catalog and popularity.

    Returns:
        customer_key, rank (1..top_n), product_id, score, source, reason.
    """

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield model.predict(None, batch)

    customers = customers.select("customer_key", "personalised", "rfm_segment")
    # The history of a customer without personalization consent is not read at all.
    consented = histories.join(customers.where("personalised").select("customer_key"), "customer_key")
    return customers.join(consented, "customer_key", "left").mapInPandas(run, RECS_SCHEMA)
