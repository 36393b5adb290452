"""Bronze -> silver conformance: one pure transform per landing source.

Each `conform_<source>(bronze_day)` takes the rows of `bronze.<source>` for one
landing day (`_ds`) and returns that day's typed, conformed silver rows:

1. only the newest version of each landing file (`latest_file_versions`);
2. rows identical apart from lineage (a file copied under another name) once;
3. one row per business key (event id, order, line, SKU, record version), the
   last ingested winning when two rows share a key but differ;
4. PII normalised (`jobs.common.normalize`), the raw value kept beside the
   normalised one where normalising can null it (`email_raw`, `phone_raw`, ...);
5. `source_system`, and for identity sources `record_key` (the source's own id);
6. lineage: `_ds`, `_source_file`, `_batch_id`.

Output grain per source (how `jobs.silver.main` stores it):

| source | grain of the conformed rows |
|---|---|
| crm_customers, loyalty_members | one row per record_key per updated_at (record versions) |
| web_accounts | one row per account_id: its latest version of the day |
| products | one row per sku (the day's snapshot) |
| orders | one row per order_id |
| order_lines | one row per (order_id, line_no) |
| pos_transactions | one row per (transaction_id, line_no) |
| returns | one row per (return_id, line_no) |
| web_events, email_events, consent_events | one row per event_id |

In consent_events the landing column `source_system` (where consent was captured)
becomes `captured_in`, since `source_system` names the feed in every silver table.
Returns also keep `_line_no`: the rules that need the returned line
(`jobs.silver.returns`) name each return they reject by its file and line.
"""
from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.common.bronze import latest_file_versions
from jobs.common.landing_contract import DAY_COLUMN, SOURCES
from jobs.common.landing_contract import source as contract_source
from jobs.common.normalize import (
    amount,
    email_match_key,
    email_normalized,
    name_normalized,
    phone_e164,
    postcode_normalized,
    street_normalized,
)
from jobs.common.text import text_clean

LINEAGE = (DAY_COLUMN, "_source_file", "_batch_id")

# The system each landing source comes from; with `record_key` it names a source record.
SOURCE_SYSTEMS = {s.name: s.system for s in SOURCES}


def _last_ingested() -> list[Column]:
    return [F.col("_ingested_at").desc(), F.col("_source_file").desc(), F.col("_line_no").desc()]


def distinct_landed_rows(bronze_day: DataFrame, source_name: str) -> DataFrame:
    """Newest file versions only, and rows equal in every contract column kept once.

    Of identical rows the one from the first file (by name) and line is kept, so a
    copy such as `x_copy.csv` yields to `x.csv` whatever the row order.
    """
    columns = contract_source(source_name).column_names
    first = Window.partitionBy(*columns).orderBy(F.col("_source_file"), F.col("_line_no"))
    return (
        latest_file_versions(bronze_day)
        .withColumn("_copy_no", F.row_number().over(first))
        .where("_copy_no = 1")
        .drop("_copy_no")
    )


def one_row_per(df: DataFrame, keys: Sequence[str], *order: Column) -> DataFrame:
    """One row per `keys`: the first by `order`, then the last ingested (latest batch, file, line)."""
    pick = Window.partitionBy(*keys).orderBy(*order, *_last_ingested())
    return df.withColumn("_pick", F.row_number().over(pick)).where("_pick = 1").drop("_pick")


def _prepared(bronze_day: DataFrame, source_name: str, keys: Sequence[str], *order: Column) -> DataFrame:
    return one_row_per(distinct_landed_rows(bronze_day, source_name), keys, *order)


def _system(source_name: str) -> Column:
    return F.lit(SOURCE_SYSTEMS[source_name]).alias("source_system")


def _id(name: str) -> Column:
    return text_clean(F.col(name)).alias(name)


def _lower(name: str) -> Column:
    return F.lower(text_clean(F.col(name))).alias(name)


def _upper(name: str) -> Column:
    return F.upper(text_clean(F.col(name))).alias(name)


def _email(name: str, prefix: str = "email") -> list[Column]:
    raw = F.col(name)
    return [
        email_normalized(raw).alias(prefix),
        email_match_key(raw).alias(f"{prefix}_match_key"),
        raw.alias(f"{prefix}_raw"),
    ]


def _phone() -> list[Column]:
    return [phone_e164(F.col("phone")).alias("phone"), F.col("phone").alias("phone_raw")]


def _postcode(name: str = "postcode") -> list[Column]:
    return [postcode_normalized(F.col(name)).alias(name), F.col(name).alias(f"{name}_raw")]


def _names() -> list[Column]:
    return [name_normalized(F.col("first_name")).alias("first_name"), name_normalized(F.col("last_name")).alias("last_name")]


def _lineage() -> list[Column]:
    return [F.col(c) for c in LINEAGE]


def _line_amount() -> Column:
    gross = F.col("quantity") * amount(F.col("unit_price"))
    return amount(gross - amount(F.col("discount"))).alias("line_amount")


def _priced_line() -> list[Column]:
    """The columns an order line and a till line share: sku, quantity, prices and the line amount."""
    return [
        _upper("sku"),
        F.col("quantity"),
        amount(F.col("unit_price")).alias("unit_price"),
        amount(F.col("discount")).alias("discount"),
        _line_amount(),
    ]


def _tax_id() -> Column:
    """Tax or national id: upper case, without spaces, dots, dashes or slashes."""
    return F.upper(text_clean(F.regexp_replace(F.col("tax_id"), r"[\s.\-/]", ""))).alias("tax_id")


def conform_crm_customers(bronze_day: DataFrame) -> DataFrame:
    """CRM customer record versions: one row per record_key per updated_at.

    Postcodes of GB (or unknown-country) records are normalised as UK postcodes;
    those of other countries are kept as written, cleaned and upper-cased.
    """
    df = _prepared(bronze_day, "crm_customers", ["crm_id", "updated_at"])
    gender = F.upper(text_clean(F.col("gender")))
    country = F.upper(text_clean(F.col("country")))
    uk = country.isNull() | (country == "GB")
    postcode = F.when(uk, postcode_normalized(F.col("postcode"))).otherwise(F.upper(text_clean(F.col("postcode"))))
    return df.select(
        _id("crm_id").alias("record_key"),
        _system("crm_customers"),
        _id("crm_id"),
        *_names(),
        *_email("email"),
        *_phone(),
        F.col("date_of_birth"),
        _tax_id(),
        F.when(gender.isin("F", "M", "X"), gender).alias("gender"),
        street_normalized(F.col("street")).alias("street"),
        text_clean(F.col("city")).alias("city"),
        postcode.alias("postcode"),
        F.col("postcode").alias("postcode_raw"),
        F.when(country.rlike("^[A-Z]{2}$"), country).alias("country"),
        F.col("created_at"),
        F.col("updated_at"),
        *_lineage(),
    )


def conform_loyalty_members(bronze_day: DataFrame) -> DataFrame:
    """Loyalty member record versions: one row per record_key per updated_at."""
    df = _prepared(bronze_day, "loyalty_members", ["loyalty_id", "updated_at"])
    return df.select(
        _id("loyalty_id").alias("record_key"),
        _system("loyalty_members"),
        _id("loyalty_id"),
        *_names(),
        *_email("email"),
        *_phone(),
        F.col("date_of_birth"),
        _tax_id(),
        *_postcode(),
        _lower("tier"),
        F.col("points_balance"),
        F.col("joined_at"),
        F.col("updated_at"),
        *_lineage(),
    )


def conform_web_accounts(bronze_day: DataFrame) -> DataFrame:
    """Web shop accounts: one row per record_key, the latest version of the day."""
    df = _prepared(bronze_day, "web_accounts", ["account_id"], F.col("updated_at").desc())
    return df.select(
        _id("account_id").alias("record_key"),
        _system("web_accounts"),
        _id("account_id"),
        *_email("email"),
        *_names(),
        *_phone(),
        *_postcode(),
        F.col("created_at"),
        F.col("updated_at"),
        *_lineage(),
    )


def conform_products(bronze_day: DataFrame) -> DataFrame:
    """The day's catalog snapshot: one row per sku."""
    df = _prepared(bronze_day, "products", ["sku"])
    return df.select(
        _upper("sku"),
        _system("products"),
        text_clean(F.col("product_name")).alias("product_name"),
        text_clean(F.col("category")).alias("category"),
        text_clean(F.col("subcategory")).alias("subcategory"),
        text_clean(F.col("brand")).alias("brand"),
        amount(F.col("price")).alias("price"),
        _upper("currency"),
        F.col("in_stock"),
        F.col("active"),
        F.col("launched_at"),
        *_lineage(),
    )


def conform_orders(bronze_day: DataFrame) -> DataFrame:
    """Online order headers: one row per order_id."""
    df = _prepared(bronze_day, "orders", ["order_id"])
    return df.select(
        _id("order_id"),
        _system("orders"),
        _id("account_id"),
        *_email("email"),
        F.col("order_ts"),
        _lower("channel"),
        _upper("currency"),
        amount(F.col("order_total")).alias("order_total"),
        street_normalized(F.col("ship_street")).alias("ship_street"),
        text_clean(F.col("ship_city")).alias("ship_city"),
        *_postcode("ship_postcode"),
        _id("cookie_id"),
        *_lineage(),
    )


def conform_order_lines(bronze_day: DataFrame) -> DataFrame:
    """Online order lines: one row per (order_id, line_no); `line_amount` = quantity x unit_price - discount."""
    df = _prepared(bronze_day, "order_lines", ["order_id", "line_no"])
    return df.select(
        _id("order_id"),
        F.col("line_no"),
        _system("order_lines"),
        *_priced_line(),
        *_lineage(),
    )


def conform_pos_transactions(bronze_day: DataFrame) -> DataFrame:
    """Store till lines: one row per (transaction_id, line_no)."""
    df = _prepared(bronze_day, "pos_transactions", ["transaction_id", "line_no"])
    return df.select(
        _id("transaction_id"),
        F.col("line_no"),
        _system("pos_transactions"),
        _upper("store_id"),
        F.col("transaction_ts"),
        _id("loyalty_id"),
        *_email("receipt_email", prefix="receipt_email"),
        *_priced_line(),
        *_lineage(),
    )


def conform_returns(bronze_day: DataFrame) -> DataFrame:
    """Returned lines: one row per (return_id, line_no).

    `channel` is `online` for a return naming an order, `store` for one naming a till
    transaction, and null when the row names both or neither (a break the returns rules
    quarantine). The refund is a `decimal(12,2)` amount like every silver amount.
    """
    df = _prepared(bronze_day, "returns", ["return_id", "line_no"])
    order_id, transaction_id = text_clean(F.col("order_id")), text_clean(F.col("transaction_id"))
    channel = (
        F.when(order_id.isNotNull() & transaction_id.isNull(), F.lit("online"))
        .when(transaction_id.isNotNull() & order_id.isNull(), F.lit("store"))
    )
    return df.select(
        _id("return_id"),
        F.col("line_no"),
        _system("returns"),
        channel.alias("channel"),
        _id("order_id"),
        _id("transaction_id"),
        _upper("sku"),
        F.col("quantity"),
        amount(F.col("refund_amount")).alias("refund_amount"),
        _lower("reason"),
        F.col("returned_at"),
        *_lineage(),
        F.col("_line_no"),
    )


def conform_web_events(bronze_day: DataFrame) -> DataFrame:
    """Clickstream: one row per event_id."""
    df = _prepared(bronze_day, "web_events", ["event_id"])
    return df.select(
        _id("event_id"),
        _system("web_events"),
        F.col("event_ts"),
        _lower("event_type"),
        _id("cookie_id"),
        _id("account_id"),
        _id("session_id"),
        _lower("device"),
        _upper("sku"),
        text_clean(F.col("search_query")).alias("search_query"),
        _id("order_id"),
        *_lineage(),
    )


def conform_email_events(bronze_day: DataFrame) -> DataFrame:
    """Email sends, opens and clicks: one row per event_id."""
    df = _prepared(bronze_day, "email_events", ["event_id"])
    return df.select(
        _id("event_id"),
        _system("email_events"),
        F.col("event_ts"),
        _lower("event_type"),
        *_email("email"),
        _id("campaign_id"),
        text_clean(F.col("link_url")).alias("link_url"),
        *_lineage(),
    )


def conform_consent_events(bronze_day: DataFrame) -> DataFrame:
    """Consent changes and erasure requests: one row per event_id.

    `subject_email` and `subject_email_match_key` are set when the subject is an email.
    """
    df = _prepared(bronze_day, "consent_events", ["event_id"])
    subject_type = F.lower(text_clean(F.col("subject_type")))
    is_email = subject_type == "email"
    return df.select(
        _id("event_id"),
        _system("consent_events"),
        F.col("event_ts"),
        subject_type.alias("subject_type"),
        _id("subject_id"),
        F.when(is_email, email_normalized(F.col("subject_id"))).alias("subject_email"),
        F.when(is_email, email_match_key(F.col("subject_id"))).alias("subject_email_match_key"),
        _lower("purpose"),
        _lower("action"),
        _lower("source_system").alias("captured_in"),
        *_lineage(),
    )


CONFORMERS = {
    "crm_customers": conform_crm_customers,
    "web_accounts": conform_web_accounts,
    "loyalty_members": conform_loyalty_members,
    "products": conform_products,
    "orders": conform_orders,
    "order_lines": conform_order_lines,
    "pos_transactions": conform_pos_transactions,
    "returns": conform_returns,
    "web_events": conform_web_events,
    "email_events": conform_email_events,
    "consent_events": conform_consent_events,
}
