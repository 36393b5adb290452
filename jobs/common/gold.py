"""The check every reader of gold makes first: the tables it needs are built as of its day."""
from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from jobs.common.errors import C360Error
from jobs.common.lake import Lake


def require_built(lake: Lake, day: dt.date, tables: tuple[str, ...], error: type[C360Error],
                  command: str = "build-features", dag: str = "c360_daily") -> None:
    """Each of `tables` exists and is built as of `day` (its `as_of_date`).

    Raises:
        error: naming the table and the command (`c360 <command>`, or the DAG) that builds it.
    """
    for table in tables:
        if not lake.exists(table):
            raise error(f"{table} does not exist: run `c360 {command} --date {day}` (or {dag}) first")
        as_of = lake.read(table).agg(F.max("as_of_date")).first()[0]
        if as_of != day:
            raise error(f"{table} is as of {as_of}, not {day}: run `c360 {command} --date {day}` first")
