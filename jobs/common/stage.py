"""The stage contract every stage follows.

A stage is a module under `jobs/<stage>/` exposing

    run(rt: Runtime, days: Days, **options) -> <Stage>Report

where `rt` is the runtime (config, SparkSession, lake; the landing URI is
`rt.config.landing.uri`), `days` the landing days to process (one day or a
range, inclusive) and the options keyword-only switches with defaults (the
command line shows them as flags). The report is a frozen dataclass deriving
from `StageReport`, so `as_dict()` gives a JSON-ready mapping. A stage that
cannot do its work raises a `StageError` (or a `C360Error`) with one clear
message; a `StageError` may carry the report of what was done before it
stopped. Stages never import each other: they meet through lake tables.
`jobs/pipeline.py` registers each stage once, in order; the command line and
the DAGs are built from that registry.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jobs.common.errors import C360Error


@dataclass(frozen=True)
class Days:
    """The landing days a stage run covers: `first` .. `last`, inclusive."""

    first: dt.date
    last: dt.date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise C360Error(f"the last day {self.last} is before the first day {self.first}")

    @classmethod
    def of(cls, first: dt.date, last: dt.date | None = None) -> Days:
        """Days from `first` to `last` (default: `first` alone); datetimes (Airflow's pendulum) become dates."""
        return cls(_as_date(first), _as_date(last if last is not None else first))

    def __iter__(self) -> Iterator[dt.date]:
        return (self.first + dt.timedelta(days=i) for i in range(len(self)))

    def __len__(self) -> int:
        return (self.last - self.first).days + 1

    def __str__(self) -> str:
        return self.first.isoformat() if self.first == self.last else f"{self.first} .. {self.last}"


def _as_date(day: dt.date) -> dt.date:
    return dt.date(day.year, day.month, day.day)


class StageReport:
    """Base of the stages' reports (each a frozen dataclass)."""

    def as_dict(self) -> dict[str, Any]:
        """The report's fields as JSON-ready values (dates as ISO text, tuples as lists)."""
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


class StageError(C360Error):
    """A stage stopped; `report` (when set) tells what it did before stopping."""

    def __init__(self, message: str, report: StageReport | None = None) -> None:
        super().__init__(message)
        self.report = report


def jsonable(value: Any) -> Any:
    """`value` as JSON-ready data: dates as ISO text, dataclasses and mappings as dicts, sequences as lists."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, StageReport):
        return value.as_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)
