"""The lake tables module: naming, write patterns, schema rules and failure."""
from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F

from jobs.common.errors import TableError
from jobs.common.lake import TableName


def _people(spark, rows):
    return spark.createDataFrame(rows, "id long, name string, ds date")


def test_table_names_are_validated():
    assert str(TableName.parse("silver.customers")) == "silver.customers"
    with pytest.raises(TableError, match="layer 'platinum' is not one of bronze"):
        TableName.parse("platinum.customers")
    with pytest.raises(TableError, match="bad table name 'customers'"):
        TableName.parse("customers")
    with pytest.raises(TableError, match="lower snake case"):
        TableName.parse("silver.Customers")


def test_append_registers_the_table_by_name_and_reads_it_back(lake, spark):
    version = lake.append(_people(spark, [(1, "ann", None), (2, "bob", None)]), "silver.people")
    assert version == 0
    assert lake.path("silver.people") == f"{lake.root}/silver/people"
    assert spark.sql("SELECT count(*) AS n FROM silver.people").first()["n"] == 2
    assert lake.table_names() == ["silver.people"]


def test_reading_an_unknown_table_names_it_and_the_known_ones(lake, spark):
    lake.append(_people(spark, [(1, "ann", None)]), "silver.people")
    with pytest.raises(TableError, match=r"table gold\.nope does not exist .* known tables: silver\.people"):
        lake.read("gold.nope")


def test_a_table_exists_once_its_log_holds_a_commit_as_delta_says(lake, spark):
    """`exists` reads the table's log folder alone; it agrees with Delta's own check on a table, a folder
    without a log, a log without a commit and a layer that has no folder."""
    from delta.tables import DeltaTable

    lake.append(_people(spark, [(1, "ann", None)]), "silver.people")
    root = Path(lake.root)
    (root / "gold" / "no_log").mkdir(parents=True)
    (root / "gold" / "empty_log" / "_delta_log").mkdir(parents=True)
    lake.append(_people(spark, [(2, "bob", None)]), "silver.people")  # version 1
    cases = {"silver.people": True, "gold.no_log": False, "gold.empty_log": False, "serving.nothing": False}
    for table, expected in cases.items():
        assert lake.exists(table) is expected, table
        assert DeltaTable.isDeltaTable(spark, lake.path(table)) is expected, table
    assert lake.table_names() == ["silver.people"]
    assert lake.version("silver.people") == 1
    with pytest.raises(TableError, match=r"table gold\.empty_log does not exist .* known tables: silver\.people"):
        lake.version("gold.empty_log")


def test_replace_where_rewrites_one_day_and_a_rerun_changes_nothing(lake, spark):
    import datetime as dt

    d1, d2 = dt.date(2026, 10, 1), dt.date(2026, 10, 2)
    lake.append(_people(spark, [(1, "ann", d1), (2, "bob", d2)]), "silver.people", partition_by=["ds"])
    day2 = _people(spark, [(3, "cy", d2), (4, "di", d2)])
    lake.replace_where(day2, "silver.people", "ds = '2026-10-02'")
    first = sorted(r["id"] for r in lake.read("silver.people").collect())
    lake.replace_where(day2, "silver.people", "ds = '2026-10-02'")
    again = sorted(r["id"] for r in lake.read("silver.people").collect())
    assert first == again == [1, 3, 4]
    # Rows outside the predicate are refused rather than silently written.
    with pytest.raises(Exception, match="(?i)replaceWhere|does not conform|DELTA_REPLACE_WHERE"):
        lake.replace_where(_people(spark, [(9, "x", d1)]), "silver.people", "ds = '2026-10-02'")


def test_merge_updates_matched_rows_and_inserts_new_ones(lake, spark):
    lake.merge(_people(spark, [(1, "ann", None), (2, "bob", None)]), "silver.people", keys=["id"])
    lake.merge(_people(spark, [(2, "robert", None), (3, "cy", None)]), "silver.people", keys=["id"])
    got = {r["id"]: r["name"] for r in lake.read("silver.people").collect()}
    assert got == {1: "ann", 2: "robert", 3: "cy"}
    ops = [r["operation"] for r in lake.history("silver.people").collect()]
    assert ops[0] == "MERGE"


def test_delete_history_and_time_travel(lake, spark):
    lake.append(_people(spark, [(1, "ann", None), (2, "bob", None)]), "silver.people")
    v1 = lake.delete("silver.people", "id = 2")
    assert v1 == 1
    assert lake.read("silver.people").count() == 1
    assert lake.read("silver.people", version=0).count() == 2
    assert [r["version"] for r in lake.history("silver.people").collect()] == [1, 0]


def test_overwrite_optimize_and_vacuum_remove_old_files(lake, spark):
    for i in range(3):
        lake.append(_people(spark, [(i, f"p{i}", None)]), "silver.people")
    before = lake.read("silver.people").inputFiles()
    assert len(before) == 3
    version = lake.optimize("silver.people", zorder_by=["id"])
    assert len(lake.read("silver.people").inputFiles()) == 1
    assert lake.history("silver.people", 1).first()["operation"] == "OPTIMIZE"
    lake.vacuum("silver.people", retain_hours=0)
    remaining = {Path(p.replace("file:", "")).name for p in before if Path(p.replace("file:", "")).exists()}
    assert remaining == set()
    assert lake.read("silver.people").count() == 3
    assert version == 3


def test_adding_a_column_is_allowed_and_recorded(lake, spark):
    lake.append(_people(spark, [(1, "ann", None)]), "silver.people")
    wider = _people(spark, [(2, "bob", None)]).withColumn("tier", F.lit("gold"))
    lake.append(wider, "silver.people")
    assert lake.read("silver.people").columns == ["id", "name", "ds", "tier"]
    change = lake.read("ops.schema_changes").collect()
    assert [(c["table_name"], c["column_name"], c["data_type"], c["table_version"]) for c in change] == [
        ("silver.people", "tier", "string", 1)
    ]
    # merge evolves the schema the same way
    lake.merge(wider.withColumn("score", F.lit(1.5)), "silver.people", keys=["id"])
    assert "score" in lake.read("silver.people").columns
    assert lake.read("ops.schema_changes").count() == 2


def test_dropping_or_retyping_a_column_is_refused_with_table_and_column(lake, spark):
    lake.append(_people(spark, [(1, "ann", None)]), "silver.people")
    with pytest.raises(TableError, match=r"refusing to drop column\(s\) 'name' of silver\.people"):
        lake.append(_people(spark, [(2, "b", None)]).drop("name"), "silver.people")
    retyped = _people(spark, [(2, "b", None)]).withColumn("id", F.col("id").cast("string"))
    with pytest.raises(TableError, match="type of column 'id' of silver.people from bigint to string"):
        lake.merge(retyped, "silver.people", keys=["id"])
    assert lake.version("silver.people") == 0


def test_a_failed_write_leaves_the_table_at_its_last_version(lake, spark):
    lake.append(spark.range(100).withColumn("v", F.col("id") * 2), "silver.numbers")
    # The job dies half way through (a bad row deep in the data): nothing may be committed.
    failing = spark.range(100, 200).withColumn(
        "v", F.when(F.col("id") == 150, F.raise_error(F.lit("bad row"))).otherwise(F.col("id") * 2)
    )
    with pytest.raises(Exception, match="bad row"):
        lake.append(failing, "silver.numbers")
    with pytest.raises(Exception, match="bad row"):
        lake.merge(failing, "silver.numbers", keys=["id"])
    assert lake.version("silver.numbers") == 0
    assert lake.read("silver.numbers").count() == 100
