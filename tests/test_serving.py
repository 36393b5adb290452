"""The serving layer: its contract, serving.customer_lookup."""
from __future__ import annotations

import json
from pathlib import Path

from pyspark.sql import functions as F

from jobs.common.landing_contract import SOURCES, source
from jobs.common.pseudonym import keyed_hash, load_key, normalised
from jobs.common.serving_contract import (
    CUSTOMER_LOOKUP,
    LOOKUP_ID_TYPES,
    PROFILE_ID_TYPES,
    SERVING_TABLES,
    render_markdown,
)
from jobs.serving.main import lookup_rows

DOC = Path(__file__).resolve().parents[1] / "docs" / "serving.md"
KEY = b"k" * 32


def test_docs_serving_md_matches_the_contract():
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/serving.md is out of date: python -m jobs.common.serving_contract > docs/serving.md")


def test_every_profile_source_has_an_id_type_that_is_its_landing_id_column():
    profiles = {s.name for s in SOURCES if s.identity == "profile"}
    assert set(PROFILE_ID_TYPES) == profiles
    for name, id_type in PROFILE_ID_TYPES.items():
        assert id_type in source(name).column_names and id_type in LOOKUP_ID_TYPES
    for table in SERVING_TABLES:
        assert set(table.key) <= set(table.column_names) and table.column_names[-1] == "run_date", table.name


def _map(spark, rows):
    return spark.createDataFrame(rows, "record_id STRING, source STRING, record_key STRING, email STRING, "
                                       "customer_key STRING")


def test_the_lookup_follows_merges_of_merges_and_gives_a_shared_email_no_key(spark):
    identity_map = _map(spark, [
        ("crm_customers:X1", "crm_customers", "X1", "ann@example.com", "CK_C"),
        ("web_accounts:A7", "web_accounts", " A7 ", "Ann@Example.com ", "CK_C"),
        ("loyalty_members:L1", "loyalty_members", "L1", "home@example.com", "CK_C"),
        ("crm_customers:X2", "crm_customers", "X2", "home@example.com", "CK_D"),
        ("orders:O1", "orders", "O1", None, "CK_D"),
    ])
    history = spark.createDataFrame([
        ("CK_A", "merged", "CK_B", 2, None), ("CK_B", "merged", "CK_C", 3, None),  # A -> B -> C
        ("CK_E", "merged", "CK_GONE", 1, None),  # its survivor was erased since: no current key
        ("CK_D", "split", "CK_C", 1, None),  # D lives on
    ], "customer_key STRING, event STRING, current_key STRING, records BIGINT, ds DATE")
    got = {(r.id_type, r.id): (r.customer_key, r.candidates) for r in lookup_rows(identity_map, history, KEY).collect()}
    assert got == {
        ("crm_id", "X1"): ("CK_C", 1), ("crm_id", "X2"): ("CK_D", 1),
        ("account_id", "A7"): ("CK_C", 1), ("loyalty_id", "L1"): ("CK_C", 1),
        ("email_hmac", keyed_hash("ann@example.com", KEY)): ("CK_C", 1),
        ("email_hmac", keyed_hash("home@example.com", KEY)): (None, 2),
        ("customer_key", "CK_C"): ("CK_C", 1), ("customer_key", "CK_D"): ("CK_D", 1),
        ("customer_key", "CK_A"): ("CK_C", 1), ("customer_key", "CK_B"): ("CK_C", 1),
    }


def test_the_days_serving_tables_match_their_contract_and_every_id_finds_its_customer(e2e):
    """After the Airflow day: each serving table has its contract's columns and types, and the lookup
    finds every profile record's key, every golden record's email pseudonym and every key."""
    lake, day = e2e.rt.lake, e2e.last
    assert e2e.airflow_tasks["build_lookup"] == "success"
    for table in SERVING_TABLES:
        if lake.exists(table.name):
            got = [(f.name, f.dataType.simpleString()) for f in lake.read(table.name).schema.fields]
            assert got == [(c.name, c.type) for c in table.columns], table.name
    assert lake.exists("serving.customer_scores") is False  # written once a model is trained
    lookup = lake.read(CUSTOMER_LOOKUP.name)
    assert {r.run_date for r in lookup.select("run_date").distinct().collect()} == {day}
    assert lookup.groupBy("id_type", "id").count().where("count > 1").isEmpty()
    found = {(r.id_type, r.id): r.customer_key for r in lookup.collect()}

    identity_map = lake.read("silver.identity_map")
    for record in identity_map.where(F.col("source").isin(*PROFILE_ID_TYPES)).collect():
        assert found[(PROFILE_ID_TYPES[record.source], record.record_key)] == record.customer_key
    keys = {r.customer_key for r in identity_map.select("customer_key").distinct().collect()}
    assert {i for (t, i), k in found.items() if t == "customer_key" and i == k} == keys
    # gold's email pseudonym finds its customer, unless the email is shared (then no key at all)
    key = load_key(e2e.rt.config.privacy)
    c360 = lake.read("gold.customer_360").where("email_hmac IS NOT NULL").select("customer_key", "email_hmac")
    shared = {r.id for r in lookup.where("id_type = 'email_hmac' AND candidates > 1").collect()}
    checked = 0
    for row in c360.collect():
        if row.email_hmac not in shared:
            assert found[("email_hmac", row.email_hmac)] == row.customer_key
            checked += 1
    assert checked > 100
    for row in identity_map.where("email IS NOT NULL").limit(50).collect():
        assert ("email_hmac", keyed_hash(normalised(row.email), key)) in found
    assert not any("@" in i for _, i in found)
    # The ids are the person's own: the Delta log keeps no min/max of them (an erasure rewrites files, not logs).
    log = Path(lake.path(CUSTOMER_LOOKUP.name)) / "_delta_log"
    stats = [json.loads(json.loads(line)["add"]["stats"]) for commit in sorted(log.glob("*.json"))
             for line in commit.read_text().splitlines() if '"add"' in line and json.loads(line).get("add")]
    assert stats and all("id" not in s.get("minValues", {}) and "customer_key" in s["minValues"] for s in stats)
