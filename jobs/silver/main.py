"""Silver build for one landing day: `bronze.<source>` (rows with `_ds = day`) -> `silver.<source>`.

Silver tables, their grain and how a day is written (one Delta commit per table; the
write mode and keys are each source's declaration in `jobs.common.landing_contract`):

| table | grain | write |
|---|---|---|
| silver.crm_customers | one row per record_key per valid_from (SCD2 history) | SCD2 MERGE on record_key |
| silver.loyalty_members | one row per record_key per valid_from (SCD2 history) | SCD2 MERGE on record_key |
| silver.web_accounts | one row per record_key (latest attributes) | upsert on record_key, newer updated_at wins |
| silver.products | one row per sku (current catalog) | upsert on sku, newer snapshot `_ds` wins |
| silver.orders | one row per order_id, partitioned by `_ds` | replace the `_ds` partition |
| silver.order_lines | one row per (order_id, line_no), partitioned by `_ds` | replace the `_ds` partition |
| silver.pos_transactions | one row per (transaction_id, line_no), partitioned by `_ds` | replace the `_ds` partition |
| silver.returns | one row per (return_id, line_no), partitioned by `_ds` | replace the `_ds` partition (rejects: quarantine) |
| silver.web_events | one row per event_id, partitioned by `_ds` | replace the `_ds` partition |
| silver.email_events | one row per event_id, partitioned by `_ds` | replace the `_ds` partition |
| silver.consent_events | one row per event_id, partitioned by `_ds` | replace the `_ds` partition |

A business key delivered again on another landing day (a file sent twice) is kept on
the day that first held it; the rows of the other days go to `ops.quarantine` with the
reason `redelivered: ...` (`jobs.common.redelivery`; those rows of the days replaced in
one commit). Returns are checked against the lines they return (`jobs.silver.returns`);
those that break a rule go to `ops.quarantine` (those rules' rows of the days replaced).
Sources are conformed `landing.parallel_sources` at a time (each writes its own table),
returns after the others. Rerunning a day gives the same tables: a partition is replaced by the same rows,
and the MERGEs only write rows that differ (nothing on a rerun).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pyspark.sql import DataFrame

from jobs.common import logs, redelivery
from jobs.common.bronze import QUARANTINE_TABLE, bronze_ddl, latest_file_versions, quarantine_rows
from jobs.common.lake import Lake
from jobs.common.landing_contract import DAY_COLUMN, SOURCES, Source
from jobs.common.landing_contract import source as contract_source
from jobs.common.runtime import Runtime
from jobs.common.stage import Days, StageReport
from jobs.silver.conform import CONFORMERS
from jobs.silver.returns import apply_returns_rules
from jobs.silver.scd2 import apply_scd2
from jobs.silver.upsert import upsert_latest

log = logging.getLogger(__name__)

DAY_PARTITION = DAY_COLUMN


@dataclass(frozen=True)
class SilverTable:
    """How one source's conformed rows are stored in silver (from its declaration in the landing contract).

    Attributes:
        source: landing source, read from `bronze.<source>`.
        write: `day` (replace the `_ds` partition), `scd2` (history) or `latest` (upsert).
        keys: business key of a row (for `scd2`: of a record, without `valid_from`).
        order_col: for `scd2` the effective time, for `latest` the column a newer row wins on.
        tracked: for `scd2`, the columns whose change makes a new version.
    """

    source: str
    write: str
    keys: tuple[str, ...]
    order_col: str | None = None
    tracked: tuple[str, ...] = ()

    @classmethod
    def of(cls, source: Source) -> SilverTable:
        return cls(source.name, source.silver_write, source.keys, source.order_col, source.tracked)

    @property
    def bronze(self) -> str:
        return f"bronze.{self.source}"

    @property
    def silver(self) -> str:
        return f"silver.{self.source}"

    @property
    def conform(self) -> Callable[[DataFrame], DataFrame]:
        return CONFORMERS[self.source]


SILVER_TABLES: tuple[SilverTable, ...] = tuple(SilverTable.of(s) for s in SOURCES)
# Sources whose rules read other silver tables of the same days (a return, the lines it names):
# conformed after every other source.
AFTER_OTHERS = frozenset({"returns"})


def _day_range(day: dt.date, until: dt.date) -> str:
    return f"{DAY_PARTITION} >= '{day.isoformat()}' AND {DAY_PARTITION} <= '{until.isoformat()}'"


def _replace_days(lake: Lake, table: str, rows: DataFrame, day: dt.date, until: dt.date) -> int:
    if until > day:
        rows = rows.repartition(DAY_PARTITION)  # a backfill writes one file per day
    lake.replace_where(rows, table, _day_range(day, until), partition_by=[DAY_PARTITION])
    metrics = lake.history(table, 1).first()["operationMetrics"] or {}
    if "numOutputRows" in metrics:
        return int(metrics["numOutputRows"])
    return lake.read(table).where(_day_range(day, until)).count()


def write_silver(lake: Lake, spec: SilverTable, rows: DataFrame, day: dt.date, until: dt.date | None = None) -> int:
    """Store the conformed rows of the days `day`..`until` of a source as `spec` says; returns rows written."""
    if spec.write == "day":
        return _replace_days(lake, spec.silver, rows, day, until or day)
    if spec.write == "scd2":
        return apply_scd2(lake, spec.silver, rows, spec.keys, spec.tracked, spec.order_col)
    if spec.write == "latest":
        return upsert_latest(lake, spec.silver, rows, spec.keys, spec.order_col)
    raise ValueError(f"silver table {spec.silver}: unknown write mode '{spec.write}'")


@dataclass(frozen=True)
class SilverReport(StageReport):
    """Rows written per silver table (sources without bronze rows in the days are left out)."""

    days: Days
    written: dict[str, int]
    redelivered: int = 0  # rows quarantined because their business key had landed on another day


def run(rt: Runtime, days: Days) -> SilverReport:
    """Conform every source's bronze rows of `days` and write them to silver.

    Sources without a bronze table, or without rows in the days, are skipped (a silver
    table that does not exist yet is created without rows). A range is one pass:
    history versions are ordered by their own timestamps, and day-partitioned tables
    replace every `_ds` of the range in one commit.
    """
    lake = rt.lake

    def conform(spec: SilverTable) -> tuple[int | None, DataFrame | None]:
        """(rows written or None when skipped, the re-delivered rows to quarantine or None)."""
        if not lake.exists(spec.bronze):
            log.info("silver %s: skipped, no table %s", days, spec.bronze)
            _create_empty(rt, spec, days)
            return None, None
        bronze_days = lake.read(spec.bronze).where(_day_range(days.first, days.last))
        if bronze_days.isEmpty():
            log.info("silver %s: skipped %s, no bronze rows those days", days, spec.silver)
            _create_empty(rt, spec, days)
            return None, None
        repeats = None
        if spec.write == "day":
            bronze_days, repeats = _first_deliveries(lake, spec, bronze_days, days,
                                                     rt.config.landing.redelivery_lookback_days)
        rows = spec.conform(bronze_days)
        if spec.source == "returns":
            # Rules that need the returned lines: a return that breaks one goes to ops.quarantine instead.
            rows = apply_returns_rules(lake, rows, bronze_days, days.first, days.last)
        with logs.step("silver", f"{spec.silver}: {days}") as step:
            step.rows = write_silver(lake, spec, rows, days.first, days.last)
        return step.rows, repeats

    # Each table is its own Delta table, so they are conformed `landing.parallel_sources` at a time;
    # returns wait for the lines they are checked against, written in the first wave.
    first = [spec for spec in SILVER_TABLES if spec.source not in AFTER_OTHERS]
    second = [spec for spec in SILVER_TABLES if spec.source in AFTER_OTHERS]
    with ThreadPoolExecutor(rt.config.landing.parallel_sources, thread_name_prefix="silver") as pool:
        done = dict(zip(first, pool.map(conform, first), strict=True))
        done.update(zip(second, pool.map(conform, second), strict=True))
    written = {spec.silver: done[spec][0] for spec in SILVER_TABLES if done[spec][0] is not None}
    redelivered = [done[spec][1] for spec in SILVER_TABLES if done[spec][1] is not None]
    quarantined = _quarantine_redeliveries(lake, redelivered, days)
    return SilverReport(days, written, quarantined)


def _create_empty(rt: Runtime, spec: SilverTable, days: Days) -> None:
    """Create `spec`'s silver table without rows when it does not exist yet (a source that has not landed).

    Every declared source then has its silver table, so what reads silver (identity, the
    feature layer) runs for a shop that sends some sources only: a source never sent is a
    source without rows.
    """
    if rt.lake.exists(spec.silver):
        return
    empty = rt.spark.createDataFrame([], bronze_ddl(contract_source(spec.source)))
    write_silver(rt.lake, spec, spec.conform(empty), days.first, days.last)
    log.info("silver %s: created %s without rows (nothing of %s has landed)", days, spec.silver, spec.source)


def _first_deliveries(lake: Lake, spec: SilverTable, bronze_days: DataFrame, days: Days,
                      lookback_days: int) -> tuple[DataFrame, DataFrame | None]:
    """(the bronze rows silver takes, the `ops.quarantine` rows of re-delivered ones or None when there are none)."""
    source = contract_source(spec.source)
    silver = lake.read(spec.silver) if lake.exists(spec.silver) else None
    latest = latest_file_versions(bronze_days)
    found = redelivery.redelivered_rows(latest, source, days.first, days.last, silver, lookback_days).localCheckpoint()
    if found.isEmpty():
        return bronze_days, None
    ids = list(redelivery.ROW_ID)
    repeats = quarantine_rows(latest.join(found, ids), source, redelivery.reason(source))
    return latest.join(found.drop(redelivery.LANDED_ON), ids, "left_anti"), repeats


def _quarantine_redeliveries(lake: Lake, redelivered: list[DataFrame], days: Days) -> int:
    """Replace the days' `redelivered` quarantine rows in one commit (none when there were and are none)."""
    scope = f"{_day_range(days.first, days.last)} AND reason LIKE '{redelivery.REASON_PREFIX}%'"
    had = lake.exists(QUARANTINE_TABLE) and not lake.read(QUARANTINE_TABLE).where(scope).isEmpty()
    if not redelivered and not had:
        return 0
    rows = redelivered[0] if redelivered else lake.read(QUARANTINE_TABLE).limit(0)
    for more in redelivered[1:]:
        rows = rows.unionByName(more)
    rows = rows.localCheckpoint()  # counted, then written: computed once
    count = rows.count()
    lake.replace_where(rows, QUARANTINE_TABLE, scope, partition_by=[DAY_PARTITION])
    if count:
        log.warning("silver %s: %d re-delivered row(s) quarantined (their keys landed on another day)", days, count)
    return count
