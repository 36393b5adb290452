"""Feature layer end to end on the shared lake: silver -> customer keys -> dbt build -> gold marts."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common.landing_contract import DAY_COLUMN
from jobs.common.runtime import Runtime
from jobs.common.stage import Days
from jobs.features.main import FeatureBuildError
from jobs.features.main import run as build
from tests.support.frames import same_rows

MARTS = ("gold.customer_360", "gold.customer_features", "gold.customer_rfm", "gold.product_features",
         "gold.customer_purchase_summary", "gold.customer_purchase_holdout", "gold.customer_churn_examples")
# Silver tables holding dated events, and their timestamp column.
EVENT_TABLES = {
    "silver.orders": "order_ts",
    "silver.pos_transactions": "transaction_ts",
    "silver.web_events": "event_ts",
    "silver.email_events": "event_ts",
    "silver.consent_events": "event_ts",
}


@pytest.fixture
def rt(e2e) -> Runtime:
    """The shared end-to-end lake (history, then its last day through Airflow: gold as of that day)."""
    return e2e.rt


def _build(rt: Runtime, day: dt.date, docs: bool = False, select: str | None = None):
    return build(rt, Days.of(day), docs=docs, select=select)


def _purchases_from_silver(rt: Runtime, as_of: dt.date) -> DataFrame:
    """One row per purchase (an order or a receipt) up to `as_of`: customer_key, day; computed without dbt."""
    lake = rt.lake
    orders = lake.read("silver.orders").select(
        F.lit("orders").alias("source"), F.col("order_id").alias("record_key"), F.to_date("order_ts").alias("day"))
    receipts = lake.read("silver.pos_transactions").groupBy(
        F.lit("pos_transactions").alias("source"), F.col("transaction_id").alias("record_key")).agg(
        F.min(F.to_date("transaction_ts")).alias("day"))  # a receipt's lines: one purchase
    keys = lake.read("silver.identity_map").select("source", "record_key", "customer_key")
    return (orders.unionByName(receipts).where(F.col("day") <= F.lit(as_of)).join(keys, ["source", "record_key"])
            .select("customer_key", "day"))


def _identified_purchases_from_silver(rt: Runtime, as_of: dt.date) -> DataFrame:
    """`_purchases_from_silver` of identified keys only: a key with a record that is not a till receipt or a
    cookie, or with an email (what the customer models learn from)."""
    known = (rt.lake.read("silver.identity_map")
             .where(~F.col("source").isin("pos_transactions", "web_events") | F.col("email_match_key").isNotNull())
             .select("customer_key").distinct())
    return _purchases_from_silver(rt, as_of).join(known, "customer_key", "left_semi")


def _frequency_from_silver(rt: Runtime, as_of: dt.date) -> DataFrame:
    """Purchases per customer_key up to `as_of`, computed from silver without dbt."""
    return _purchases_from_silver(rt, as_of).groupBy("customer_key").agg(F.count("*").alias("frequency"))


def test_the_days_gold_marts_hold_no_raw_pii_and_events_after_the_day_change_nothing(rt, spark, e2e):
    """The Airflow day built gold as of its day; a rebuild with later events in silver gives the same marts."""
    as_of = e2e.last
    c360 = rt.lake.read("gold.customer_360")
    customers = rt.lake.read("silver.customers")
    assert c360.count() == c360.select("customer_key").distinct().count() > 0
    assert c360.join(customers, "customer_key", "left_anti").count() == 0
    assert not {"email", "phone", "first_name", "last_name", "street", "date_of_birth"} & set(c360.columns)
    # The hash is the SHA-256 of the golden email, and no raw email survives in any string column.
    hashed = c360.join(customers.select("customer_key", "email"), "customer_key").where("email is not null")
    assert hashed.where(F.col("email_sha256") != F.sha2(F.lower(F.trim("email")), 256)).count() == 0
    emails = {r.email for r in customers.where("email is not null").select("email").collect()}
    strings = [f.name for f in c360.schema.fields if f.dataType.simpleString() == "string"]
    leaked = c360.select(F.explode(F.array(*strings)).alias("v")).where(F.col("v").isin(*emails)).count()
    assert leaked == 0

    rfm = rt.lake.read("gold.customer_rfm")
    assert rfm.where(F.col("as_of_date") != F.lit(as_of)).count() == 0
    expected = _frequency_from_silver(rt, as_of)
    assert same_rows(rfm.select("customer_key", "frequency"), expected)
    assert rfm.where("rfm_score <> concat(r_score, f_score, m_score)").count() == 0
    assert rfm.select("rfm_segment").distinct().count() >= 4
    history = rt.lake.read("gold.customer_rfm_history")
    assert same_rows(history.where(F.col("as_of_date") == F.lit(as_of)).select("customer_key", "rfm_segment"),
                      rfm.select("customer_key", "rfm_segment"))
    products = rt.lake.read("gold.product_features")
    assert products.count() == rt.lake.read("silver.products").count()
    assert products.where("purchases_7d > purchases_30d or views_7d > views_30d").count() == 0

    # Point in time: events after the as-of day change nothing.
    before = {t: rt.lake.read(t).localCheckpoint() for t in MARTS}
    _add_events_after(rt, as_of)
    report = _build(rt, as_of)
    assert report.tests >= 60 and report.models >= 20
    assert set(MARTS) | {"gold.customer_rfm_history"} <= set(report.gold_versions)
    # dbt docs: generated by the Airflow day's build; this build was asked for none
    assert report.docs is None and (Path(rt.config.lake.reports) / "dbt_docs" / "index.html").is_file()
    for table in MARTS:
        assert same_rows(rt.lake.read(table), before[table]), f"{table} changed with events after {as_of}"


def test_the_purchase_summary_counts_purchase_days_up_to_the_day(rt, e2e):
    """gold.customer_purchase_summary (the lifetime value models' input) against silver, without dbt.

    It holds the identified customers only: a key of unlinked till receipts is not in it.
    """
    as_of = e2e.last
    days = _identified_purchases_from_silver(rt, as_of).distinct()
    assert _purchases_from_silver(rt, as_of).select("customer_key").distinct().count() > days.select(
        "customer_key").distinct().count()  # the sample has unlinked receipts, and they are left out
    expected = days.groupBy("customer_key").agg(
        (F.count("*") - 1).alias("frequency"),
        F.datediff(F.max("day"), F.min("day")).alias("recency_days"),
        F.datediff(F.lit(as_of), F.min("day")).alias("t_days"),
    )
    summary = rt.lake.read("gold.customer_purchase_summary")
    assert same_rows(summary.select("customer_key", "frequency", "recency_days", "t_days"), expected)
    assert summary.where("frequency > 0").count() > 0
    assert summary.where("frequency = 0 and monetary_value <> 0").count() == 0
    assert summary.where("monetary_value < 0 or total_value < monetary_value").count() == 0


def _add_events_after(rt: Runtime, as_of: dt.date) -> None:
    """Copies of the as-of day's events a day and a week later, in every dated silver table."""
    for table, column in EVENT_TABLES.items():
        day = rt.lake.read(table).where(F.to_date(column) == F.lit(as_of))
        later = [_shifted(day, column, n) for n in (1, 7)]
        rt.lake.append(later[0].unionByName(later[1]), table)
    assert rt.lake.read("silver.orders").where(F.to_date("order_ts") > F.lit(as_of)).count() > 0
    assert rt.lake.read("silver.web_events").where(F.to_date("event_ts") > F.lit(as_of)).count() > 0


def _shifted(events: DataFrame, column: str, days: int) -> DataFrame:
    moved = events.withColumn(column, F.col(column) + F.expr(f"INTERVAL {days} DAYS"))
    return moved.withColumn(DAY_COLUMN, F.date_add(DAY_COLUMN, days)) if DAY_COLUMN in events.columns else moved


def test_a_failing_dbt_test_leaves_gold_at_its_last_good_version(rt, spark, e2e):
    """A product with a negative price: product_features is rebuilt, its test fails, gold goes back.

    The build selects product_features and what it reads (the smallest build showing the roll-back).
    """
    good = {t: rt.lake.version(t) for t in MARTS}
    products_version = rt.lake.version("silver.products")
    bad = rt.lake.read("silver.products").limit(1).withColumn("sku", F.lit("SKU-NEGATIVE")).withColumn(
        "price", F.lit(-1).cast("decimal(12,2)"))
    rt.lake.append(bad, "silver.products")
    try:
        with pytest.raises(FeatureBuildError, match="expression_is_true_product_features_price") as failure:
            _build(rt, e2e.last, select="+product_features")
        assert "last good version" in str(failure.value)
        restored = set()
        for table, version in good.items():
            if rt.lake.version(table) != version:
                last = rt.lake.history(table, limit=1).first()
                assert last.operation == "RESTORE", table
                assert int(last.operationParameters["version"]) == version, table
                restored.add(table)
            assert same_rows(rt.lake.read(table), rt.lake.read(table, version=version)), table
        # dbt replaced product_features before its test failed: the roll-back put it back.
        assert "gold.product_features" in restored
    finally:
        rt.lake.restore("silver.products", products_version)


def test_a_selection_matching_no_dbt_node_is_an_error_naming_it(spark, lake, config):
    from tests.support.runtime import runtime_for

    with pytest.raises(FeatureBuildError, match="--select 'customer_rmf' matched no node of dbt_project/"):
        build(runtime_for(config, lake), Days.of(dt.date(2026, 10, 1)), docs=False, select="customer_rmf")
    assert not [t for t in lake.table_names() if t.startswith("gold.")]
