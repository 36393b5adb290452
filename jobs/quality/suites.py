"""The expectation suites of the bronze -> silver gate: `expectations/<source>.json`.

One suite per landing source, versioned in git, in Great Expectations' own suite
JSON (`name`, `expectations` of `type` / `kwargs` / `meta` / `notes`, suite `meta`
and `notes`). Every expectation carries `meta.severity`:

- `error`: structural or identity breaks; a failure stops the run;
- `warn`: soft anomalies; a failure is recorded and reported, never blocking.

Values known only at run time are GX suite parameters (`{"$PARAMETER": "..."}`,
GX's arithmetic such as `previous_day_rows * 0.5` or
`run_date - timedelta(days=3)` allowed). The gate supplies:

| parameter | value |
|---|---|
| `run_date` | the landing day, midnight UTC |
| `rows` | bronze rows validated (the day, newest file versions) |
| `previous_day_rows` | bronze rows of the day before (newest file versions); unknown when that day has none |
| `same_weekday_rows` | median bronze rows of the same weekday in the 4 weeks before (days with rows); unknown without any |

`rows` lets a `mostly` tolerate a share of the rows plus a handful of rows, e.g.
`(0.9 - 5 / rows + abs(0.9 - 5 / rows)) / 2` is max(0, 0.9 - 5 / rows): on a
small day a few dirty rows are more than 10% of it without being a systematic break.

Referential checks compare a column with a reference column that the gate joins
onto the day's rows (left join: null where the key has no match), e.g.
`expect_column_pair_values_to_be_equal(column_A="sku", column_B="_ref_catalog_sku")`.
A join keeps the check scalable (no value list shipped to every expectation) and
the unexpected pairs name the missing keys:

| reference column | key | matched against |
|---|---|---|
| `_ref_catalog_sku` | `sku` | the latest `bronze.products` snapshot on or before the day; unknown when there is none |
| `_ref_day_order_id` | `order_id` | `bronze.orders` of the same day (no orders: nothing matches) |
| `_ref_landed_on` | the business key | `silver.<source>` on other landing days: the day holding the key, else null |

`_ref_landed_on` marks a re-delivered row (`jobs.common.redelivery`); the day sources'
suites warn on it, and silver quarantines such rows.

An expectation that needs an unknown parameter or reference is skipped for that
run and recorded as skipped, e.g. the row-count check on the first landing day.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.common.config import CHECKOUT
from jobs.common.errors import ConfigError

SUITES_DIR = CHECKOUT / "expectations"
SEVERITIES = ("error", "warn")
PARAMETERS = ("run_date", "rows", "previous_day_rows", "same_weekday_rows")
# Reference column -> (key column of the validated table, source whose bronze rows hold the keys).
REFERENCES: dict[str, tuple[str, str]] = {
    "_ref_catalog_sku": ("sku", "products"),
    "_ref_day_order_id": ("order_id", "orders"),
}
# The day silver already holds a row's business key (a re-delivered row), null for a first delivery.
LANDED_ON_REFERENCE = "_ref_landed_on"
# GX's own names for the two levels, so its results and Data Docs say the same.
GX_SEVERITY = {"error": "critical", "warn": "warning"}

# A parameter expression's variables: names not followed by "(" (a function) or "=" (a keyword).
_VARIABLE = re.compile(r"\b([A-Za-z_]\w*)\b(?!\s*[(=])")
_CONSTANTS = {"E", "PI"}


@dataclass(frozen=True)
class Suite:
    """One suite file, checked: known expectation keys, a severity on each, known parameters."""

    name: str
    path: Path
    expectations: tuple[dict[str, Any], ...]
    meta: dict[str, Any] = field(default_factory=dict)
    notes: str | None = None

    def parameters(self) -> set[str]:
        """Every run-time parameter the suite refers to."""
        return set().union(*(parameters_of(e) for e in self.expectations))

    def references(self) -> set[str]:
        """Every reference column the suite refers to."""
        return set().union(*(references_of(e) for e in self.expectations))

    def gx_dict(self, expectations: tuple[dict[str, Any], ...] | None = None) -> dict[str, Any]:
        """Keyword arguments for `great_expectations.ExpectationSuite` (a subset of expectations if given)."""
        chosen = self.expectations if expectations is None else expectations
        return {
            "name": self.name,
            "expectations": [{**e, "severity": GX_SEVERITY[e["meta"]["severity"]]} for e in chosen],
            "meta": dict(self.meta),
            "notes": self.notes,
        }


    def gx_docs_dict(self) -> dict[str, Any]:
        """Like `gx_dict`, for GX's suite page: its renderer cannot print a `mostly` given as a parameter."""
        out = self.gx_dict()
        for exp in out["expectations"]:
            mostly = exp["kwargs"].get("mostly")
            if isinstance(mostly, dict) and "$PARAMETER" in mostly:
                kwargs = {k: v for k, v in exp["kwargs"].items() if k != "mostly"}
                shown = ", ".join(f"{k}={v}" for k, v in kwargs.items())
                exp["kwargs"] = kwargs
                exp["description"] = f"{exp['type']}({shown}) with mostly = {mostly['$PARAMETER']}"
        return out


def parameters_of(expectation: dict[str, Any]) -> set[str]:
    """Names of the run-time parameters an expectation's kwargs refer to."""
    names: set[str] = set()
    for value in expectation.get("kwargs", {}).values():
        if isinstance(value, dict) and "$PARAMETER" in value:
            names |= set(_VARIABLE.findall(str(value["$PARAMETER"]))) - _CONSTANTS
    return names


def references_of(expectation: dict[str, Any]) -> set[str]:
    """Reference columns (`_ref_*`) an expectation compares against."""
    return {c for c in columns_of(expectation) if c.startswith("_ref_")}


def suite_path(source: str, suites_dir: Path | None = None) -> Path:
    return (suites_dir or SUITES_DIR) / f"{source}.json"


def load_suite(source: str, suites_dir: Path | None = None) -> Suite:
    """Read and check the suite of a landing source.

    Raises:
        ConfigError: the file is missing or malformed, naming the file and the expectation.
    """
    path = suite_path(source, suites_dir)
    if not path.is_file():
        raise ConfigError(f"no expectation suite for source '{source}': {path} is missing; add one (see jobs/quality/suites.py)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
        raise ConfigError(f"{path}: expected an object with a list under 'expectations' (GX suite JSON)")
    if data.get("name") != source:
        raise ConfigError(f"{path}: suite name is {data.get('name')!r}; it must be the file's source name '{source}'")
    for i, exp in enumerate(data["expectations"], start=1):
        kind = exp.get("type", "no type") if isinstance(exp, dict) else repr(exp)
        where = f"{path}: expectation {i} ({kind})"
        if not isinstance(exp, dict) or not isinstance(exp.get("type"), str) or not isinstance(exp.get("kwargs"), dict):
            raise ConfigError(f"{where}: needs 'type' (text) and 'kwargs' (object)")
        unknown_keys = set(exp) - {"type", "kwargs", "meta", "notes", "description", "id"}
        if unknown_keys:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown_keys))}")
        severity = (exp.get("meta") or {}).get("severity")
        if severity not in SEVERITIES:
            raise ConfigError(f"{where}: meta.severity is {severity!r}; use one of {', '.join(SEVERITIES)}")
        unknown = parameters_of(exp) - set(PARAMETERS)
        if unknown:
            raise ConfigError(
                f"{where}: unknown parameter(s) {', '.join(sorted(unknown))}; the gate provides {', '.join(PARAMETERS)}"
            )
        unknown = references_of(exp) - set(REFERENCES) - {LANDED_ON_REFERENCE}
        if unknown:
            raise ConfigError(
                f"{where}: unknown reference column(s) {', '.join(sorted(unknown))}; "
                f"the gate provides {', '.join([*REFERENCES, LANDED_ON_REFERENCE])}"
            )
    return Suite(
        name=source,
        path=path,
        expectations=tuple(data["expectations"]),
        meta=dict(data.get("meta") or {}),
        notes=data.get("notes"),
    )


def columns_of(expectation: dict[str, Any]) -> tuple[str, ...]:
    """The column(s) an expectation is about; empty for table-level expectations."""
    kwargs = expectation.get("kwargs", {})
    if "column" in kwargs:
        return (kwargs["column"],)
    if "column_list" in kwargs:
        return tuple(kwargs["column_list"])
    if "column_A" in kwargs:
        return (kwargs["column_A"], kwargs["column_B"])
    return ()
