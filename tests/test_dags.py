"""The Airflow DAGs: they load, are wired as designed, and run for real with `airflow dags test`."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.generate.main import generate
from jobs.generate.rates import VariationRates

CHECKOUT = Path(__file__).resolve().parents[1]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def _airflow_env(home: Path, lake: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(CHECKOUT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "C360_LAKE_ROOT": str(lake),
        "C360_PROFILE": "local",
        "GX_ANALYTICS_ENABLED": "false",
    }


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow")))
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(CHECKOUT / "dags"))


def test_the_dag_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {"c360_daily", "c360_train"} <= set(dagbag.dags)


def test_c360_daily_is_wired_ingest_then_gate_then_silver_then_identities_then_features(dagbag):
    dag = dagbag.dags["c360_daily"]
    edges = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    assert edges == {"ingest": ["quality_gate"], "quality_gate": ["silver"], "silver": ["resolve_identities"],
                     "resolve_identities": ["build_features"], "build_features": ["score_recommendations"],
                     "score_recommendations": []}
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert all(t.retries >= 1 for t in dag.tasks)
    assert dag.doc_md and "data interval" in dag.doc_md
    assert set(dag.tags) >= {"c360"}


def test_c360_train_is_one_weekly_task(dagbag):
    dag = dagbag.dags["c360_train"]
    assert [t.task_id for t in dag.tasks] == ["train_recommender"]
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert dag.tasks[0].retries >= 1
    assert "champion" in dag.doc_md


@pytest.mark.slow
def test_airflow_dags_test_runs_the_day_into_gold(tmp_path):
    """`airflow dags test` runs every task of c360_daily for real on a tiny generated sample."""
    day = dt.date(2026, 10, 2)
    generate(tmp_path / "sample", customers=150, days=2, seed=5, start=dt.date(2026, 10, 1),
             rates=VariationRates(), log=lambda *_: None)
    env = _airflow_env(tmp_path / "airflow", tmp_path / "lake")
    migrate = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    conf = json.dumps({"landing": str(tmp_path / "sample" / "landing")})
    run = subprocess.run([AIRFLOW, "dags", "test", "c360_daily", day.isoformat(), "-c", conf],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-5000:]
    for task in ("ingest", "quality_gate", "silver", "resolve_identities", "build_features", "score_recommendations"):
        assert f"end task task_id={task}" in output, f"task {task} did not run to its end"
    lake = tmp_path / "lake"
    assert (lake / "bronze" / "web_events" / "_delta_log").is_dir()
    assert (lake / "silver" / "web_events" / "_delta_log").is_dir()
    assert (lake / "ops" / "dq_results" / "_delta_log").is_dir()
    assert (lake / "silver" / "identity_map" / "_delta_log").is_dir()
    assert (lake / "silver" / "customers" / "_delta_log").is_dir()
    assert (lake / "gold" / "customer_360" / "_delta_log").is_dir()
    assert (lake / "_reports" / "dbt_docs" / "index.html").is_file()
    # No champion yet: every customer still gets recommendations (content and popularity).
    assert (lake / "serving" / "recommendations" / f"run_date={day}").is_dir()
    bronze_days = {p.name for p in (lake / "bronze" / "web_events").glob("_ds=*")}
    assert bronze_days == {f"_ds={day}"}, "the run must touch its own day only"


@pytest.mark.slow
def test_airflow_dags_test_trains_registers_and_promotes_a_recommender(spark, lake, tmp_path):
    """`airflow dags test c360_train` searches, trains, logs and registers on a small gold layer."""
    from mlflow import MlflowClient

    from tests.support.gold import write_gold

    day = dt.date(2026, 10, 28)
    write_gold(spark, lake, day)
    env = _airflow_env(tmp_path / "airflow", Path(lake.root))
    # A profile of its own: a two-point grid still runs the validation search, in a fraction of the time.
    profile = tmp_path / "weekly.yaml"
    profile.write_text("recommend:\n  search: {ranks: [8, 16], reg_params: [0.1], alphas: [10.0]}\n")
    env["C360_PROFILE"] = str(profile)
    migrate = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    # The weekly interval ending on the 29th: its last whole day is the 28th.
    run = subprocess.run([AIRFLOW, "dags", "test", "c360_train", "2026-10-29"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-5000:]
    assert "end task task_id=train_recommender" in output
    client = MlflowClient(tracking_uri=f"sqlite:///{lake.root}/_mlflow/mlflow.db")
    champion = client.get_model_version_by_alias("c360_recommender", "champion")
    params = client.get_run(champion.run_id).data.params
    assert params["train_day"] == day.isoformat()
    assert params["cutoff"] == (day - dt.timedelta(days=7)).isoformat()
    assert params["rank"] in ("8", "16")
    metrics = client.get_run(champion.run_id).data.metrics
    assert metrics["hybrid_ndcg_at_10"] > metrics["popular_ndcg_at_10"]
