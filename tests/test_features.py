"""Feature layer end to end: generated data -> silver -> customer keys -> dbt build -> gold marts."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs import pipeline
from jobs.common.lake import LAYERS, Lake
from jobs.common.runtime import Runtime
from jobs.features.main import FeatureBuildError, build_features
from jobs.generate.main import generate
from jobs.generate.rates import VariationRates

pytestmark = pytest.mark.slow

DAY1 = dt.date(2026, 10, 1)
LAST = dt.date(2026, 10, 6)
AS_OF = dt.date(2026, 10, 4)
MARTS = ("gold.customer_360", "gold.customer_features", "gold.customer_rfm", "gold.product_features")
# Silver tables holding dated events, and their timestamp column.
EVENT_TABLES = {
    "silver.orders": "order_ts",
    "silver.pos_transactions": "transaction_ts",
    "silver.web_events": "event_ts",
    "silver.email_events": "event_ts",
    "silver.consent_events": "event_ts",
}


@pytest.fixture(scope="module")
def rt(spark, config, tmp_path_factory) -> Runtime:
    """Six generated days through ingest, silver and identity resolution, in a lake of this module."""
    root = tmp_path_factory.mktemp("features")
    generate(root / "sample", customers=400, days=6, seed=11, start=DAY1, rates=VariationRates(),
             log=lambda *_: None)
    for db in LAYERS:
        spark.sql(f"DROP DATABASE IF EXISTS {db} CASCADE")
    lake = Lake(spark, dataclasses.replace(config.lake, root=str(root / "lake")))
    local = dataclasses.replace(
        config,
        lake=dataclasses.replace(config.lake, root=lake.root),
        landing=dataclasses.replace(config.landing, uri=str(root / "sample" / "landing")),
        identity=dataclasses.replace(config.identity, model_dir=str(root / "model")),
    )
    runtime = Runtime(local, spark, lake)
    pipeline.ingest_step(runtime, DAY1, LAST)
    pipeline.silver_step(runtime, DAY1, LAST)
    pipeline.resolve_identities_step(runtime, DAY1, LAST)
    return runtime


def _build(rt: Runtime, day: dt.date, docs: bool = False):
    return build_features(rt.spark, rt.lake, rt.config.lake.reports, day, docs=docs)


def _comparable(df: DataFrame) -> DataFrame:
    """Map columns as sorted entry arrays: Spark's set operations refuse maps."""
    return df.select(*[
        F.array_sort(F.map_entries(f.name)).alias(f.name) if f.dataType.typeName() == "map" else F.col(f.name)
        for f in df.schema.fields
    ])


def _same_rows(a: DataFrame, b: DataFrame) -> bool:
    a, b = _comparable(a), _comparable(b)
    return a.count() == b.count() and a.exceptAll(b).count() == 0 and b.exceptAll(a).count() == 0


def _frequency_from_silver(rt: Runtime, as_of: dt.date) -> DataFrame:
    """Purchases per customer_key up to `as_of`, computed from silver without dbt."""
    lake = rt.lake
    orders = lake.read("silver.orders").where(F.to_date("order_ts") <= F.lit(as_of)).select(
        F.lit("orders").alias("source"), F.col("order_id").alias("record_key"))
    receipts = lake.read("silver.pos_transactions").where(F.to_date("transaction_ts") <= F.lit(as_of)).select(
        F.lit("pos_transactions").alias("source"), F.col("transaction_id").alias("record_key")).distinct()
    keys = lake.read("silver.identity_map").select("source", "record_key", "customer_key")
    return orders.unionByName(receipts).join(keys, ["source", "record_key"]).groupBy("customer_key").agg(
        F.count("*").alias("frequency"))


def test_build_writes_the_gold_marts_as_of_a_day_without_raw_pii(rt, spark):
    report = _build(rt, AS_OF, docs=True)

    assert report.tests >= 60 and report.models >= 20
    assert set(MARTS) | {"gold.customer_rfm_history"} <= set(report.gold_versions)
    assert report.docs and report.docs.endswith("dbt_docs/index.html")
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
    assert rfm.where(F.col("as_of_date") != F.lit(AS_OF)).count() == 0
    expected = _frequency_from_silver(rt, AS_OF)
    assert _same_rows(rfm.select("customer_key", "frequency"), expected)
    assert rfm.where("rfm_score <> concat(r_score, f_score, m_score)").count() == 0
    assert rfm.select("rfm_segment").distinct().count() >= 4
    history = rt.lake.read("gold.customer_rfm_history")
    assert _same_rows(history.where(F.col("as_of_date") == F.lit(AS_OF)).select("customer_key", "rfm_segment"),
                      rfm.select("customer_key", "rfm_segment"))
    products = rt.lake.read("gold.product_features")
    assert products.count() == rt.lake.read("silver.products").count()
    assert products.where("purchases_7d > purchases_30d or views_7d > views_30d").count() == 0


def _gold_as_of(rt: Runtime) -> dt.date | None:
    if not all(rt.lake.exists(t) for t in MARTS):
        return None
    return rt.lake.read("gold.customer_rfm").agg(F.max("as_of_date")).first()[0]


def test_events_after_the_as_of_day_change_nothing(rt, spark):
    if _gold_as_of(rt) != AS_OF:
        _build(rt, AS_OF)
    before = {t: rt.lake.read(t).localCheckpoint() for t in MARTS}
    versions = {t: rt.lake.version(t) for t in EVENT_TABLES}
    later = {t: rt.lake.read(t).where(F.to_date(c) > F.lit(AS_OF)).count() for t, c in EVENT_TABLES.items()}
    assert later["silver.orders"] > 0 and later["silver.web_events"] > 0
    try:
        # The same lake as it looked when nothing after the as-of day had arrived.
        for table, column in EVENT_TABLES.items():
            rt.lake.delete(table, F.to_date(column) > F.lit(AS_OF))
        _build(rt, AS_OF)
        for table in MARTS:
            assert _same_rows(rt.lake.read(table), before[table]), f"{table} changed with events after {AS_OF}"
    finally:
        for table, version in versions.items():
            rt.lake.restore(table, version)


def test_a_failing_dbt_test_leaves_gold_at_its_last_good_version(rt, spark):
    if _gold_as_of(rt) is None:
        _build(rt, AS_OF)
    good = {t: rt.lake.version(t) for t in MARTS}
    products_version = rt.lake.version("silver.products")
    bad = rt.lake.read("silver.products").limit(1).withColumn("sku", F.lit("SKU-NEGATIVE")).withColumn(
        "price", F.lit(-1).cast("decimal(12,2)"))
    rt.lake.append(bad, "silver.products")
    try:
        with pytest.raises(FeatureBuildError, match="expression_is_true_product_features_price") as failure:
            _build(rt, AS_OF)
        assert "last good version" in str(failure.value)
        restored = set()
        for table, version in good.items():
            if rt.lake.version(table) != version:
                last = rt.lake.history(table, limit=1).first()
                assert last.operation == "RESTORE", table
                assert int(last.operationParameters["version"]) == version, table
                restored.add(table)
            assert _same_rows(rt.lake.read(table), rt.lake.read(table, version=version)), table
        # dbt replaced product_features before its test failed: the roll-back put it back.
        assert "gold.product_features" in restored
    finally:
        rt.lake.restore("silver.products", products_version)
