"""Accuracy of a resolution against ground truth: pairwise and B-cubed, in Spark.

Both inputs are (record, entity) assignments over the same records: `predicted`
(record_id, customer_key) and `truth` (record_id, person_id). Only records
present in both are scored.

- pairwise: a pair of records is predicted linked when they share a key, truly
  linked when they share a person; precision, recall and F1 over pairs.
- B-cubed: per record, the share of its key's records that are its person's
  (precision) and the share of its person's records under its key (recall),
  averaged over records.
- persons split: persons whose records carry more than one key; keys merged:
  keys holding records of more than one person.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def _pairs(n):
    return n * (n - 1) / 2


def accuracy(predicted: DataFrame, truth: DataFrame) -> dict[str, float]:
    both = predicted.select("record_id", "customer_key").join(truth.select("record_id", "person_id"), "record_id").cache()
    cells = both.groupBy("customer_key", "person_id").agg(F.count("*").alias("n"))
    per_key = both.groupBy("customer_key").agg(F.count("*").alias("k"), F.countDistinct("person_id").alias("persons"))
    per_person = both.groupBy("person_id").agg(F.count("*").alias("p"), F.countDistinct("customer_key").alias("keys"))
    tp = cells.agg(F.sum(_pairs(F.col("n")))).first()[0] or 0.0
    predicted_pairs = per_key.agg(F.sum(_pairs(F.col("k")))).first()[0] or 0.0
    true_pairs = per_person.agg(F.sum(_pairs(F.col("p")))).first()[0] or 0.0
    b3 = (
        cells.join(per_key, "customer_key").join(per_person, "person_id")
        .agg(F.sum(F.col("n") * F.col("n") / F.col("k")).alias("prec"),
             F.sum(F.col("n") * F.col("n") / F.col("p")).alias("rec"), F.sum("n").alias("records"))
        .first()
    )
    both.unpersist()
    precision = tp / predicted_pairs if predicted_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    records = b3["records"] or 0
    b3_p = b3["prec"] / records if records else 1.0
    b3_r = b3["rec"] / records if records else 1.0
    return {
        "records": int(records),
        "true_pairs": int(true_pairs),
        "predicted_pairs": int(predicted_pairs),
        "pairwise_precision": round(precision, 5),
        "pairwise_recall": round(recall, 5),
        "pairwise_f1": round(2 * precision * recall / (precision + recall), 5) if precision + recall else 0.0,
        "bcubed_precision": round(b3_p, 5),
        "bcubed_recall": round(b3_r, 5),
        "bcubed_f1": round(2 * b3_p * b3_r / (b3_p + b3_r), 5) if b3_p + b3_r else 0.0,
        "persons_split": per_person.where("keys > 1").count(),
        "keys_with_several_persons": per_key.where("persons > 1").count(),
    }
