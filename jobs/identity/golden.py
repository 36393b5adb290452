"""Golden record: one row per customer_key, each attribute chosen by a survivorship rule.

| attribute | rule |
|---|---|
| first_name, last_name, date_of_birth | most frequent value among the key's profile records, then the most recently updated |
| email, phone, street, city, postcode | most recently updated non-null value |
| signup_at | earliest creation time of any profile record |

Each attribute `x` comes with `x_source`: the record_id it was taken from. A key
with no profile record (a guest known by orders or emails only) takes its email
from those records. `sources` lists the landing sources of the key's records.
`email_hmac` and `phone_hmac` are the keyed pseudonyms of the email and phone
(jobs/common/pseudonym.py): the only form in which gold carries them.

A key's golden record reads only the key's identity map rows (`MAP_INPUTS`) and its
profile records, so a daily run recomputes the keys `changed_keys` names and carries the
others' rows from the previous run's (`carried_forward`): the same rows as computing all.
"""
from __future__ import annotations

from functools import reduce

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.common.pseudonym import pseudonym

MOST_FREQUENT = ("first_name", "last_name", "date_of_birth")
MOST_RECENT = ("email", "phone", "street", "city", "postcode")


def _most_frequent(profiles: DataFrame, attr: str) -> DataFrame:
    value = F.col(f"display_{attr}")
    counted = (
        profiles.where(value.isNotNull())
        .groupBy("customer_key", value.alias(attr))
        .agg(F.count("*").alias("_n"), F.max_by("record_id", "updated_at").alias(f"{attr}_source"),
             F.max("updated_at").alias("_latest"))
    )
    rank = Window.partitionBy("customer_key").orderBy(F.col("_n").desc(), F.col("_latest").desc(), F.col(f"{attr}_source"))
    return counted.withColumn("_r", F.row_number().over(rank)).where("_r = 1").select("customer_key", attr, f"{attr}_source")


def _most_recent(profiles: DataFrame, attr: str) -> DataFrame:
    value = F.col(f"display_{attr}")
    rank = Window.partitionBy("customer_key").orderBy(F.col("updated_at").desc(), F.col("record_id"))
    return (
        profiles.where(value.isNotNull())
        .withColumn("_r", F.row_number().over(rank)).where("_r = 1")
        .select("customer_key", value.alias(attr), F.col("record_id").alias(f"{attr}_source"))
    )


def golden_records(identity_map: DataFrame, profiles: DataFrame) -> DataFrame:
    """`silver.customers` rows from the identity map and the profile records (with display_* columns)."""
    keyed = profiles.join(identity_map.select("record_id", "customer_key"), "record_id").cache()
    base = identity_map.groupBy("customer_key").agg(
        F.min("key_created_ds").alias("key_created_ds"),
        F.sort_array(F.collect_set("source")).alias("sources"),
        F.count("*").alias("records"),
        F.min(F.when(F.col("email").isNotNull(), F.col("email"))).alias("_any_email"),
        F.min(F.when(F.col("email").isNotNull(), F.col("record_id"))).alias("_any_email_source"),
    )
    signup = keyed.groupBy("customer_key").agg(
        F.min("created_at").alias("signup_at"), F.min_by("record_id", "created_at").alias("signup_at_source"),
        F.count("*").alias("profile_records"),
    )
    out = base.join(signup, "customer_key", "left")
    for attr in MOST_FREQUENT:
        out = out.join(_most_frequent(keyed, attr), "customer_key", "left")
    for attr in MOST_RECENT:
        out = out.join(_most_recent(keyed, attr), "customer_key", "left")
    return out.select(
        "customer_key",
        *[c for a in MOST_FREQUENT for c in (a, f"{a}_source")],
        F.coalesce("email", "_any_email").alias("email"),
        F.coalesce("email_source", "_any_email_source").alias("email_source"),
        *[c for a in MOST_RECENT if a != "email" for c in (a, f"{a}_source")],
        "signup_at", "signup_at_source",
        F.coalesce("profile_records", F.lit(0)).alias("profile_records"),
        "records", "sources", "key_created_ds",
    )


# The identity map's columns a golden record reads (with record_id, which joins the profile records).
MAP_INPUTS = ("customer_key", "source", "email", "key_created_ds")


def changed_keys(identity_map: DataFrame, previous_map: DataFrame, changed_profiles: DataFrame) -> DataFrame:
    """`customer_key`: every key whose golden record may differ from the one `previous_map` gave.

    That is each key, then and now, of a record that joined the map, left it, or changed one of
    `MAP_INPUTS` in it; and the key now of each profile record in `changed_profiles` (a record whose
    newer version landed since: its names, address or dates may differ).
    """
    now = identity_map.select("record_id", *[F.col(c).alias(f"_now_{c}") for c in MAP_INPUTS])
    then = previous_map.select("record_id", *[F.col(c).alias(f"_then_{c}") for c in MAP_INPUTS])
    same = reduce(lambda a, b: a & b, [F.col(f"_now_{c}").eqNullSafe(F.col(f"_then_{c}")) for c in MAP_INPUTS])
    moved = now.join(then, "record_id", "full_outer").where(~same)
    profiles = identity_map.join(changed_profiles.select("record_id"), "record_id", "left_semi")
    keys = (moved.select(F.col("_now_customer_key").alias("customer_key"))
            .unionByName(moved.select(F.col("_then_customer_key").alias("customer_key")))
            .unionByName(profiles.select("customer_key")))
    return keys.where(F.col("customer_key").isNotNull()).distinct()


def carried_forward(previous: DataFrame, keys: DataFrame) -> DataFrame:
    """The rows of `previous` (silver.customers of the run `changed_keys` compared with) for keys not in `keys`."""
    return previous.join(keys, "customer_key", "left_anti")


def with_pseudonyms(customers: DataFrame, key: bytes) -> DataFrame:
    """`customers` plus `email_hmac` and `phone_hmac`, the keyed pseudonyms of its email and phone."""
    return customers.withColumn("email_hmac", pseudonym(F.col("email"), key)).withColumn(
        "phone_hmac", pseudonym(F.col("phone"), key))
