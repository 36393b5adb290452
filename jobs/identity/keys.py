"""Stable customer keys: a cluster keeps the key its records had.

Given this run's clusters and the previous identity map (record -> key, and the
day each key was created):

- a previous key's *home* is the cluster holding most of its records (then the
  smallest cluster id);
- a cluster that is home to one previous key keeps it;
- a cluster that is home to several (clusters merged) keeps the oldest key (then
  the smallest); every other one is retired with a `merged` row in the key
  history pointing forward to the key that survives;
- a cluster that is home to none gets a new key, derived from its cluster id and
  the run day (so a rerun of the day gives the same key); if some of its
  records carried a key whose home is elsewhere (a split), a `split` row
  records which key they left and where they went.

Key history columns: `customer_key` (the key whose records moved), `event`
(`merged` | `split`), `current_key` (where they are now: the forward pointer),
`records` (how many moved), `ds` (run day).
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

HISTORY_DDL = "customer_key STRING, event STRING, current_key STRING, records BIGINT, ds DATE"


def new_key(cluster_id, day: dt.date):
    """`CK` + 16 hex digits of sha256(cluster id | day)."""
    return F.concat(F.lit("CK"), F.upper(F.substring(F.sha2(F.concat_ws("|", cluster_id, F.lit(day.isoformat())), 256), 1, 16)))


def assign_keys(clusters: DataFrame, previous: DataFrame | None, day: dt.date) -> tuple[DataFrame, DataFrame]:
    """Keys for `clusters` (record_id, cluster_id).

    Args:
        clusters: every record and its cluster of this run.
        previous: the last identity map (record_id, customer_key, key_created_ds) or None on the first run.
        day: the run day (creation day of new keys).

    Returns:
        (cluster_id, customer_key, key_created_ds) per cluster, and the key history rows of this run.
    """
    spark = clusters.sparkSession
    if previous is None:
        previous = spark.createDataFrame([], "record_id STRING, customer_key STRING, key_created_ds DATE")
    carried = (
        clusters.join(previous.select("record_id", "customer_key", "key_created_ds"), "record_id")
        .groupBy("cluster_id", "customer_key", "key_created_ds").agg(F.count("*").alias("n"))
    )
    home_rank = Window.partitionBy("customer_key").orderBy(F.col("n").desc(), F.col("cluster_id"))
    carried = carried.withColumn("is_home", F.row_number().over(home_rank) == 1).localCheckpoint()
    homes = carried.where("is_home")
    oldest = Window.partitionBy("cluster_id").orderBy(F.col("key_created_ds"), F.col("customer_key"))
    kept = (
        homes.withColumn("_r", F.row_number().over(oldest)).where("_r = 1")
        .select("cluster_id", "customer_key", "key_created_ds")
    )
    all_clusters = clusters.select("cluster_id").distinct()
    keys = (
        all_clusters.join(kept, "cluster_id", "left")
        .select(
            "cluster_id",
            F.coalesce(F.col("customer_key"), new_key(F.col("cluster_id"), day)).alias("customer_key"),
            F.coalesce(F.col("key_created_ds"), F.lit(day)).alias("key_created_ds"),
        )
        .localCheckpoint()
    )
    current = keys.select("cluster_id", F.col("customer_key").alias("current_key"))
    merged = (
        homes.join(current, "cluster_id")
        .where(F.col("customer_key") != F.col("current_key"))
        .select("customer_key", F.lit("merged").alias("event"), "current_key", F.col("n").alias("records"))
    )
    split = (
        carried.where(~F.col("is_home")).join(current, "cluster_id")
        .select("customer_key", F.lit("split").alias("event"), "current_key", F.col("n").alias("records"))
    )
    history = merged.unionByName(split).withColumn("ds", F.lit(day))
    return keys, history
