"""BI without a JVM: the gold and serving tables in DuckDB, read through delta-rs (`deltalake`) into Arrow.

`connect(root)` gives a DuckDB connection with a schema per layer and a view per table
(`gold.customer_360`, `serving.recommendations`, ...) over the table's current Delta
version as an Arrow dataset: DuckDB pushes filters and projections into the scan, and
delta-rs decides which Parquet files make the version (what a plain `read_parquet` of
the folder would get wrong: files of old versions, removed rows).

`view_statements(root)` prints the same views for any other DuckDB client (the DuckDB
CLI, DBeaver): `read_parquet` over the files of each table's current version. Those file
lists are a snapshot: create the views again after each daily run (a VACUUM deletes
files an old list names).
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import duckdb
from deltalake import DeltaTable

BI_LAYERS = ("gold", "serving")


def lake_tables(root: str, layers: Sequence[str] = BI_LAYERS) -> dict[str, str]:
    """`<layer>.<name>` -> folder of every Delta table of `layers` under the lake root."""
    found = {}
    for layer in layers:
        folder = os.path.join(root, layer)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if not name.startswith(("_", ".")) and os.path.isdir(os.path.join(path, "_delta_log")):
                found[f"{layer}.{name}"] = path
    return found


def connect(root: str, layers: Sequence[str] = BI_LAYERS, database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a view `<layer>.<name>` over each table's current version."""
    con = duckdb.connect(database)
    for layer in layers:
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{layer}"')
    for table, path in lake_tables(root, layers).items():
        layer, name = table.split(".")
        arrow_name = f"_delta_{layer}_{name}"
        con.register(arrow_name, DeltaTable(path).to_pyarrow_dataset())
        con.execute(f'CREATE OR REPLACE VIEW "{layer}"."{name}" AS SELECT * FROM "{arrow_name}"')
    return con


def view_statements(root: str, layers: Sequence[str] = BI_LAYERS) -> list[str]:
    """SQL for any DuckDB client: a schema per layer, a view per table over its current version's files."""
    statements = [f'CREATE SCHEMA IF NOT EXISTS "{layer}";' for layer in layers]
    for table, path in lake_tables(root, layers).items():
        layer, name = table.split(".")
        delta = DeltaTable(path)
        files = delta.file_uris()
        if not files:
            statements.append(f"-- {table}: no rows in its current version (version {delta.version()}), no view")
            continue
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        partitioned = "true" if delta.metadata().partition_columns else "false"
        statements.append(f'CREATE OR REPLACE VIEW "{layer}"."{name}" AS SELECT * FROM read_parquet([{listed}], '
                          f"hive_partitioning = {partitioned}, union_by_name = true);"
                          f"  -- version {delta.version()}")
    return statements
