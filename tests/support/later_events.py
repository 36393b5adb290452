"""Events after a day, to show that a build as of that day does not see them."""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common.lake import Lake
from jobs.common.landing_contract import DAY_COLUMN

# Silver tables holding dated events, and their timestamp column.
EVENT_TABLES = {
    "silver.orders": "order_ts",
    "silver.pos_transactions": "transaction_ts",
    "silver.web_events": "event_ts",
    "silver.email_events": "event_ts",
    "silver.consent_events": "event_ts",
}


def add_events_after(lake: Lake, as_of: dt.date) -> None:
    """Copies of the as-of day's events a day and a week later, in every dated silver table."""
    for table, column in EVENT_TABLES.items():
        day = lake.read(table).where(F.to_date(column) == F.lit(as_of))
        later = [_shifted(day, column, n) for n in (1, 7)]
        lake.append(later[0].unionByName(later[1]), table)
    assert lake.read("silver.orders").where(F.to_date("order_ts") > F.lit(as_of)).count() > 0
    assert lake.read("silver.web_events").where(F.to_date("event_ts") > F.lit(as_of)).count() > 0


def _shifted(events: DataFrame, column: str, days: int) -> DataFrame:
    moved = events.withColumn(column, F.col(column) + F.expr(f"INTERVAL {days} DAYS"))
    return moved.withColumn(DAY_COLUMN, F.date_add(DAY_COLUMN, days)) if DAY_COLUMN in events.columns else moved
