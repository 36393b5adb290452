"""Airflow's backfill of c360_daily over three days leaves the tables that running the days one by one leaves.

Each daily run of the whole DAG costs minutes even on a tiny sample (eleven stages, dbt among
them), and the comparison needs six: the test is marked `backfill` and left out of `make test`;
`make test-backfill` runs it.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest

from jobs import pipeline
from jobs.cluster import RUN_STAMPS
from jobs.common.lake import Lake
from tests.conftest import AIRFLOW, AIRFLOW_ENV, CHECKOUT, TEST_PROFILE, reset_catalog
from tests.support.frames import same_rows

pytestmark = pytest.mark.backfill

FIRST, LAST = dt.date(2026, 10, 1), dt.date(2026, 10, 3)


def same_table(a: Lake, b: Lake, table: str) -> bool:
    """The table holds the same rows in both lakes, every column but the run's stamps."""
    left, right = a.read(table), b.read(table)
    return same_rows(left.drop(*RUN_STAMPS), right.drop(*RUN_STAMPS))


def test_an_airflow_backfill_of_three_days_leaves_the_tables_of_running_them_one_by_one(
        spark, config, tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    from jobs.cli import main
    from jobs.generate.main import generate
    from tests.support.airflow_runs import create_backfill, run_backfill

    sample = tmp_path / "sample"
    generate(sample, customers=40, days=(LAST - FIRST).days + 1, seed=11, start=FIRST, log=lambda *_: None)
    landing = sample / "landing"
    profile = tmp_path / "backfill.yaml"
    profile.write_text(TEST_PROFILE)
    monkeypatch.setenv("C360_PROFILE", str(profile))
    monkeypatch.setenv("C360_PSEUDONYM_KEY", "backfill-test-key-" + "0" * 32)  # both lakes, the same pseudonyms
    migrate = subprocess.Popen([AIRFLOW, "db", "migrate"], env={**os.environ, **AIRFLOW_ENV},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    # The days one by one, as `c360 run --date D` runs them.
    one_by_one = tmp_path / "one_by_one"
    monkeypatch.setenv("C360_LAKE_ROOT", str(one_by_one))
    for offset in range((LAST - FIRST).days + 1):
        day = (FIRST + dt.timedelta(days=offset)).isoformat()
        assert main(["--profile", str(profile), "run", "--date", day, "--landing", str(landing)]) == 0
    reset_catalog(spark)

    # The same days as one Airflow backfill.
    assert migrate.wait(timeout=600) == 0, migrate.stdout.read()[-3000:]
    backfilled = tmp_path / "backfill"
    monkeypatch.setenv("C360_LAKE_ROOT", str(backfilled))
    create_backfill(AIRFLOW, "c360_daily", FIRST.isoformat(), LAST.isoformat(), {"landing": str(landing)},
                    {"C360_LAKE_ROOT": str(backfilled), "C360_PROFILE": str(profile)})
    dag = DagBag(dag_folder=str(CHECKOUT / "dags")).dags["c360_daily"]
    for task in dag.tasks:
        task.retries = 0  # a failure fails the run at once, naming its task
    runs = run_backfill(dag, "c360_daily")
    reset_catalog(spark)

    assert [(r["run_type"], r["day"]) for r in runs] == [("backfill", FIRST + dt.timedelta(days=i)) for i in range(3)]
    for run in runs:
        assert run["state"] == "success", run
        assert set(run["tasks"]) == {"wait_for_landing", *pipeline.DAILY_NAMES, "request_training"}, run
        assert set(run["tasks"].values()) <= {"success", "skipped"}, run

    lakes = {name: Lake(spark, dataclasses.replace(config.lake, root=str(root)))
             for name, root in (("one_by_one", one_by_one), ("backfill", backfilled))}
    tables = lakes["one_by_one"].table_names()
    assert set(tables) == set(lakes["backfill"].table_names())
    assert {"silver.customers", "gold.customer_360", "serving.recommendations", "serving.customer_segments",
            "serving.customer_lookup", "ops.dq_results", "ops.drift"} <= set(tables)
    differ = [t for t in tables if not same_table(lakes["one_by_one"], lakes["backfill"], t)]
    assert differ == []
    # every day's report was written by both
    for offset in range(3):
        day = (FIRST + dt.timedelta(days=offset)).isoformat()
        assert (Path(one_by_one) / "_reports" / "runs" / f"{day}.html").is_file()
        assert (Path(backfilled) / "_reports" / "runs" / f"{day}.html").is_file()
