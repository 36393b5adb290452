"""Deterministic links between profile records, each named by its rule.

| rule | holds when |
|---|---|
| `email+name` | same email match key, and the first names agree (see below) |
| `phone+name` | same E.164 phone, and the first names agree |

First names agree when equal, when one starts with the other (Chris,
Christopher) or when both are forms of one name (Maggie, Margaret).
A shared household email or phone alone never links two people (household
members share a surname, so the first name must agree). Pairs are returned once, the smaller record_id on the left.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

LINK_COLUMNS = ("record_id_l", "record_id_r", "rule", "match_probability", "match_weight")


def _first_names_agree() -> Column:
    a, b = F.col("l.first_name"), F.col("r.first_name")
    same_group = F.coalesce(F.arrays_overlap(F.col("l.first_name_group"), F.col("r.first_name_group")), F.lit(False))
    return (a == b) | a.startswith(b) | b.startswith(a) | same_group


def _pairs_on(records: DataFrame, key: str, rule: str, agree: Column) -> DataFrame:
    cols = ["record_id", key, "first_name", "first_name_group", "last_name"]
    left = records.select(*cols).where(F.col(key).isNotNull()).alias("l")
    right = records.select(*cols).where(F.col(key).isNotNull()).alias("r")
    return (
        left.join(right, (F.col(f"l.{key}") == F.col(f"r.{key}")) & (F.col("l.record_id") < F.col("r.record_id")))
        .where(agree)
        .select(
            F.col("l.record_id").alias("record_id_l"), F.col("r.record_id").alias("record_id_r"),
            F.lit(rule).alias("rule"), F.lit(1.0).alias("match_probability"),
            F.lit(None).cast("double").alias("match_weight"),
        )
    )


def deterministic_links(records: DataFrame) -> DataFrame:
    """Rule links among profile records (columns `LINK_COLUMNS`), one row per pair (first rule wins).

    `records` needs record_id, first_name, first_name_group, last_name, email_match_key, phone.
    """
    email = _pairs_on(records, "email_match_key", "email+name", _first_names_agree())
    phone = _pairs_on(records, "phone", "phone+name", _first_names_agree())
    return (
        email.unionByName(phone)
        .groupBy("record_id_l", "record_id_r")
        .agg(F.min("rule").alias("rule"))  # email+name sorts first
        .select("record_id_l", "record_id_r", "rule", F.lit(1.0).alias("match_probability"),
                F.lit(None).cast("double").alias("match_weight"))
    )


def only_pairs_with_new(links: DataFrame, records: DataFrame) -> DataFrame:
    """Links with at least one end among the records flagged `is_new`."""
    new = records.where("is_new").select(F.col("record_id").alias("_new"))
    left = links.join(new, links.record_id_l == new._new, "left_semi")
    right = links.join(new, links.record_id_r == new._new, "left_semi")
    return left.unionByName(right).dropDuplicates(["record_id_l", "record_id_r"])
