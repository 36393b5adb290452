"""BI access: `c360 bi` (Spark's Thrift JDBC server) queried over the wire by beeline, Hive's JDBC client."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from pyspark.sql import functions as F

BIN = Path(sys.executable).parent


def test_a_jdbc_client_queries_gold_by_name_over_the_wire(lake, spark, tmp_path, test_profile):
    lake.overwrite(spark.range(7).select(F.format_string("CK%016X", "id").alias("customer_key"),
                                         (F.col("id") * 10).alias("net_spend")), "gold.customer_360")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "C360_LAKE_ROOT": lake.root, "C360_PROFILE": test_profile}
    began = time.monotonic()
    server = subprocess.Popen([str(BIN / "c360"), "bi", "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in server.stdout:  # the server says when it is ready
            if line.startswith("c360 bi: jdbc:hive2://"):
                break
        else:
            raise AssertionError(f"c360 bi exited with {server.wait()} before it was ready")
        assert f"jdbc:hive2://127.0.0.1:{port}/default" in line
        query = "SELECT count(*) AS n, sum(net_spend) AS spend FROM gold.customer_360"
        answer = subprocess.run([str(BIN / "beeline"), "-u", f"jdbc:hive2://127.0.0.1:{port}/default",
                                 "--silent=true", "--outputformat=csv2", "-e", query],
                                cwd=tmp_path, capture_output=True, text=True, timeout=300)
        first_answer_s = time.monotonic() - began
        assert answer.returncode == 0, answer.stderr[-3000:]
        lines = [line.split("> ", 1)[-1].strip() for line in answer.stdout.splitlines() if line.strip()]
        assert lines[-2:] == ["n,spend", "7,210"], answer.stdout
        print(f"c360 bi: first answer over JDBC {first_answer_s:.1f} s after the start")
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert server.returncode in (0, -15)


def test_duckdb_reads_gold_and_serving_like_spark_without_a_jvm_and_prints_views_for_other_clients(
        lake, spark, monkeypatch, capsys):
    import datetime as dt
    import json

    import duckdb

    from jobs.cli import main

    lake.overwrite(spark.range(5).select(F.format_string("CK%016X", "id").alias("customer_key"),
                                         (F.col("id") * 2.5).alias("clv")), "gold.customer_360")
    recs = spark.range(6).select(F.format_string("CK%016X", F.col("id") % 3).alias("customer_key"),
                                 F.col("id").cast("int").alias("rank"),
                                 F.when(F.col("id") < 3, F.lit(dt.date(2026, 10, 10)))
                                 .otherwise(F.lit(dt.date(2026, 10, 11))).alias("run_date"))
    lake.replace_where(recs, "serving.recommendations", "run_date >= '2026-10-10'", partition_by=["run_date"])
    lake.replace_where(recs.where("rank = 0"), "serving.recommendations", "run_date = '2026-10-10'",
                       partition_by=["run_date"])  # a newer version without day 10: its old file is not read
    lake.overwrite(spark.createDataFrame([], "customer_key STRING"), "gold.empty_mart")
    lake.overwrite(spark.range(3), "silver.customers")  # not a BI layer
    monkeypatch.setenv("C360_LAKE_ROOT", lake.root)
    query = ("SELECT run_date, count(*) AS n FROM serving.recommendations GROUP BY run_date ORDER BY run_date")
    expected = [{"run_date": str(r.run_date), "n": r.n} for r in spark.sql(
        query.replace("serving.recommendations", f"delta.`{lake.path('serving.recommendations')}`")).collect()]
    assert expected == [{"run_date": "2026-10-10", "n": 1}, {"run_date": "2026-10-11", "n": 3}]

    assert main(["duckdb", "--format", "json", query]) == 0
    assert json.loads(capsys.readouterr().out) == expected
    assert main(["duckdb", "--format", "csv", "SELECT sum(clv) AS clv FROM gold.customer_360"]) == 0
    assert capsys.readouterr().out == "clv\n25\n"
    assert main(["duckdb", "SELECT * FROM silver.customers"]) == 2
    assert "silver" in capsys.readouterr().err

    assert main(["duckdb", "--print-views"]) == 0
    statements = capsys.readouterr().out
    assert "-- gold.empty_mart: no rows" in statements
    con = duckdb.connect()
    for statement in statements.splitlines():
        if not statement.startswith("--"):
            con.execute(statement)
    got = [{"run_date": str(d), "n": n} for d, n in con.execute(query).fetchall()]
    assert got == expected
    assert con.execute("SELECT sum(clv) FROM gold.customer_360").fetchone()[0] == 25.0
