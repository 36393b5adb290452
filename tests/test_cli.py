"""`c360 tables` and `c360 sql`: output formats, errors a user can act on, and a reader in its own process."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from jobs.cli import main
from jobs.common.errors import C360Error
from jobs.common.stage import Days


@pytest.fixture
def filled_lake(lake, spark, monkeypatch):
    monkeypatch.setenv("C360_LAKE_ROOT", lake.root)
    people = spark.createDataFrame([(1, "ann", 12.5), (2, "bob", None)], "id long, name string, spend double")
    lake.append(people, "silver.people")
    lake.append(people.filter("id = 1"), "silver.people")
    lake.append(spark.range(3).withColumn("score", F.col("id") / 2), "gold.scores")
    return lake


def test_tables_lists_layer_version_and_rows(filled_lake, capsys):
    assert main(["tables", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == [
        {"table": "gold.scores", "layer": "gold", "version": 0, "rows": 3},
        {"table": "silver.people", "layer": "silver", "version": 1, "rows": 3},
    ]


def test_sql_lists_the_tables_first_when_asked(filled_lake, capsys):
    assert main(["sql", "--tables", "--format", "csv", "SELECT count(*) AS n FROM silver.people"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["table,layer,version,rows", "gold.scores,gold,0,3", "silver.people,silver,1,3", "n", "3"]


def test_a_query_registers_only_the_tables_it_names_and_a_show_every_table(filled_lake, spark, capsys):
    from tests.conftest import reset_catalog

    def registered() -> set[str]:
        return {f"{db}.{t.tableName}" for db in ("silver", "gold") if spark.catalog.databaseExists(db)
                for t in spark.sql(f"SHOW TABLES IN {db}").where("NOT isTemporary").collect()}

    reset_catalog(spark)
    assert main(["sql", "--format", "csv", "SELECT count(*) AS n FROM `gold`.scores"]) == 0
    assert capsys.readouterr().out == "n\n3\n" and registered() == {"gold.scores"}
    assert main(["sql", "--format", "csv", "SHOW TABLES IN silver"]) == 0
    assert "people" in capsys.readouterr().out and registered() == {"gold.scores", "silver.people"}


def test_sql_prints_an_aligned_table(filled_lake, capsys):
    assert main(["sql", "SELECT id, name, spend FROM silver.people WHERE id = 2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["id", "name", "spend"]
    assert out[2].split() == ["2", "bob"]
    assert out[-1] == "(1 row)"


def test_sql_csv_and_json_for_scripts(filled_lake, capsys):
    assert main(["sql", "--format", "csv", "SELECT name, count(*) AS n FROM silver.people GROUP BY name ORDER BY name"]) == 0
    assert capsys.readouterr().out == "name,n\nann,2\nbob,1\n"
    assert main(["sql", "--format", "json", "SELECT max(score) AS top FROM gold.scores"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"top": 1.0}]


def test_sql_limit_cuts_and_says_so(filled_lake, capsys):
    assert main(["sql", "--limit", "2", "--format", "csv", "SELECT id FROM silver.people ORDER BY id"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["id", "1", "1"]
    assert "showing the first 2 rows" in captured.err


def test_sql_unknown_table_is_named_with_the_known_ones(filled_lake, capsys):
    assert main(["sql", "SELECT * FROM silver.nope"]) == 2
    err = capsys.readouterr().err
    assert "c360: error: unknown table 'silver.nope'" in err
    assert "known tables: gold.scores, silver.people" in err


def test_sql_syntax_error_is_one_clear_line(filled_lake, capsys):
    assert main(["sql", "SELEC id FROM silver.people"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("c360: error: SQL syntax error:")
    assert len(err.strip().splitlines()) == 1


def test_sql_unknown_column_is_reported(filled_lake, capsys):
    assert main(["sql", "SELECT nope FROM silver.people"]) == 2
    assert "UNRESOLVED_COLUMN" in capsys.readouterr().err


def test_the_installed_command_in_a_fresh_process_reads_committed_versions_while_this_one_writes(
        filled_lake, spark, tmp_path, test_profile):
    """The real `c360` entry point, in its own JVM, finds tables by name from the lake folder and
    reads only committed versions of a table this process appends to meanwhile."""
    lake, batch = filled_lake, 1000
    lake.append(spark.range(batch).withColumn("batch", F.lit(0)), "bronze.stream")
    reads = 12
    queries = tmp_path / "counts.sql"
    queries.write_text("-- people\nSELECT count(*) AS n FROM silver.people;\n" + "".join(
        f"-- read {n}\nSELECT count(*) AS n FROM bronze.stream;\n" for n in range(reads)))
    # The tests' Spark settings (a small, interpreted Spark) for its JVM too.
    env = {**os.environ, "C360_LAKE_ROOT": lake.root, "C360_PROFILE": test_profile}
    c360 = str(Path(sys.executable).with_name("c360"))
    folders = sorted(os.listdir(lake.root))
    reader = subprocess.Popen([c360, "sql", "--format", "json", "--file", str(queries)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    written = 1
    deadline = time.monotonic() + 240
    while reader.poll() is None and time.monotonic() < deadline:
        lake.append(spark.range(batch).withColumn("batch", F.lit(written)), "bronze.stream")
        written += 1
        time.sleep(1)  # the reader's own JVM gets the CPU to start
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err[-2000:]
    results = [json.loads(line) for line in out.splitlines() if line.startswith("[")]
    assert results[0] == [{"n": 3}]
    counts = [r[0]["n"] for r in results[1:]]
    assert len(counts) == reads
    assert all(c % batch == 0 and 0 < c <= written * batch for c in counts), counts
    assert counts == sorted(counts)
    assert counts[-1] > counts[0], "the reader should have seen commits made while it ran"
    assert sorted(os.listdir(lake.root)) == folders  # a reader writes nothing in the lake (no _checkpoints)
    bad = subprocess.run([c360, "--profile", "nope", "tables"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.startswith("c360: error: unknown profile 'nope'")


def test_sql_file_runs_each_statement_under_its_title(filled_lake, tmp_path, capsys):
    queries = tmp_path / "q.sql"
    queries.write_text(
        "-- people\nSELECT count(*) AS n FROM silver.people;\n\n-- scores\nSELECT max(id) AS top\nFROM gold.scores;\n"
    )
    assert main(["sql", "--format", "csv", "--file", str(queries)]) == 0
    assert capsys.readouterr().out == "\n-- people\nn\n3\n\n-- scores\ntop\n2\n"
    assert main(["sql", "--file", str(tmp_path / "missing.sql")]) == 2
    assert "cannot read SQL file" in capsys.readouterr().err


def test_every_stage_has_a_command_built_from_the_registry(capsys):
    from jobs import pipeline
    from jobs.cli import build_parser

    parser = build_parser()
    for stage in pipeline.STAGES.values():
        given = [[o.flag, f"{o.keyword}-text"] if o.metavar else [o.flag] for o in stage.options]
        args = parser.parse_args([stage.command, "--date", "2026-10-02", "--until", "2026-10-03",
                                  *[word for flag in given for word in flag]])
        assert (args.date, args.until) == (dt.date(2026, 10, 2), dt.date(2026, 10, 3))
        assert all(getattr(args, o.keyword) == (f"{o.keyword}-text" if o.metavar else o.value)
                   for o in stage.options), stage.name
    assert parser.parse_args(["build-features", "--date", "2026-10-02"]).select is None
    assert parser.parse_args(["resolve", "--date", "2026-10-02", "--retrain"]).retrain is True  # the older name
    assert main(["run", "--date", "2026-10-02", "--stages", "ingest,teleport"]) == 2
    assert "unknown stage(s) teleport; stages: ingest, quality_gate" in capsys.readouterr().err
    assert main(["silver", "--date", "2026-10-03", "--until", "2026-10-02"]) == 2
    assert "the last day 2026-10-02 is before the first day 2026-10-03" in capsys.readouterr().err
    # `c360 run` takes every stage's options, for a stage the run includes.
    args = parser.parse_args(["run", "--date", "2026-10-02", "--stages", "build_features", "--no-docs",
                              "--select", "+customer_rfm"])
    assert (args.docs, args.select) == (False, "+customer_rfm")
    assert main(["run", "--date", "2026-10-02", "--stages", "ingest,silver", "--select", "+customer_rfm"]) == 2
    assert ("--select is an option of the build_features stage, which this run does not include "
            "(--stages ingest,silver)") in capsys.readouterr().err
    with pytest.raises(C360Error, match=r"options given for stage\(s\) build_features, which this run does not"):
        pipeline.run(None, Days.of(dt.date(2026, 10, 2)), ("silver",), options={"build_features": {"docs": False}})
