"""Returns rules that need other tables: a return must name a bought line and stay within it.

Input: the conformed `returns` rows of the landing days being built (`conform_returns`),
`silver.order_lines` and `silver.pos_transactions` (the lines a return can name), the
returns `silver.returns` accepted on earlier landing days, and the days' `bronze.returns`
rows. Output: the rows `silver.returns` takes (grain: one per (return_id, line_no)), and
the rejected ones as `ops.quarantine` rows (one per rejected return line).

A return is checked against its line: the order line (order_id, line_no) or the till line
(transaction_id, line_no) that landed on or before the return's landing day. The first
rule a return breaks is its reason, written `rule <name>: <detail>`:

| rule | a return is rejected when |
|---|---|
| `one_purchase` | it names both an order and a till transaction, or neither |
| `line_known` | its line has not landed (an unknown id, or a line lost to quarantine) |
| `same_sku` | its SKU is not the SKU of its line |
| `refund_within_line` | its refund is more than its units' share of the line's value (quantity x unit_price - discount) |
| `units_within_line` | with the line's earlier returns (by day, then returned_at) more units come back than it had |

The quarantine rows look like ingest's: source `returns`, the landing file and line, the
raw text (rebuilt from the bronze row's values as a CSV line, since the line itself is not
kept) and the reason. A rerun of days replaces the rows these rules wrote for those days
in one commit (`_ds` in the days, source `returns`, reason `rule ...`), so they never
duplicate; ingest's own quarantine rows are left alone.
"""
from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.common.bronze import QUARANTINE_TABLE, latest_file_versions
from jobs.common.bronze import quarantine_rows as quarantine_rows_of
from jobs.common.lake import Lake
from jobs.common.landing_contract import DAY_COLUMN
from jobs.common.landing_contract import source as contract_source

log = logging.getLogger(__name__)

SOURCE = "returns"
RULES = ("one_purchase", "line_known", "same_sku", "refund_within_line", "units_within_line")
REASON_PREFIX = "rule "
# The lines a return can name: (silver table, purchase id column, channel it stands for).
LINE_TABLES = (("silver.order_lines", "order_id", "online"), ("silver.pos_transactions", "transaction_id", "store"))
_LINE_COLUMNS = "channel STRING, purchase_id STRING, line_no INT, sku STRING, quantity INT, line_amount DECIMAL(12,2), _ds DATE"


def _rule(name: str, *detail: Column | str) -> Column:
    parts = [F.lit(p) if isinstance(p, str) else p.cast("string") for p in detail]
    return F.concat(F.lit(f"{REASON_PREFIX}{name}: "), *parts)


def bought_lines(order_lines: DataFrame | None, till_lines: DataFrame | None) -> DataFrame:
    """Order lines and till lines as one table a return can be checked against.

    Columns: channel (`online`, `store`), purchase_id (order or transaction id), line_no, sku,
    quantity, line_amount, `_ds` (landing day of the line). A missing table adds no lines.
    """
    parts = [
        lines.select(F.lit(channel).alias("channel"), F.col(id_col).alias("purchase_id"), "line_no", "sku",
                     "quantity", "line_amount", DAY_COLUMN)
        for lines, (_, id_col, channel) in zip((order_lines, till_lines), LINE_TABLES, strict=True)
        if lines is not None
    ]
    if not parts:
        raise ValueError("bought_lines: give order lines, till lines or both")
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def flag_returns(returns: DataFrame, lines: DataFrame, earlier: DataFrame | None = None) -> DataFrame:
    """The conformed returns with `rejection`: null for a return silver takes, else the first rule it breaks.

    (Not `reason`: that is the return's own reason, `wrong_size` and the like.)

    Args:
        returns: conformed `returns` rows (`conform_returns`), one per (return_id, line_no).
        lines: `bought_lines(...)`: the order and till lines landed so far.
        earlier: returns accepted on earlier landing days (`silver.returns`), whose units count
            against their lines; None when there are none.
    """
    purchase = F.coalesce(F.col("order_id"), F.col("transaction_id"))
    line = lines.select(*[F.col(c).alias(f"_line_{c}") for c in lines.columns])
    matched = returns.withColumn("_purchase", purchase).join(
        line,
        (F.col("_line_channel") == F.col("channel")) & (F.col("_line_purchase_id") == F.col("_purchase"))
        & (F.col("_line_line_no") == F.col("line_no")) & (F.col(f"_line_{DAY_COLUMN}") <= F.col(DAY_COLUMN)),
        "left",
    )
    # A line delivered again on a later day: the newest landing on or before the return's counts.
    newest = Window.partitionBy("return_id", "line_no").orderBy(F.col(f"_line_{DAY_COLUMN}").desc_nulls_last())
    matched = matched.withColumn("_pick", F.row_number().over(newest)).where("_pick = 1").drop("_pick")

    both = F.col("order_id").isNotNull() & F.col("transaction_id").isNotNull()
    line_name = F.concat(F.when(F.col("channel") == "online", F.lit("order line ")).otherwise(F.lit("till line ")),
                         F.col("_purchase"), F.lit(" #"), F.col("line_no").cast("string"))
    first_reason = (
        F.when(F.col("channel").isNull(),
               F.when(both, _rule("one_purchase", "names order ", F.col("order_id"), " and till transaction ",
                                  F.col("transaction_id")))
               .otherwise(_rule("one_purchase", "names neither an order nor a till transaction")))
        .when(F.col("_line_quantity").isNull(), _rule("line_known", "no ", line_name, " landed by ", F.col(DAY_COLUMN)))
        .when(~F.col("sku").eqNullSafe(F.col("_line_sku")),
              _rule("same_sku", "returned ", F.col("sku"), ", the line sold ", F.col("_line_sku")))
        .when(F.col("refund_amount") * F.col("_line_quantity") > F.col("quantity") * F.col("_line_line_amount"),
              _rule("refund_within_line", "refund ", F.col("refund_amount"), " for ", F.col("quantity"), " of ",
                    F.col("_line_quantity"), " units of a line worth ", F.col("_line_line_amount")))
    )
    checked = matched.withColumn("rejection", first_reason).withColumn("_earlier", F.lit(False))

    # Units back so far per line: accepted returns of earlier days first, then these by time.
    pool = checked
    if earlier is not None:
        pool = pool.unionByName(
            earlier.select(*returns.columns).withColumn("_purchase", purchase).withColumn("_earlier", F.lit(True)),
            allowMissingColumns=True,
        )
    line_returns = (
        Window.partitionBy("channel", "_purchase", "line_no")
        .orderBy(DAY_COLUMN, "returned_at", "return_id")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    units = F.sum(F.when(F.col("rejection").isNull(), F.col("quantity")).otherwise(F.lit(0))).over(line_returns)
    too_many = _rule("units_within_line", F.col("_units"), " units returned of a line of ", F.col("_line_quantity"))
    return (
        pool.withColumn("_units", units)
        .where(~F.col("_earlier"))
        .withColumn("rejection",
                    F.coalesce(F.col("rejection"), F.when(F.col("_units") > F.col("_line_quantity"), too_many)))
        .select(*returns.columns, "rejection")
    )


def split_flagged(flagged: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(accepted, rejected) of `flag_returns` output: accepted without `rejection`, rejected with it."""
    accepted = flagged.where(F.col("rejection").isNull()).drop("rejection")
    return accepted, flagged.where(F.col("rejection").isNotNull())


def check_returns(returns: DataFrame, lines: DataFrame, earlier: DataFrame | None = None) -> tuple[DataFrame, DataFrame]:
    """(accepted, rejected) returns: the rows silver.returns takes, and the others with their `rejection`."""
    return split_flagged(flag_returns(returns, lines, earlier))


def quarantine_rows(rejected: DataFrame, bronze: DataFrame) -> DataFrame:
    """`ops.quarantine` rows of rejected returns, with a raw CSV line rebuilt from their bronze rows.

    Args:
        rejected: `check_returns` rejects (conformed rows with `_line_no` and `rejection`).
        bronze: the `bronze.returns` rows of the same days (all file versions; the newest is used).
    """
    landed = latest_file_versions(bronze)
    rows = rejected.select("_source_file", "_line_no", "_batch_id", DAY_COLUMN, "rejection").join(
        landed.drop(DAY_COLUMN), ["_source_file", "_line_no", "_batch_id"], "left")
    return quarantine_rows_of(rows, contract_source(SOURCE), F.col("rejection"))


def _days(day: dt.date, until: dt.date) -> str:
    return f"{DAY_COLUMN} >= '{day.isoformat()}' AND {DAY_COLUMN} <= '{until.isoformat()}'"


def apply_returns_rules(lake: Lake, returns: DataFrame, bronze: DataFrame, day: dt.date, until: dt.date) -> DataFrame:
    """Quarantine the returns of landing days `day`..`until` that break a rule; return the others.

    Args:
        lake: the lake holding the silver lines, earlier returns and `ops.quarantine`.
        returns: the days' conformed returns (`conform_returns`).
        bronze: the days' `bronze.returns` rows (for the raw text of rejected rows).
        day, until: the landing days being built (inclusive).

    Returns:
        The accepted returns, ready for `silver.returns`.
    """
    spark = returns.sparkSession
    tables = [lake.read(t) if lake.exists(t) else None for t, _, _ in LINE_TABLES]
    lines = (bought_lines(*tables) if any(t is not None for t in tables)
             else spark.createDataFrame([], _LINE_COLUMNS))
    earlier = lake.read("silver.returns").where(F.col(DAY_COLUMN) < F.lit(day)) if lake.exists("silver.returns") else None
    # Computed once: both the accepted rows and the quarantine rows come from it.
    flagged = flag_returns(returns, lines.where(F.col(DAY_COLUMN) <= F.lit(until)), earlier).localCheckpoint()
    accepted, rejected = split_flagged(flagged)

    scope = f"source = '{SOURCE}' AND {_days(day, until)} AND reason LIKE '{REASON_PREFIX}%'"
    if lake.exists(QUARANTINE_TABLE) or not rejected.isEmpty():
        # One commit replaces what these rules quarantined for the days: a rerun never duplicates.
        lake.replace_where(quarantine_rows(rejected, bronze), QUARANTINE_TABLE, scope, partition_by=[DAY_COLUMN])
    log.info("silver %s: %d returns quarantined by the returns rules", day, rejected.count())
    return accepted
