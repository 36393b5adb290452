"""Source records as identity resolution sees them.

Profile records (CRM customers, loyalty members, web accounts) carry personal
data and are matched to each other. Every other record that names a person
(online orders, till receipts, web cookies, email addresses) is a satellite:
it is attached to a profile by an id it carries, or by its email.

A record is named `record_id` = `<source>:<record_key>`, where `source` is the
landing source (`crm_customers`, ...) and `record_key` the source's own id.

Profile record columns (the match columns are lower-cased and trimmed):

| column | meaning |
|---|---|
| record_id, source, record_key | the record |
| first_name, last_name | normalised names, lower case |
| first_name_group | the formal names `first_name` may stand for (itself included), from the `nicknames` library |
| date_of_birth | date |
| tax_id | tax or national id, where the source has one |
| email, email_match_key, email_user | email, its match key, the match key's local part |
| phone | E.164 |
| street, city, postcode | address, lower case (postcode upper case) |
| created_at, updated_at | when the source created and last changed the record |
| _ds | landing day of the record's current version |
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.common.landing_contract import DAY_COLUMN, SOURCES

PROFILE_SOURCES = tuple(s.name for s in SOURCES if s.identity == "profile")
PROFILE_COLUMNS = (
    "record_id", "source", "record_key", "first_name", "last_name", "date_of_birth", "tax_id", "email",
    "email_match_key", "email_user", "phone", "street", "city", "postcode", "created_at", "updated_at", DAY_COLUMN,
)
# Columns shown in the golden record, as the source wrote them (silver's normalised form).
DISPLAY_COLUMNS = ("first_name", "last_name", "email", "phone", "street", "city", "postcode", "date_of_birth")


def record_id(source: str, key: Column) -> Column:
    return F.concat(F.lit(f"{source}:"), key)


def _lower(name: str) -> Column:
    return F.lower(F.trim(F.col(name)))


def _profile(df: DataFrame, source: str, created: str) -> DataFrame:
    present = set(df.columns)

    def col(name: str) -> Column:
        # A column the source lacks is a typed null, so every source's records union to one schema
        # whatever the session's type coercion (ANSI or not).
        return F.col(name) if name in present else F.lit(None).cast("date" if name == "date_of_birth" else "string")

    return df.select(
        record_id(source, F.col("record_key")).alias("record_id"),
        F.lit(source).alias("source"),
        F.col("record_key"),
        _lower("first_name").alias("first_name"),
        _lower("last_name").alias("last_name"),
        (F.col("date_of_birth") if "date_of_birth" in present else F.lit(None).cast("date")).alias("date_of_birth"),
        col("tax_id").alias("tax_id"),
        F.col("email"),
        F.col("email_match_key"),
        F.split(F.col("email_match_key"), "@").getItem(0).alias("email_user"),
        F.col("phone"),
        F.lower(col("street")).alias("street"),
        F.lower(col("city")).alias("city"),
        F.upper(col("postcode")).alias("postcode"),
        F.col(created).alias("created_at"),
        F.col("updated_at"),
        F.col(DAY_COLUMN),
        *[col(c).alias(f"display_{c}") for c in DISPLAY_COLUMNS],
    )


def _as_of(history: DataFrame, day) -> DataFrame:
    """The version of each record_key current at the end of `day` (landed on or before it)."""
    rank = Window.partitionBy("record_key").orderBy(F.col("valid_from").desc(), F.col(DAY_COLUMN).desc())
    return (
        history.where(F.col(DAY_COLUMN) <= F.lit(day))
        .withColumn("_r", F.row_number().over(rank)).where("_r = 1").drop("_r")
    )


def profile_records(crm: DataFrame | None, loyalty: DataFrame | None, web: DataFrame | None, day) -> DataFrame:
    """Every profile record as it stood at the end of `day`, one row per record_id.

    `crm` and `loyalty` are SCD2 histories (the newest version landed by `day`
    counts); `web` holds one row per account (accounts last changed after `day`
    are left out). A missing table is skipped.
    """
    parts = []
    if crm is not None:
        parts.append(_profile(_as_of(crm, day), "crm_customers", "created_at"))
    if loyalty is not None:
        parts.append(_profile(_as_of(loyalty, day), "loyalty_members", "joined_at"))
    if web is not None:
        parts.append(_profile(web.where(F.col(DAY_COLUMN) <= F.lit(day)), "web_accounts", "created_at"))
    if not parts:
        raise ValueError("no profile source to resolve: none of silver.crm_customers, "
                         "silver.loyalty_members, silver.web_accounts exists")
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def nickname_groups(spark) -> DataFrame:
    """(name, name_group): every known name and each formal name it may be short for, itself included."""
    from nicknames import name_triplets

    pairs = set()
    for formal, relationship, nick in name_triplets():
        if relationship == "has_nickname":
            pairs.update({(formal, formal), (nick, formal)})
    return spark.createDataFrame(sorted(pairs), "name STRING, name_group STRING")


def with_name_groups(records: DataFrame, groups: DataFrame) -> DataFrame:
    """`records` plus `first_name_group` (array; just the name itself when it is in no group)."""
    found = (
        records.select("record_id", "first_name")
        .join(groups, F.col("first_name") == F.col("name"))
        .groupBy("record_id").agg(F.sort_array(F.collect_set("name_group")).alias("_groups"))
    )
    return (
        records.join(found, "record_id", "left")
        .withColumn("first_name_group", F.when(F.col("first_name").isNotNull(),
                                               F.coalesce("_groups", F.array(F.col("first_name")))))
        .drop("_groups")
    )


def flag_new(records: DataFrame, since) -> DataFrame:
    """`records` with `is_new`: the record's version landed after `since` (all records when `since` is None)."""
    if since is None:
        return records.withColumn("is_new", F.lit(True))
    return records.withColumn("is_new", F.col(DAY_COLUMN) > F.lit(since))
