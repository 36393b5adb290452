"""SQL over the lake tables, with errors a user can act on."""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from pyspark.errors import AnalysisException, ParseException
from pyspark.sql import SparkSession

from jobs.common.errors import C360Error
from jobs.common.lake import Lake

_UNRESOLVED = re.compile(r"\[TABLE_OR_VIEW_NOT_FOUND\][^`]*`?([^`\s]+(?:`\.`[^`\s]+)*)`?")


_NAMED = re.compile(r"`?\b(bronze|silver|gold|serving|ops)`?\s*\.\s*`?([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
_CATALOG_STATEMENT = re.compile(r"^\s*(SHOW|DESCRIBE|DESC)\b", re.IGNORECASE)


def register_named_tables(lake: Lake, statement: str) -> list[str]:
    """Register the lake tables `statement` names (`gold.customer_360`, ...), not every table: a
    one-table query starts without reading every table's log. A statement about the catalog
    (SHOW, DESCRIBE) registers every table. Returns the tables registered."""
    if _CATALOG_STATEMENT.match(statement):
        return lake.register_all()
    named = sorted({f"{layer.lower()}.{name}" for layer, name in _NAMED.findall(statement)})
    existing = [t for t in named if lake.exists(t)]
    for table in existing:
        lake.register(table)
    return existing


def run_query(spark: SparkSession, query: str, limit: int = 1000,
              known_tables: Callable[[], list[str]] | None = None) -> tuple[list[str], list[dict[str, Any]], bool]:
    """Run one statement; returns (columns, rows as dicts, whether rows were cut at `limit`).

    `known_tables` lists the tables an unknown table's error names (default: those registered).

    Raises:
        C360Error: for a syntax error or an unknown table, column or function,
            with the message Spark gives and, for a table, the known ones.
    """
    # pyspark logs every failed query with its JVM stack; the error below says it in one line.
    logging.getLogger("SQLQueryContextLogger").disabled = True
    try:
        df = spark.sql(query)
        rows = df.limit(limit + 1).collect() if limit > 0 else df.collect()
    except ParseException as exc:
        raise C360Error(f"SQL syntax error: {_first_line(exc)}") from None
    except AnalysisException as exc:
        text = str(exc)
        if "TABLE_OR_VIEW_NOT_FOUND" in text:
            match = _UNRESOLVED.search(text)
            name = match.group(1).replace("`", "") if match else "?"
            known = known_tables() if known_tables is not None else [
                f"{r.namespace}.{r.tableName}" for db in ("bronze", "silver", "gold", "serving", "ops")
                if spark.catalog.databaseExists(db) for r in spark.sql(f"SHOW TABLES IN {db}").collect()]
            raise C360Error(
                f"unknown table '{name}'; known tables: {', '.join(sorted(known)) or 'none yet (run the pipeline first)'}"
            ) from None
        raise C360Error(f"SQL error: {_first_line(exc)}") from None
    truncated = limit > 0 and len(rows) > limit
    rows = rows[:limit] if truncated else rows
    return df.columns, [r.asDict() for r in rows], truncated


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
