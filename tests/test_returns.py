"""Returns end to end: generated returns -> bronze -> gate -> silver (+ quarantine) -> identity -> gold.

On the shared end-to-end lake (10 days, so that returns come back inside the window): its
history through ingest, silver and identity resolution, its last day through every task of
`c360_daily`. Expected values are computed from silver and the generator's truth, not from dbt.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs import pipeline
from jobs.common.bronze import QUARANTINE_TABLE, latest_file_versions
from jobs.common.lake import Lake
from jobs.common.stage import Days
from jobs.generate.returns import REFUND_OVER_LINE, UNKNOWN_ORIGINAL
from jobs.generate.writer import BAD_DATE, NEGATIVE_QUANTITY, TRUNCATED_LINE, UNKNOWN_SKU
from tests.conftest import E2E_LAST, EndToEnd

LAST = E2E_LAST
# How each kind of broken return is caught: at ingest (type, rule, line) or by silver's returns rules.
CAUGHT_AS = {
    BAD_DATE: "column returned_at: ",
    NEGATIVE_QUANTITY: "column quantity: ",
    TRUNCATED_LINE: "expected ",
    UNKNOWN_SKU: "rule same_sku: ",
    REFUND_OVER_LINE: "rule refund_within_line: ",
    UNKNOWN_ORIGINAL: "rule line_known: ",
}


@pytest.fixture
def built(e2e):
    """The shared end-to-end lake: its history through ingest, silver and identities, its last day through Airflow."""
    return e2e


def _truth(built: EndToEnd, part: str) -> pd.DataFrame:
    return pd.read_parquet(built.sample / "truth" / part)


def test_returns_land_in_bronze_and_silver_and_the_gate_checked_them(built):
    lake = built.rt.lake
    truth = _truth(built, "returns")
    assert lake.read("bronze.returns").count() > 0
    silver = lake.read("silver.returns")
    assert silver.count() == silver.select("return_id", "line_no").distinct().count() > 0
    # The Airflow day's returns are all accounted for: in silver, or refused by silver's rules.
    day_bronze = latest_file_versions(lake.read("bronze.returns").where(F.col("_ds") == F.lit(LAST))).count()
    day_refused = lake.read(QUARANTINE_TABLE).where(
        (F.col("source") == "returns") & (F.col("_ds") == F.lit(LAST)) & F.col("reason").startswith("rule ")).count()
    assert silver.where(F.col("_ds") == F.lit(LAST)).count() + day_refused == day_bronze
    # Every clean return the generator wrote is in silver, and nothing else.
    dirty = _truth(built, "dirty_rows")
    dirty = dirty[dirty["source"] == "returns"]
    written_dirty = set()
    for rec in dirty.itertuples():
        line = (built.sample / "landing" / rec.file).read_text().splitlines()[rec.line_no]
        written_dirty.add(tuple(line.split(",")[:1] + line.split(",")[3:4]))  # (return_id, line_no) as written
    clean = {(r.return_id, str(r.line_no)) for r in truth.itertuples()} - written_dirty
    assert {(r["return_id"], str(r["line_no"])) for r in silver.collect()} == clean
    gate = lake.read("ops.dq_results").where((F.col("source") == "returns") & (F.col("run_date") == F.lit(LAST)))
    # The gate validated the day's returns when there were any (a day without is summarised as no data).
    assert (gate.count() > 0) == (day_bronze > 0)
    assert gate.where("severity = 'error' and success = false").count() == 0


def test_every_planted_bad_return_is_quarantined_with_the_reason_of_its_break(built):
    dirty = _truth(built, "dirty_rows")
    dirty = dirty[dirty["source"] == "returns"]
    # Every kind planted is one of the known ones; the two only silver can catch are always planted.
    assert set(dirty["kind"]) <= set(CAUGHT_AS) and {REFUND_OVER_LINE, UNKNOWN_ORIGINAL} <= set(dirty["kind"])
    landing = built.sample / "landing"
    quarantined = {
        (r["file"], r["line_no"]): r
        for r in built.rt.lake.read(QUARANTINE_TABLE).where(F.col("source") == "returns").collect()
    }
    for rec in dirty.itertuples():
        row = quarantined.get((str(landing / rec.file), rec.line_no))
        assert row is not None, f"{rec.kind} at {rec.file}:{rec.line_no} is not in ops.quarantine"
        assert row["reason"].startswith(CAUGHT_AS[rec.kind]), (rec.kind, row["reason"])
        assert row["raw"]
    assert len(quarantined) == len(dirty)


def _expected_rfm_money(lake: Lake, as_of: dt.date) -> DataFrame:
    """Per customer_key: purchases after discounts and refunds on them, up to `as_of`, from silver."""
    keys = lake.read("silver.identity_map").select("source", "record_key", "customer_key")
    order_lines = lake.read("silver.order_lines")
    orders = lake.read("silver.orders").where(F.to_date("order_ts") <= F.lit(as_of))
    online = (
        orders.join(order_lines.groupBy("order_id").agg(F.sum("line_amount").alias("lines")), "order_id", "left")
        .select(F.lit("orders").alias("source"), F.col("order_id").alias("record_key"),
                F.coalesce("lines", "order_total").alias("spend"))
    )
    store = (
        lake.read("silver.pos_transactions").where(F.to_date("transaction_ts") <= F.lit(as_of))
        .groupBy(F.col("transaction_id").alias("record_key")).agg(F.sum("line_amount").alias("spend"))
        .select(F.lit("pos_transactions").alias("source"), "record_key", "spend")
    )
    spend = online.unionByName(store).join(keys, ["source", "record_key"])
    # A refund counts against a purchase whose line is bought (an order line needs its order).
    returns = lake.read("silver.returns").where(F.to_date("returned_at") <= F.lit(as_of))
    online_refunds = returns.join(order_lines.select("order_id", "line_no"), ["order_id", "line_no"]).select(
        F.lit("orders").alias("source"), F.col("order_id").alias("record_key"), "refund_amount")
    store_refunds = returns.join(
        lake.read("silver.pos_transactions").select("transaction_id", "line_no"), ["transaction_id", "line_no"]
    ).select(F.lit("pos_transactions").alias("source"), F.col("transaction_id").alias("record_key"), "refund_amount")
    refunds = online_refunds.unionByName(store_refunds).join(spend.select("source", "record_key"),
                                                             ["source", "record_key"]).join(keys, ["source", "record_key"])
    return (
        spend.groupBy("customer_key").agg(F.sum("spend").alias("gross"))
        .join(refunds.groupBy("customer_key").agg(F.sum("refund_amount").alias("refunded")), "customer_key", "left")
        .select("customer_key", "gross", F.coalesce("refunded", F.lit(0)).alias("refunded"))
    )


def test_rfm_monetary_and_net_spend_are_net_of_the_refunds_found_in_silver(built):
    lake = built.rt.lake
    expected = {r["customer_key"]: (r["gross"], r["refunded"]) for r in _expected_rfm_money(lake, LAST).collect()}
    rfm = lake.read("gold.customer_rfm").collect()
    assert {r["customer_key"] for r in rfm} == set(expected)
    with_refunds = [r for r in rfm if expected[r["customer_key"]][1] > 0]
    assert with_refunds
    for r in rfm:
        gross, refunded = expected[r["customer_key"]]
        assert (r["monetary_before_refunds"], r["refunds"], r["monetary"]) == (gross, refunded, gross - refunded), r
    features = {r["customer_key"]: r for r in lake.read("gold.customer_360").collect()}
    for r in with_refunds:
        row = features[r["customer_key"]]
        assert row["net_spend"] == row["spend_before_refunds"] - row["refunds"] < row["spend_before_refunds"]
        assert 0 < row["return_rate"] <= 1 and row["refunds"] == r["refunds"]


def test_product_return_rates_count_units_back_of_units_sold(built):
    products = built.rt.lake.read("gold.product_features")
    returned = products.where("units_returned_90d > 0").collect()
    assert returned
    for p in returned:
        assert p["return_rate"] == pytest.approx(p["units_returned_90d"] / p["units_sold_90d"], abs=1e-4)
    assert products.where("units_sold_90d = 0 and return_rate is not null").count() == 0


def test_rebuilding_the_day_in_silver_quarantines_nothing_twice(built):
    lake = built.rt.lake

    def state() -> tuple[list, list]:
        rows = lake.read(QUARANTINE_TABLE).where(F.col("source") == "returns")
        quarantined = sorted((r["file"], r["line_no"], r["reason"]) for r in rows.collect())
        return quarantined, sorted(tuple(r) for r in lake.read("silver.returns").collect())

    before = state()
    assert any(reason.startswith("rule ") for _, _, reason in before[0])
    pipeline.run(built.rt, Days.of(LAST), ("silver",), log=lambda *_: None)
    assert state() == before


def test_before_the_first_return_the_features_build_with_nothing_returned(built):
    """Without a silver returns table (one dropped, or a lake from before silver made empty tables), gold is built
    as if nothing came back."""
    lake = built.rt.lake
    folder = Path(lake.path("silver.returns"))
    aside = folder.with_name("_returns_aside")
    lake.spark.sql("DROP TABLE IF EXISTS silver.returns")  # an external table: its files stay
    folder.rename(aside)
    try:
        assert not lake.exists("silver.returns")
        pipeline.STAGES["build_features"].run(built.rt, Days.of(LAST), docs=False,
                                              select="+customer_rfm +customer_features")
        rfm = lake.read("gold.customer_rfm")
        assert rfm.count() > 0 and rfm.where("refunds <> 0 or monetary <> monetary_before_refunds").count() == 0
        assert lake.read("gold.customer_features").where("units_returned > 0 or refunds > 0").count() == 0
    finally:
        aside.rename(folder)
        lake.register("silver.returns")
