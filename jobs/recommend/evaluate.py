"""Ranking metrics on a temporal holdout: predicted lists vs what customers bought afterwards.

Every method is judged on the same customers (everyone who bought in the holdout) and
the same relevant items (what each bought there); a customer a method cannot score
counts with an empty list. Metrics are Spark ML's RankingEvaluator's (binary relevance),
precision@k, recall@k, NDCG@k and MAP@k, computed in the driver over the holdout
customers' top-k lists (a few numbers per customer; a test holds them equal to
RankingEvaluator's); catalog coverage is the share of sellable products that appear in
any top-k list.
"""
from __future__ import annotations

import math

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

METRICS = {"precision": "precisionAtK", "recall": "recallAtK", "ndcg": "ndcgAtK", "map": "meanAveragePrecisionAtK"}


def top_k_lists(recs: DataFrame, k: int) -> DataFrame:
    """(customer_key, skus) from ranked rows (customer_key, rank, product_id): the first k, in rank order."""
    return (
        recs.where(F.col("rank") <= k)
        .groupBy("customer_key")
        .agg(F.sort_array(F.collect_list(F.struct("rank", "product_id"))).alias("ranked"))
        .select("customer_key", F.col("ranked.product_id").alias("skus"))
    )


def ranking_metrics(predicted: DataFrame, relevant: DataFrame, k: int, sellable_products: int) -> dict[str, float]:
    """Metrics of one method.

    Args:
        predicted: customer_key, skus (array, best first; may miss customers).
        relevant: customer_key, sku (the holdout's purchases).
        k: the cutoff.
        sellable_products: the denominator of catalog coverage.
    """
    labels = relevant.groupBy("customer_key").agg(F.collect_set("sku").alias("relevant"))
    joined = labels.join(predicted, "customer_key", "left").select(
        "relevant", F.coalesce(F.slice("skus", 1, k), F.array().cast("array<string>")).alias("skus"))
    rows = [(list(r.skus), set(r.relevant)) for r in joined.collect()]
    out = {name: 0.0 for name in METRICS} | {"coverage": 0.0, "customers": len(rows)}
    if not rows:
        return out
    for skus, wanted in rows:
        for name, value in judged(skus, wanted, k).items():
            out[name] += value
    for name in METRICS:
        out[name] /= len(rows)
    recommended = len({sku for skus, _ in rows for sku in skus})
    out["coverage"] = recommended / sellable_products if sellable_products else 0.0
    return out


def judged(predicted: list[str], relevant: set[str], k: int) -> dict[str, float]:
    """One customer's precision@k, recall@k, NDCG@k and MAP@k as Spark's RankingMetrics defines them."""
    if not relevant:
        return dict.fromkeys(METRICS, 0.0)
    top = predicted[:k]
    hits = [sku in relevant for sku in top]
    dcg = sum(1.0 / math.log2(i + 2) for i, hit in enumerate(hits) if hit)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    precisions, found = 0.0, 0
    for i, hit in enumerate(hits):
        if hit:
            found += 1
            precisions += found / (i + 1)
    return {
        "precision": found / k,
        "recall": found / len(relevant),
        "ndcg": dcg / ideal,
        "map": precisions / min(k, len(relevant)),
    }
