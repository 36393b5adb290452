"""Connected components over accepted links, with a guard against oversized clusters.

Components are solved in Spark by Splink's connected-components routine (an
iterative min-label propagation, lineage cut between iterations). A component
of more records than `max_size` is not trusted: its records are clustered again
using only links at or above `strict_threshold` (rule links count as 1.0); any
component still too large falls apart into single records. Each such cluster is
reported (one row per oversized component) so that someone can look at it.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F


@dataclass(frozen=True)
class Clusters:
    members: DataFrame  # record_id, cluster_id
    oversized: DataFrame  # cluster_id, records, resolution, sample_record_ids


def connected_components(spark: SparkSession, nodes: DataFrame, links: DataFrame) -> DataFrame:
    """record_id -> cluster_id (the smallest record_id of its component) for every node."""
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    from jobs.identity.model import db_api

    api = db_api(spark, break_lineage_method="checkpoint")
    edges = links.select("record_id_l", "record_id_r", F.lit(1.0).alias("match_probability"))
    solved = cluster_pairwise_predictions_at_threshold(
        nodes.select("record_id"), edges, api, node_id_column_name="record_id",
        edge_id_column_name_left="record_id_l", edge_id_column_name_right="record_id_r",
    ).as_spark_dataframe()
    return solved.select("record_id", F.col("cluster_id").cast("string"))


def cluster(spark: SparkSession, nodes: DataFrame, links: DataFrame, max_size: int, strict_threshold: float) -> Clusters:
    first = connected_components(spark, nodes, links).localCheckpoint()
    sizes = first.groupBy("cluster_id").agg(F.count("*").alias("records"))
    big = sizes.where(F.col("records") > max_size).localCheckpoint()
    if big.isEmpty():
        empty = spark.createDataFrame([], "cluster_id STRING, records BIGINT, resolution STRING, sample_record_ids ARRAY<STRING>")
        return Clusters(first, empty)
    in_big = first.join(F.broadcast(big.select("cluster_id")), "cluster_id").select("record_id", F.col("cluster_id").alias("was"))
    ids = in_big.select(F.col("record_id").alias("_id"))
    strict = (
        links.where(F.col("match_probability") >= strict_threshold)
        .join(ids, F.col("record_id_l") == F.col("_id"), "left_semi")
        .join(ids, F.col("record_id_r") == F.col("_id"), "left_semi")
    )
    second = connected_components(spark, in_big, strict)
    second_sizes = second.groupBy("cluster_id").agg(F.count("*").alias("n"))
    still_big = second_sizes.where(F.col("n") > max_size).select("cluster_id")
    relinked = (
        second.join(still_big.withColumn("_split", F.lit(True)), "cluster_id", "left")
        .select("record_id", F.when(F.col("_split"), F.col("record_id")).otherwise(F.col("cluster_id")).alias("cluster_id"))
    )
    members = first.join(in_big.select("record_id"), "record_id", "left_anti").unionByName(relinked)
    split_whole = (
        in_big.join(second.join(still_big, "cluster_id").select("record_id"), "record_id")
        .select("was").distinct().withColumn("_singletons", F.lit(True))
    )
    oversized = (
        in_big.groupBy(F.col("was").alias("cluster_id"))
        .agg(F.count("*").alias("records"), F.slice(F.sort_array(F.collect_list("record_id")), 1, 20).alias("sample_record_ids"))
        .join(split_whole.withColumnRenamed("was", "cluster_id"), "cluster_id", "left")
        .select(
            "cluster_id", "records",
            F.when(F.col("_singletons"), F.lit("strict links still too large: records left unmerged"))
            .otherwise(F.lit("re-linked with strict links only")).alias("resolution"),
            "sample_record_ids",
        )
    )
    return Clusters(members, oversized)
