"""Distributed scoring: customers + histories -> top-N rows, the registered model's `predict` per partition.

The model (catalog, item factors, popularity: a few MB) travels with the function to
every task; customers with a history the model may read stream through `mapInPandas` in
Arrow batches, so no customer data reaches the driver.

A customer without such a history (no interaction in the window, or no consent to
personalization: their history is not read) gets a list that depends on nothing but the
consent and the RFM segment: `predict` computes it once for each pair among the customers (a
few dozen rows, on the driver), and every such customer gets the list of their pair. That is
most of a base (98 % of the customers of the 100 k bench lake), so the work of a day grows
with the customers who have a personal list, not with the base.
"""
from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.recommend.served import INPUT_COLUMNS, RecommenderModel

RECS_SCHEMA = "customer_key string, rank int, product_id string, score double, source string, reason string"
_SHARED = ("personalised", "rfm_segment")


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

    customers = customers.select("customer_key", F.coalesce("personalised", F.lit(False)).alias("personalised"),
                                 "rfm_segment")
    # The history of a customer without personalization consent is not read at all.
    consented = histories.join(customers.where("personalised").select("customer_key"), "customer_key")
    personal = customers.join(consented, "customer_key").mapInPandas(run, RECS_SCHEMA)
    # The pairs are read from every customer, not from those left without a history: that read needs no
    # history, and a pair no such customer has joins nobody.
    pairs = [(r["personalised"], r["rfm_segment"]) for r in customers.select(*_SHARED).distinct().collect()]
    shared = customers.join(consented.select("customer_key"), "customer_key", "left_anti")
    return personal.unionByName(_shared_lists(shared, pairs, model))


def _shared_lists(customers: DataFrame, pairs: list[tuple[bool, str | None]], model: RecommenderModel) -> DataFrame:
    """The rows of customers scored without a history: the list of each (personalised, rfm_segment) of `pairs`,
    computed once, given to the customers of that pair."""
    spark = customers.sparkSession
    if not pairs:
        return spark.createDataFrame([], RECS_SCHEMA)
    template = pd.DataFrame({"customer_key": [str(n) for n in range(len(pairs))],
                             "personalised": [p for p, _ in pairs], "rfm_segment": [s for _, s in pairs],
                             "skus": [None] * len(pairs), "strengths": [None] * len(pairs),
                             "kinds": [None] * len(pairs)})[list(INPUT_COLUMNS)]
    lists = model.predict(None, template)
    lists["customer_key"] = lists["customer_key"].astype(int)
    rows = lists.assign(personalised=[pairs[n][0] for n in lists["customer_key"]],
                        rfm_segment=[pairs[n][1] for n in lists["customer_key"]]).drop(columns="customer_key")
    lists_df = spark.createDataFrame(
        rows, "rank int, product_id string, score double, source string, reason string, "
              "personalised boolean, rfm_segment string")
    on = [customers["personalised"] == lists_df["personalised"],
          customers["rfm_segment"].eqNullSafe(lists_df["rfm_segment"])]
    return customers.join(F.broadcast(lists_df), on).select(
        customers["customer_key"], "rank", "product_id", "score", "source", "reason")
