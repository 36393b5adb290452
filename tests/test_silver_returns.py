"""Returns below gold: ingest's row rules, the conformer, the silver rules that need the returned lines, quarantine."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common.bronze import QUARANTINE_COLUMNS, QUARANTINE_TABLE, bronze_ddl
from jobs.common.landing_contract import source
from jobs.common.runtime import Runtime
from jobs.common.stage import Days
from jobs.ingest.parse import split_csv, typed
from jobs.silver.conform import conform_order_lines, conform_pos_transactions, conform_returns
from jobs.silver.returns import RULES, bought_lines, check_returns, quarantine_rows

DAY1, DAY2, DAY3 = dt.date(2026, 10, 1), dt.date(2026, 10, 2), dt.date(2026, 10, 3)
INGESTED = dt.datetime(2026, 10, 4, 6, 0)
AT = dt.datetime(2026, 10, 3, 11, 30)


def _bronze(spark, name: str, rows: list[dict], day: dt.date = DAY3, **lineage) -> DataFrame:
    """Bronze rows of `name` landed on `day`, one per dict; omitted columns are null."""
    src = source(name)
    defaults = {"_ds": day, "_source_file": f"landing/{name}/ds={day}/{name}_{day:%Y%m%d}.csv",
                "_file_version": 1, "_ingested_at": INGESTED, "_batch_id": "batch-1"}
    full = [
        tuple({**defaults, "_line_no": i, **lineage, **row}.get(c) for c in (
            *src.column_names, "_ds", "_source_file", "_file_version", "_line_no", "_ingested_at", "_batch_id"))
        for i, row in enumerate(rows, start=1)
    ]
    return spark.createDataFrame(full, bronze_ddl(src))


def _return(return_id: str, line_no: int, quantity: int, refund: str, order_id: str | None = None,
            transaction_id: str | None = None, sku: str = "SKU-000001", at: dt.datetime = AT) -> dict:
    return {"return_id": return_id, "order_id": order_id, "transaction_id": transaction_id, "line_no": line_no,
            "sku": sku, "quantity": quantity, "refund_amount": Decimal(refund), "reason": "wrong_size",
            "returned_at": at}


def _order_line(order_id: str, line_no: int, sku: str, quantity: int, unit: str, discount: str) -> dict:
    return {"order_id": order_id, "line_no": line_no, "sku": sku, "quantity": quantity,
            "unit_price": Decimal(unit), "discount": Decimal(discount)}


def _till_line(transaction_id: str, line_no: int, sku: str, quantity: int, unit: str) -> dict:
    return {"transaction_id": transaction_id, "line_no": line_no, "store_id": "ST0001",
            "transaction_ts": dt.datetime(2026, 10, 1, 12), "sku": sku, "quantity": quantity,
            "unit_price": Decimal(unit), "discount": Decimal("0.00")}


def test_ingest_quarantines_returns_breaking_a_column_rule(spark):
    src = source("returns")
    header = ",".join(src.column_names)
    lines = [header,
             "R1,O1,,1,SKU-000001,1,9.99,damaged,2026-10-03T10:00:00Z",
             "R2,O1,,2,SKU-000001,0,9.99,damaged,2026-10-03T10:00:00Z",
             "R3,,T1,1,SKU-000001,1,-0.01,damaged,2026-10-03T10:00:00Z",
             "R4,,T1,2,SKU-000001,1,1.00,damaged,"]
    raw = spark.createDataFrame([(0, i, v) for i, v in enumerate(lines, start=1)], "_file_idx INT, _line INT, value STRING")
    got = {r["return_id"]: r["_reason"] for r in typed(split_csv(raw, src.column_names, src), src).collect()}
    assert got == {
        "R1": None,
        "R2": "column quantity: '0' breaks the rule quantity > 0",
        "R3": "column refund_amount: '-0.01' breaks the rule refund_amount >= 0",
        "R4": "required column returned_at is empty",
    }


def test_conform_returns_types_cleans_and_names_the_channel(spark):
    bronze = _bronze(spark, "returns", [
        {**_return(" R1 ", 2, 1, "9.50", order_id=" O1 ", sku="sku-000007"), "reason": " Wrong_Size "},
        _return("R2", 1, 2, "10.00", transaction_id="T1", order_id=" "),
        _return("R3", 1, 1, "1.00", order_id="O2", transaction_id="T2"),
        _return("R4", 1, 1, "1.00"),
    ])
    got = {r["return_id"]: r.asDict() for r in conform_returns(bronze).collect()}
    assert got["R1"] == {
        "return_id": "R1", "line_no": 2, "source_system": "returns", "channel": "online", "order_id": "O1",
        "transaction_id": None, "sku": "SKU-000007", "quantity": 1, "refund_amount": Decimal("9.50"),
        "reason": "wrong_size", "returned_at": AT, "_ds": DAY3,
        "_source_file": "landing/returns/ds=2026-10-03/returns_20261003.csv", "_batch_id": "batch-1", "_line_no": 1,
    }
    assert [(k, got[k]["channel"], got[k]["order_id"], got[k]["transaction_id"]) for k in ("R2", "R3", "R4")] == [
        ("R2", "store", None, "T1"), ("R3", None, "O2", "T2"), ("R4", None, None, None),
    ]


def _lines(spark) -> DataFrame:
    """An order line worth 18.00 (2 x 10.00 - 2.00) and a till line worth 5.00, landed on day 1, and a
    till line that lands on day 4, after the returns of day 3."""
    online = conform_order_lines(_bronze(spark, "order_lines", [_order_line("O1", 1, "SKU-000001", 2, "10.00", "2.00")],
                                         day=DAY1))
    store = conform_pos_transactions(_bronze(spark, "pos_transactions", [_till_line("T1", 1, "SKU-000002", 1, "5.00")],
                                             day=DAY1))
    late = conform_pos_transactions(_bronze(spark, "pos_transactions", [_till_line("T1", 2, "SKU-000003", 1, "5.00")],
                                            day=DAY3 + dt.timedelta(days=1)))
    return bought_lines(online, store.unionByName(late))


def test_check_returns_keeps_returns_within_their_line_and_rejects_each_broken_rule(spark):
    earlier_day = _bronze(spark, "returns", [_return("E1", 1, 1, "5.00", transaction_id="T1", sku="SKU-000002",
                                                     at=dt.datetime(2026, 10, 2, 9))], day=DAY2)
    returns = conform_returns(_bronze(spark, "returns", [
        _return("R1", 1, 1, "9.00", order_id="O1"),  # half the line, half its value: fine
        _return("R2", 1, 1, "9.01", order_id="O1"),  # a penny more than a unit's share
        _return("R3", 1, 1, "5.00", order_id="O1", transaction_id="T1", sku="SKU-000002"),
        _return("R4", 1, 1, "5.00"),
        _return("R5", 1, 1, "5.00", order_id="O999"),
        _return("R6", 1, 1, "5.00", transaction_id="T1", sku="SKU-000009"),
        _return("R7", 2, 1, "5.00", transaction_id="T1", sku="SKU-000003"),  # its line lands the day after
        _return("R8", 1, 2, "18.00", order_id="O1", at=AT + dt.timedelta(hours=1)),  # 1 + 2 of 2 units
        _return("R9", 1, 1, "5.00", transaction_id="T1", sku="SKU-000002"),  # the unit came back on day 2
    ]))
    accepted, rejected = check_returns(returns, _lines(spark), conform_returns(earlier_day))

    assert [r["return_id"] for r in accepted.collect()] == ["R1"]
    assert accepted.columns == returns.columns
    reasons = {r["return_id"]: r["rejection"] for r in rejected.collect()}
    assert {k: v.split(":")[0] for k, v in reasons.items()} == {
        "R2": "rule refund_within_line", "R3": "rule one_purchase", "R4": "rule one_purchase",
        "R5": "rule line_known", "R6": "rule same_sku", "R7": "rule line_known",
        "R8": "rule units_within_line", "R9": "rule units_within_line",
    }
    assert {v.split(":")[0].removeprefix("rule ") for v in reasons.values()} == set(RULES)
    assert reasons["R2"] == "rule refund_within_line: refund 9.01 for 1 of 2 units of a line worth 18.00"
    assert reasons["R5"] == "rule line_known: no order line O999 #1 landed by 2026-10-03"
    assert reasons["R6"] == "rule same_sku: returned SKU-000009, the line sold SKU-000002"
    assert reasons["R8"] == "rule units_within_line: 3 units returned of a line of 2"
    assert reasons["R9"] == "rule units_within_line: 2 units returned of a line of 1"


def test_quarantine_rows_name_file_and_line_with_a_rebuilt_raw_line(spark):
    bronze = _bronze(spark, "returns", [
        _return("R1", 1, 1, "9.00", order_id="O1"),
        {**_return("R5", 3, 2, "12.50", order_id="O999"), "reason": 'damaged, "badly"'},
    ])
    _, rejected = check_returns(conform_returns(bronze), _lines(spark))
    [row] = quarantine_rows(rejected, bronze).collect()
    assert tuple(row.asDict()) == QUARANTINE_COLUMNS
    assert (row["source"], row["file"], row["line_no"], row["_file_version"], row["_ingested_at"]) == (
        "returns", "landing/returns/ds=2026-10-03/returns_20261003.csv", 2, 1, INGESTED)
    assert row["raw"] == 'R5,O999,,3,SKU-000001,2,12.50,"damaged, ""badly""",2026-10-03T11:30:00Z'
    assert row["reason"].startswith("rule line_known: ")


@pytest.mark.slow
def test_silver_quarantines_broken_returns_and_a_rerun_does_not_duplicate_them(lake, spark, config):
    lake.append(_bronze(spark, "order_lines", [_order_line("O1", 1, "SKU-000001", 2, "10.00", "2.00")], day=DAY1),
                "bronze.order_lines", partition_by=["_ds"])
    lake.append(_bronze(spark, "returns", [
        _return("R1", 1, 1, "9.00", order_id="O1"),
        _return("R2", 1, 1, "30.00", order_id="O1"),
        _return("R5", 1, 1, "5.00", order_id="O999"),
    ]), "bronze.returns", partition_by=["_ds"])
    # What ingest quarantined for the day stays: the rules replace only their own rows.
    ingest_row = [("returns", "f.csv", 9, "R9,O1,,1,SKU-000001,-1,1.00,damaged,2026-10-03T10:00:00Z",
                   "column quantity: '-1' breaks the rule quantity > 0", DAY3, "f.csv", 1, INGESTED, "batch-1")]
    lake.append(spark.createDataFrame(ingest_row, "source STRING, file STRING, line_no BIGINT, raw STRING, "
                                      "reason STRING, _ds DATE, _source_file STRING, _file_version INT, "
                                      "_ingested_at TIMESTAMP, _batch_id STRING"),
                QUARANTINE_TABLE, partition_by=["_ds"])
    from jobs.silver.main import run

    rt = Runtime(config, spark, lake)
    run(rt, Days.of(DAY1))
    first = run(rt, Days.of(DAY3))
    assert first.written["silver.returns"] == 1
    assert [r["return_id"] for r in lake.read("silver.returns").collect()] == ["R1"]

    def quarantined() -> list[tuple]:
        rows = lake.read(QUARANTINE_TABLE).where(F.col("source") == "returns").orderBy("line_no").collect()
        return [(r["line_no"], r["reason"].split(":")[0]) for r in rows]

    expected = [(2, "rule refund_within_line"), (3, "rule line_known"), (9, "column quantity")]
    assert quarantined() == expected
    run(rt, Days.of(DAY3))
    assert quarantined() == expected
    assert [r["return_id"] for r in lake.read("silver.returns").collect()] == ["R1"]
