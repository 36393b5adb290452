"""Satellite records: orders, till receipts, web cookies and email addresses, attached to profiles.

Each satellite is attached by the first rule that applies, in this order:

| source | record_key | rules |
|---|---|---|
| orders | order_id | `account_id` (the web account), `email`, `cookie` (the cookie's account) |
| pos_transactions | transaction_id | `loyalty_id` (the loyalty member), `email` (receipt email) |
| web_events | cookie_id | `cookie_login` (the account logged in on it most often), `order_cookie` (an order placed from it) |
| email_events | the normalised email | `email` |

A cookie is one record, so the anonymous events before a login belong to the
person who logged in on that cookie.

`email` attaches to the cluster holding profile records with that email match
key; when several clusters hold it (a household sharing one address) the
cluster with the most such records wins, then the smallest cluster id, and the
rule is `email_shared`. A satellite no rule attaches joins the other unattached
satellites with its email match key (a guest who ordered and opened emails is
one guest), else stands alone: rule `unattached`.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.identity.records import record_id

SATELLITE_COLUMNS = ("record_id", "source", "record_key", "cluster_id", "matched_by", "email", "email_match_key")


def email_owners(profiles: DataFrame, clusters: DataFrame) -> DataFrame:
    """email_match_key -> the cluster that owns it (`owner_cluster`), `shared` when several clusters hold it."""
    held = (
        profiles.where(F.col("email_match_key").isNotNull())
        .join(clusters, "record_id")
        .groupBy("email_match_key", "cluster_id").agg(F.count("*").alias("n"))
    )
    rank = Window.partitionBy("email_match_key").orderBy(F.col("n").desc(), F.col("cluster_id"))
    return (
        held.withColumn("_rank", F.row_number().over(rank))
        .withColumn("_clusters", F.count("*").over(Window.partitionBy("email_match_key")))
        .where("_rank = 1")
        .select("email_match_key", F.col("cluster_id").alias("owner_cluster"), (F.col("_clusters") > 1).alias("shared"))
    )


def cookie_accounts(web_events: DataFrame) -> DataFrame:
    """cookie_id -> the account_id logged in on it most often (then the smallest account id)."""
    counts = (
        web_events.where(F.col("cookie_id").isNotNull() & F.col("account_id").isNotNull())
        .groupBy("cookie_id", "account_id").agg(F.count("*").alias("n"))
    )
    rank = Window.partitionBy("cookie_id").orderBy(F.col("n").desc(), F.col("account_id"))
    return counts.withColumn("_r", F.row_number().over(rank)).where("_r = 1").select("cookie_id", "account_id")


def _attach(df: DataFrame, source: str, steps: list[tuple[str, Column]]) -> DataFrame:
    """Pick the first non-null cluster of `steps` ((rule, cluster column) pairs)."""
    cluster = F.coalesce(*[c for _, c in steps])
    rule = F.coalesce(*[F.when(c.isNotNull(), F.lit(name)) for name, c in steps])
    return df.select(
        record_id(source, F.col("record_key")).alias("record_id"), F.lit(source).alias("source"), "record_key",
        cluster.alias("cluster_id"), rule.alias("matched_by"), "email", "email_match_key",
    )


def _by_record(clusters: DataFrame, name: str) -> DataFrame:
    return clusters.select(F.col("record_id").alias(f"{name}_rid"), F.col("cluster_id").alias(name))


def _email_rule(owners: DataFrame, name: str) -> DataFrame:
    return owners.select(
        F.col("email_match_key").alias(f"{name}_key"), F.col("owner_cluster").alias(name),
        F.col("shared").alias(f"{name}_shared"),
    )


def _email_steps(name: str) -> list[tuple[str, Column]]:
    return [
        ("email", F.when(~F.col(f"{name}_shared"), F.col(name))),
        ("email_shared", F.when(F.col(f"{name}_shared"), F.col(name))),
    ]


def attach_satellites(clusters: DataFrame, profiles: DataFrame, orders: DataFrame | None, pos: DataFrame | None,
                      web_events: DataFrame | None, email_events: DataFrame | None) -> DataFrame:
    """Every satellite record with its cluster (columns `SATELLITE_COLUMNS`); unattached ones grouped by email."""
    owners = email_owners(profiles, clusters)
    parts: list[DataFrame] = []
    stitched = cookie_accounts(web_events) if web_events is not None else None
    order_part = None
    if orders is not None:
        o = orders.select(F.col("order_id").alias("record_key"), "account_id", "email", "email_match_key", "cookie_id")
        if stitched is not None:
            o = o.join(stitched.withColumnRenamed("account_id", "cookie_account"), "cookie_id", "left")
        else:
            o = o.withColumn("cookie_account", F.lit(None).cast("string"))
        o = (
            o.join(_by_record(clusters, "acc"), F.col("acc_rid") == record_id("web_accounts", F.col("account_id")), "left")
            .join(_by_record(clusters, "cka"), F.col("cka_rid") == record_id("web_accounts", F.col("cookie_account")), "left")
            .join(_email_rule(owners, "em"), F.col("em_key") == F.col("email_match_key"), "left")
        )
        order_part = _attach(o, "orders", [("account_id", F.col("acc")), *_email_steps("em"), ("cookie", F.col("cka"))])
        parts.append(order_part)
    if pos is not None:
        p = (
            pos.groupBy(F.col("transaction_id").alias("record_key"))
            .agg(F.first("loyalty_id", ignorenulls=True).alias("loyalty_id"),
                 F.first("receipt_email", ignorenulls=True).alias("email"),
                 F.first("receipt_email_match_key", ignorenulls=True).alias("email_match_key"))
            .join(_by_record(clusters, "loy"), F.col("loy_rid") == record_id("loyalty_members", F.col("loyalty_id")), "left")
            .join(_email_rule(owners, "em"), F.col("em_key") == F.col("email_match_key"), "left")
        )
        parts.append(_attach(p, "pos_transactions", [("loyalty_id", F.col("loy")), *_email_steps("em")]))
    if web_events is not None:
        cookies = web_events.where(F.col("cookie_id").isNotNull()).select(F.col("cookie_id").alias("record_key")).distinct()
        c = cookies.join(stitched.withColumnRenamed("cookie_id", "record_key"), "record_key", "left").join(
            _by_record(clusters, "acc"), F.col("acc_rid") == record_id("web_accounts", F.col("account_id")), "left"
        )
        if orders is not None:
            by_order = (
                orders.where(F.col("cookie_id").isNotNull())
                .select(F.col("cookie_id").alias("_ck"), record_id("orders", F.col("order_id")).alias("_oid"))
                .join(order_part.select(F.col("record_id").alias("_oid"), F.col("cluster_id").alias("_oc")), "_oid")
                .groupBy("_ck").agg(F.min("_oc").alias("ord"))
            )
            c = c.join(by_order, F.col("_ck") == F.col("record_key"), "left")
        else:
            c = c.withColumn("ord", F.lit(None).cast("string"))
        c = c.withColumn("email", F.lit(None).cast("string")).withColumn("email_match_key", F.lit(None).cast("string"))
        parts.append(_attach(c, "web_events", [("cookie_login", F.col("acc")), ("order_cookie", F.col("ord"))]))
    if email_events is not None:
        e = (
            email_events.where(F.col("email").isNotNull())
            .groupBy(F.col("email").alias("record_key"))
            .agg(F.first("email_match_key").alias("email_match_key"))
            .withColumn("email", F.col("record_key"))
            .join(_email_rule(owners, "em"), F.col("em_key") == F.col("email_match_key"), "left")
        )
        parts.append(_attach(e, "email_events", _email_steps("em")))
    if not parts:
        return profiles.sparkSession.createDataFrame([], ", ".join(f"{c} STRING" for c in SATELLITE_COLUMNS))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    guest = F.when(F.col("email_match_key").isNotNull(), F.concat(F.lit("guest:"), F.col("email_match_key")))
    return out.select(
        "record_id", "source", "record_key",
        F.coalesce(F.col("cluster_id"), guest, F.col("record_id")).alias("cluster_id"),
        F.coalesce(F.col("matched_by"), F.lit("unattached")).alias("matched_by"),
        "email", "email_match_key",
    )
