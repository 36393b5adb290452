"""Feature layer end to end on the shared lake: silver -> customer keys -> dbt build -> gold marts."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common import pii
from jobs.common.landing_contract import SOURCES
from jobs.common.pseudonym import keyed_hash, load_key, normalised
from jobs.common.runtime import Runtime
from jobs.common.stage import Days
from jobs.features import incremental
from jobs.features.dbt import PROJECT_DIR
from jobs.features.main import FeatureBuildError, refuse_personal_data
from jobs.features.main import run as build
from tests.support.frames import same_rows

MARTS = ("gold.customer_360", "gold.customer_features", "gold.customer_rfm", "gold.product_features",
         "gold.customer_purchase_summary", "gold.customer_churn_features")
TRAINING_MARTS = ("gold.customer_purchase_holdout", "gold.customer_churn_examples")


@pytest.fixture
def rt(e2e) -> Runtime:
    """The shared end-to-end lake (history, then its last day through Airflow: gold as of that day)."""
    return e2e.rt


def _landed_contact_forms(rt: Runtime) -> set[str]:
    """Each email and phone value of every bronze table (what the landing files held) and of the golden
    records: as it is, and trimmed and lower-cased as the pseudonyms normalise it."""
    values: set[str] = set()
    for src in SOURCES:
        columns = [c for c in src.pii_columns if "email" in c or "phone" in c]
        if columns and rt.lake.exists(f"bronze.{src.name}"):
            rows = rt.lake.read(f"bronze.{src.name}").select(*columns).collect()
            values |= {v for r in rows for v in r if v}
    # and as silver conformed them (E.164 phones) into the golden records
    values |= {v for r in rt.lake.read("silver.customers").select("email", "phone").collect() for v in r if v}
    return {form for v in values for form in (v, normalised(v)) if form}


def _unkeyed_hashes(value: str) -> tuple[str, ...]:
    data = value.encode()
    return hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest(), hashlib.sha256(data).hexdigest()


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


def test_the_days_gold_marts_hold_no_raw_pii_and_count_up_to_their_day(rt, spark, e2e):
    """The Airflow day built gold as of its day: pseudonyms only, and RFM and product counts up to the day."""
    as_of = e2e.last
    c360 = rt.lake.read("gold.customer_360")
    customers = rt.lake.read("silver.customers")
    assert c360.count() == c360.select("customer_key").distinct().count() > 0
    assert c360.join(customers, "customer_key", "left_anti").count() == 0
    assert not {"email", "phone", "first_name", "last_name", "street", "date_of_birth"} & set(c360.columns)
    # The pseudonyms are HMAC-SHA256 of the golden email and phone under the lake's key; no raw
    # value, and no unkeyed hash of one (which a list of known addresses reverses), is in any string column.
    key = load_key(rt.config.privacy)
    golden = customers.join(c360.select("customer_key", "email_hmac", "phone_hmac", "erasure_requested"),
                            "customer_key").collect()
    assert any(r.email for r in golden) and any(r.phone for r in golden)
    for r in golden:
        for raw, pseudonym in ((r.email, r.email_hmac), (r.phone, r.phone_hmac)):
            assert pseudonym == (keyed_hash(normalised(raw), key) if raw and not r.erasure_requested else None)
    raw = {v for r in golden for v in (r.email, r.phone) if v}
    unkeyed = {hashlib.sha256(normalised(v).encode()).hexdigest() for v in raw}
    strings = [f.name for f in c360.schema.fields if f.dataType.simpleString() == "string"]
    leaked = c360.select(F.explode(F.array(*strings)).alias("v")).where(F.col("v").isin(*(raw | unkeyed))).count()
    assert leaked == 0
    # Every email and phone of the landing files and the golden records, as is and normalised: no md5,
    # sha1 or sha256 of any of them is in a string of any gold or serving table.
    forms = _landed_contact_forms(rt)
    assert len(forms) > 100
    unkeyed = spark.createDataFrame([(h,) for v in forms for h in _unkeyed_hashes(v)], "v STRING")
    for table in (t for t in rt.lake.table_names() if t.split(".")[0] in ("gold", "serving")):
        frame = rt.lake.read(table)
        strings = [f"`{f.name}`" for f in frame.schema.fields if f.dataType.simpleString() == "string"]
        if strings:
            values = frame.select(F.explode(F.array(*strings)).alias("v"))
            assert values.join(F.broadcast(unkeyed), "v").count() == 0, f"{table} holds an unkeyed hash"
    # the check every build runs on the gold it writes, here over the serving tables the scoring stages wrote
    tagged = pii.tagged_columns(PROJECT_DIR)
    assert {"email", "phone", "first_name", "email_match_key", "subject_key"} <= tagged
    serving = [t for t in rt.lake.table_names() if t.startswith("serving.")]
    assert "serving.recommendations" in serving
    assert pii.findings({t: rt.lake.read(t) for t in serving}, tagged) == []

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

    # Point in time (events after the day change nothing): tests/test_ingest_reliability.py, in its rebuild.


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
        with pytest.raises(FeatureBuildError,
                           match=r"row_rules_product_features\b.*broken: expression\(price >= 0\) by 1 row\b") as failure:
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


def test_the_daily_build_leaves_the_training_marts_to_the_weekly_stage_which_builds_them_from_the_days_tables(
        rt, spark, e2e):
    """Only training reads the holdout and the churn examples: the day's build leaves them out; the weekly
    build_training_features builds them as of the day with the event tables they read (and nothing else), in a
    session whose catalog does not hold the intermediate tables yet, as a fresh c360_train task's would not."""
    from jobs.features import training
    from jobs.features.main import INTERMEDIATE_SCHEMA

    day = e2e.last
    for table in TRAINING_MARTS:
        if rt.lake.exists(table):
            rt.lake.drop(table)
    daily = build(rt, Days.of(day), docs=False)
    assert not any(rt.lake.exists(t) for t in TRAINING_MARTS)
    assert all(rt.lake.exists(t) for t in MARTS)

    with pytest.raises(FeatureBuildError, match=rf"gold.customer_features is as of {day}, not "
                                                rf"{day - dt.timedelta(days=1)}: run `c360 build-features"):
        training.run(rt, Days.of(day - dt.timedelta(days=1)))
    intermediate = [r.tableName for r in spark.sql(f"SHOW TABLES IN {INTERMEDIATE_SCHEMA}").collect()
                    if not r.isTemporary]  # dbt's temporary views of incremental models are listed too
    assert "int_purchases" in intermediate
    for name in intermediate:
        spark.sql(f"DROP TABLE {INTERMEDIATE_SCHEMA}.{name}")  # external tables: the catalog entry goes, the data stays
    built = training.run(rt, Days.of(day))
    events = ("int_purchases", "int_purchase_lines", "int_returns", "int_email_events", "int_web_events")
    assert built.models > len(TRAINING_MARTS) + len(events) and built.tests > 0  # and the staging views
    assert set(built.gold_versions) - set(daily.gold_versions) == set(TRAINING_MARTS)
    assert {t: v for t, v in built.gold_versions.items() if t not in TRAINING_MARTS} == daily.gold_versions
    examples = rt.lake.read("gold.customer_churn_examples")
    assert {r.cutoff_role for r in examples.select("cutoff_role").distinct().collect()} == {"train", "test"}
    assert examples.where(f"churned is null or as_of_date <> '{day}'").count() == 0
    assert rt.lake.read("gold.customer_purchase_holdout").where(F.col("as_of_date") != F.lit(day)).count() == 0
    # The day's churn input: the examples' features, computed as of the day itself.
    current = rt.lake.read("gold.customer_churn_features")
    assert current.count() > 0 and current.where(F.col("cutoff_date") != F.lit(day)).count() == 0
    assert set(current.columns) == set(examples.columns) - {"cutoff_role", "churned"}


def test_an_incremental_day_writes_every_mart_as_a_full_build_of_the_day_does(rt, spark, e2e):
    """Gold built as of the history's last day, then silver as the Airflow day left it (new orders, events,
    records linked to existing customers) and the build as of that day: it is incremental, computes the
    customers the day touched only, and every gold table it writes holds, row for row, what a full build of
    the day writes. The churn base spans 5 days here, so customers leave it between the two days (a window's
    edge passes): they are touched too."""
    lake, day, history_last = rt.lake, e2e.last, e2e.history_last
    churn = dataclasses.replace(rt.config.customers.churn, active_days=5)
    rt = dataclasses.replace(rt, config=dataclasses.replace(
        rt.config, customers=dataclasses.replace(rt.config.customers, churn=churn)))
    # Silver as the history left it (before the Airflow day): gold built as of the history's last day.
    now = {t: lake.version(t) for t in e2e.before_day["silver_versions"]}
    for table, version in e2e.before_day["silver_versions"].items():
        lake.restore(table, version)
    first = build(rt, Days.of(history_last), docs=False)
    assert first.incremental_since is None and "not before" in first.full_reason
    for table, version in now.items():
        lake.restore(table, version)

    day_build = build(rt, Days.of(day), docs=False)
    assert day_build.incremental_since == history_last, day_build.full_reason
    customers = lake.read("gold.customer_features").count()
    assert 0 < day_build.touched < customers
    # Customers who were in the 5-day churn base the day before and are not now: carried rows would keep them.
    left_base = (lake.read("gold.customer_churn_features", version=first.gold_versions["gold.customer_churn_features"])
                 .join(lake.read("gold.customer_churn_features"), "customer_key", "left_anti"))
    assert left_base.count() > 0
    incremental_versions = dict(day_build.gold_versions)

    full = build(dataclasses.replace(rt, config=dataclasses.replace(
        rt.config, features=dataclasses.replace(rt.config.features, incremental=False))), Days.of(day), docs=False)
    assert full.incremental_since is None and full.full_reason == "features.incremental is off"
    written = [t for t in full.gold_versions if t in first.gold_versions and t != "gold.rfm_segment_map"]
    assert set(incremental.CARRIED) <= set(written)
    for table in written:
        carried = lake.read(table, version=incremental_versions[table])
        assert carried.count() > 0 or table == "gold.campaign_results", table
        assert same_rows(carried, lake.read(table)), f"{table}: the incremental day differs from the full build"


def test_a_day_is_built_whole_when_silver_was_rewritten_under_an_earlier_day_or_the_project_changed(rt, e2e):
    """The Airflow day's build recorded what it read: the next day may be incremental. Silver rewritten under a
    landing day the build had seen (a backfill, an erasure), another setting of a model, or the option off: the
    next build computes every customer, and says why."""
    from jobs.features.main import build_plan

    lake, next_day = rt.lake, e2e.last + dt.timedelta(days=1)
    assert build_plan(rt, next_day).since.as_of == e2e.last
    assert build_plan(rt, e2e.last).reason == f"the last build was as of {e2e.last}, not before {e2e.last}"
    assert build_plan(rt, next_day, partial="a partial build").reason == "a partial build"
    longer = dataclasses.replace(rt.config.customers, clv_holdout_days=rt.config.customers.clv_holdout_days + 1)
    changed = dataclasses.replace(rt, config=dataclasses.replace(rt.config, customers=longer))
    assert build_plan(changed, next_day).reason == "the dbt project or its settings changed since the last build"
    off = dataclasses.replace(rt.config.features, incremental=False)
    assert build_plan(dataclasses.replace(rt, config=dataclasses.replace(rt.config, features=off)),
                      next_day).reason == "features.incremental is off"

    earlier = e2e.last - dt.timedelta(days=3)
    order = lake.read("silver.orders").where(F.col("_ds") == F.lit(earlier)).select("order_id").first().order_id
    lake.spark.sql(f"DELETE FROM delta.`{lake.path('silver.orders')}` WHERE order_id = '{order}'")
    assert build_plan(rt, next_day).reason == (
        f"silver.orders was rewritten under landing day {earlier} since the last build as of {e2e.last}")


def declared_unit_tests() -> list[tuple[str, str]]:
    """The dbt project's unit tests: (name, model) from the models' yml files."""
    import yaml

    return [(t["name"], t["model"]) for path in (PROJECT_DIR / "models").rglob("*.yml")
            for t in (yaml.safe_load(path.read_text()) or {}).get("unit_tests", [])]


def test_the_daily_build_leaves_the_dbt_unit_tests_out(rt, e2e):
    """Unit tests check a model's SQL on fixed inputs: the day's build of customer_rfm and its parents runs their
    data tests only.

    (`--unit-tests` runs them: the rebuild in tests/test_ingest_reliability.py.)
    """
    assert "customer_rfm" in {model for _, model in declared_unit_tests()}
    report = build(rt, Days.of(e2e.last), docs=False, select="+customer_rfm")
    assert report.models > 1 and report.tests > 0 and report.unit_tests == 0


def test_personal_data_in_gold_after_a_build_fails_it_and_puts_gold_back(rt, e2e):
    """A product name holding an address reached product_features: the check after `dbt build` refuses it.

    (Every build in these tests passes the same check on its clean gold; this is its failing side.)
    """
    before = {t: rt.lake.version(t) for t in rt.lake.table_names() if t.startswith("gold.")}
    leaky = rt.lake.read("gold.product_features").limit(1).withColumn("sku", F.lit("SKU-LEAKY")).withColumn(
        "product_name", F.lit("Gift card for Ann.Lee@example.com"))
    rt.lake.append(leaky, "gold.product_features")
    with pytest.raises(FeatureBuildError, match=r"gold\.product_features\.product_name holds 1 value\(s\) that "
                                                r"look like email addresses") as failure:
        refuse_personal_data(rt.lake, before, e2e.last)
    assert "ann.lee" not in str(failure.value).lower()  # the error names the column, never the value
    assert "gold.product_features restored to version" in str(failure.value)
    assert {t: rt.lake.version(t) for t in before} != before  # the RESTORE is a new version ...
    assert rt.lake.read("gold.product_features").where("sku = 'SKU-LEAKY'").count() == 0  # ... of the old rows


def test_a_selection_matching_no_dbt_node_is_an_error_naming_it(spark, lake, config):
    from tests.support.runtime import runtime_for

    with pytest.raises(FeatureBuildError, match="--select 'customer_rmf' matched no node of dbt_project/"):
        build(runtime_for(config, lake), Days.of(dt.date(2026, 10, 1)), docs=False, select="customer_rmf")
    assert not [t for t in lake.table_names() if t.startswith("gold.")]


def test_every_gold_column_carries_its_dbt_description_and_the_exposures_name_their_marts(rt, e2e):
    """persist_docs wrote each mart's yml descriptions to its Delta table (what a BI tool shows), and
    the manifest of the day's build lists the exposures with the marts they read."""
    import json
    from pathlib import Path

    import yaml

    from jobs.features import training

    if not all(rt.lake.exists(t) for t in TRAINING_MARTS):  # the weekly stage's marts, documented alike
        training.run(rt, Days.of(e2e.last))

    marts = {m["name"]: m for m in yaml.safe_load(
        (PROJECT_DIR / "models" / "marts" / "_marts__models.yml").read_text())["models"]}
    for name, model in marts.items():
        described = {c["name"]: c.get("description", "").strip() for c in model.get("columns", [])}
        table = f"gold.{name}"
        fields = rt.lake.read(table).schema.fields
        missing = [f.name for f in fields if not described.get(f.name)]
        assert missing == [], f"{table}: no description in _marts__models.yml for {missing}"
        for f in fields:
            assert (f.metadata.get("comment") or "").strip() == described[f.name], f"{table}.{f.name}"
        detail = rt.spark.sql(f"DESCRIBE DETAIL delta.`{rt.lake.path(table)}`").first()
        assert (detail.description or "").strip() == model["description"].strip(), table
    manifest = json.loads((Path(rt.config.lake.reports) / "dbt_docs" / "manifest.json").read_text())
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert set(exposures) == {"read_api", "email_audience_export", "customer_dashboard", "campaign_readout",
                              "model_training"}
    for exposure in exposures.values():
        assert exposure["depends_on"]["nodes"], exposure["name"]
        assert all(node.split(".")[-1] in marts for node in exposure["depends_on"]["nodes"]), exposure["name"]


def test_source_freshness_reads_the_newest_landing_day_of_each_daily_source(rt, e2e):
    """`dbt source freshness` on the shared lake: its last landing day is weeks before today, so every
    daily source is past its error_after; a source without a freshness block is not checked."""
    from jobs.common.landing_contract import SOURCES
    from jobs.features.main import source_freshness

    found = {f.source: f for f in source_freshness(e2e.rt)}
    assert set(found) == {s.name for s in SOURCES if s.delivery == "daily"}
    assert all(f.status == "error" and f.max_loaded_at[:10] <= str(e2e.last) for f in found.values())
    assert found["orders"].max_loaded_at.startswith(str(e2e.last))
    assert all(f.age_hours > 72 for f in found.values())
