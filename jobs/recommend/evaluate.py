"""Ranking metrics on a temporal holdout: predicted lists vs what customers bought afterwards.

Every method is judged on the same customers (everyone who bought in the holdout) and
the same relevant items (what each bought there); a customer a method cannot score
counts with an empty list. Metrics come from Spark ML's RankingEvaluator (binary
relevance): precision@k, recall@k, NDCG@k and MAP@k; catalog coverage is the share of
sellable products that appear in any top-k list.
"""
from __future__ import annotations

from pyspark.ml.evaluation import RankingEvaluator
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
        "customer_key", "relevant", F.coalesce(F.slice("skus", 1, k), F.array().cast("array<string>")).alias("skus"))
    # RankingEvaluator wants item ids as doubles: number the skus both sides use.
    skus = joined.select(F.explode("relevant").alias("sku")).union(joined.select(F.explode("skus").alias("sku")))
    ids = {sku: float(i) for i, sku in enumerate(sorted(r.sku for r in skus.distinct().collect()))}
    lookup = F.create_map(*[x for sku, i in ids.items() for x in (F.lit(sku), F.lit(i))]) if ids else None
    if lookup is None:
        return {**{name: 0.0 for name in METRICS}, "coverage": 0.0, "customers": 0}
    frame = joined.select(
        F.transform("skus", lambda s: lookup[s]).alias("prediction"),
        F.transform("relevant", lambda s: lookup[s]).alias("label"),
    ).cache()
    try:
        out: dict[str, float] = {}
        for name, metric in METRICS.items():
            evaluator = RankingEvaluator(predictionCol="prediction", labelCol="label", metricName=metric, k=k)
            out[name] = float(evaluator.evaluate(frame))
        recommended = joined.select(F.explode("skus").alias("sku")).distinct().count()
        out["coverage"] = recommended / sellable_products if sellable_products else 0.0
        out["customers"] = frame.count()
    finally:
        frame.unpersist()
    return out
