"""No raw personal data past silver: the check the feature build runs on the gold it writes.

(The tests run it on the serving tables too.)

A table fails when it has a column named like a personal-data column (tagged
`pii` in the landing contract, or `meta: {pii: true}` in the dbt project's
yml), or when a string value anywhere in it looks like an email address or an
E.164 phone number (the form silver normalises phones to). A finding names
the table, the column and how many rows; never the value.
"""
from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common.landing_contract import SOURCES

EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"
PHONE_PATTERN = r"(?m)^\+[1-9][0-9]{7,14}$"  # (?m): each line of an array joined by newlines


@dataclass(frozen=True)
class Finding:
    table: str
    column: str
    kind: str  # "tagged column", "email addresses", "phone numbers"
    rows: int

    def __str__(self) -> str:
        if self.kind == "tagged column":
            return f"{self.table}.{self.column} is a personal-data column"
        return f"{self.table}.{self.column} holds {self.rows} value(s) that look like {self.kind}"


def tagged_columns(dbt_project: Path | None = None) -> frozenset[str]:
    """Names of the personal-data columns: the landing contract's and those of the dbt project's model yml."""
    names = {c for s in SOURCES for c in s.pii_columns}
    if dbt_project is not None:
        for path in sorted((dbt_project / "models").rglob("*.yml")):
            for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models", []):
                for column in model.get("columns", []):
                    meta = {**(column.get("meta") or {}), **((column.get("config") or {}).get("meta") or {})}
                    if meta.get("pii"):
                        names.add(column["name"])
    return frozenset(names)


def findings(frames: Mapping[str, DataFrame], tagged: Iterable[str]) -> list[Finding]:
    """What in each table of `frames` (name -> rows) is personal data: tagged columns, email- or phone-like values.

    One Spark job for all the tables: every string value is tested where it lies, and only the
    values that match are counted (a shuffle of the findings alone).
    """
    tagged = set(tagged)
    out = [Finding(table, c, "tagged column", 0) for table, df in frames.items() for c in df.columns if c in tagged]
    as_text = {"string": lambda c: c, "array<string>": lambda c: F.array_join(c, "\n")}
    parts = []
    for table, df in frames.items():
        texts = [F.struct(F.lit(f.name).alias("column"), as_text[f.dataType.simpleString()](F.col(f"`{f.name}`"))
                          .alias("value")) for f in df.schema.fields if f.dataType.simpleString() in as_text]
        if texts:
            parts.append(df.select(F.lit(table).alias("table"), F.explode(F.array(*texts)).alias("v"))
                         .select("table", "v.column", "v.value"))
    if parts:
        values = functools.reduce(DataFrame.unionByName, parts)
        # A match needs an "@" (an email) or a "+" (a phone), looked for first: on a string without
        # one, the unanchored email pattern backtracks from every position, so its cost grows with
        # the square of the length (3 M 64-character pseudonyms: 29 s, and 0.4 s with the test).
        value = F.col("value")
        kind = (F.when(value.contains("@") & value.rlike(EMAIL_PATTERN), F.lit("email addresses"))
                .when(value.contains("+") & value.rlike(PHONE_PATTERN), F.lit("phone numbers")))
        hits = (values.select("table", "column", kind.alias("kind")).where(F.col("kind").isNotNull())
                .groupBy("table", "column", "kind").count().collect())
        position = {(t, c): (n, m) for n, (t, df) in enumerate(frames.items()) for m, c in enumerate(df.columns)}
        out += sorted((Finding(r["table"], r["column"], r["kind"], r["count"]) for r in hits),
                      key=lambda f: (position[(f.table, f.column)], f.kind))
    return out
