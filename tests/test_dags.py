"""The Airflow DAGs: they load, are wired from the stage registry, schedule the right day, and run for real.

The real run is the shared end-to-end lake's last day: what `airflow dags test c360_daily`
does ran every task of the DAG (tests/conftest.py, `airflow_day`); the assertions on it are here.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import pendulum
import pytest

from jobs import pipeline
from jobs.common.landing_contract import SOURCES

CHECKOUT = Path(__file__).resolve().parents[1]
DAILY_TASKS = ["wait_for_landing", *pipeline.DAILY_NAMES, "request_training"]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag  # its home: the test process's (tests/conftest.py)

    return DagBag(dag_folder=str(CHECKOUT / "dags"))


def test_the_dag_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {"c360_daily", "c360_train"} <= set(dagbag.dags)


def test_c360_daily_waits_for_landing_then_runs_the_daily_stages_in_registry_order(dagbag):
    dag = dagbag.dags["c360_daily"]
    edges = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    assert edges == {"wait_for_landing": ["ingest"], "ingest": ["quality_gate"], "quality_gate": ["silver"],
                     "silver": ["resolve_identities"], "resolve_identities": ["build_features", "build_lookup"],
                     "build_features": ["score_customers", "score_recommendations"],
                     "score_recommendations": ["build_audiences", "monitor_drift"],
                     "score_customers": ["build_audiences", "monitor_drift"],
                     "build_lookup": ["run_report"], "build_audiences": ["run_report"],
                     "monitor_drift": ["request_training", "run_report"], "run_report": [],
                     "request_training": []}
    # every stage task is its registry entry
    for stage in pipeline.DAILY:
        task = dag.get_task(stage.name)
        assert list(task.op_args) == [stage.name], stage.name
        assert task.python_callable.__name__ == "run_stage_task"
    from jobs.dag_tasks import LandingSensor

    sensor = dag.get_task("wait_for_landing")
    assert isinstance(sensor, LandingSensor) and sensor.timeout == 6 * 3600
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert all(t.retries >= 1 for t in dag.tasks if t.task_id != "wait_for_landing")
    assert dag.doc_md and "data interval" in dag.doc_md
    assert set(dag.tags) >= {"c360"}


def test_the_scheduled_run_after_a_day_processes_that_day(dagbag):
    """A data-interval timetable: the run at 2026-10-31 00:00 covers 2026-10-30, whose files are complete."""
    from airflow.timetables.base import DataInterval, TimeRestriction

    dag = dagbag.dags["c360_daily"]
    done = DataInterval(pendulum.datetime(2026, 10, 29, tz="UTC"), pendulum.datetime(2026, 10, 30, tz="UTC"))
    restriction = TimeRestriction(earliest=pendulum.datetime(2026, 10, 1, tz="UTC"), latest=None, catchup=True)
    nxt = dag.timetable.next_dagrun_info(last_automated_data_interval=done, restriction=restriction)
    assert nxt.run_after == pendulum.datetime(2026, 10, 31, tz="UTC")
    assert nxt.data_interval.start.date() == dt.date(2026, 10, 30)
    # a manual trigger (or `airflow dags test`) at a day's end processes that day too
    manual = dag.timetable.infer_manual_data_interval(run_after=pendulum.datetime(2026, 10, 31, 9, tz="UTC"))
    assert manual.start.date() == dt.date(2026, 10, 30)


def test_the_trigger_form_has_no_required_param(dagbag):
    """Optional params are nullable, so the UI can trigger and backfill without filling them in."""
    for dag in dagbag.dags.values():
        for name, param in dag.params.items():
            schema = param.schema
            assert param.value is None, f"{dag.dag_id}.{name} has a default the form would have to keep"
            assert "null" in schema.get("type", []), f"{dag.dag_id}.{name} is required in the trigger form"
            param.resolve(None)  # validates: no value is a valid value


def test_c360_train_is_one_task_per_model_after_its_training_marts_scheduled_on_the_daily_runs_training_asset(
        dagbag):
    from types import SimpleNamespace

    from jobs.dag_tasks import LAKE_ASSETS, TRAINING_DUE, training_day

    dag = dagbag.dags["c360_train"]
    names = ["build_training_features", "train_recommender", "train_clv", "train_churn", "train_segments"]
    assert [t.task_id for t in dag.tasks] == names
    # Each model fails on its own; the two that train on the training marts wait for them.
    assert {t.task_id: t.upstream_task_ids for t in dag.tasks} == {
        "build_training_features": set(), "train_recommender": set(), "train_clv": {"build_training_features"},
        "train_churn": {"build_training_features"}, "train_segments": set()}
    assert [list(t.op_args) for t in dag.tasks] == [[n] for n in names]
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert "champion" in dag.doc_md
    # Scheduled on data: the asset c360_daily's request_training updates, nothing else.
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"
    assert [a.uri for a in dag.timetable.asset_condition.objects] == [TRAINING_DUE.uri]
    daily = dagbag.dags["c360_daily"]
    assert [a.uri for a in daily.get_task("request_training").outlets] == [TRAINING_DUE.uri]
    assert daily.get_task("build_features").outlets == [LAKE_ASSETS["gold"]]
    assert daily.get_task("score_customers").outlets == [LAKE_ASSETS["serving"]]
    # The day: the newest the triggering events name; by hand, the last whole day of the interval.
    events = {TRAINING_DUE: [SimpleNamespace(extra={"day": "2026-10-03"}), SimpleNamespace(extra={"day": "2026-10-10"})]}
    assert training_day({"triggering_asset_events": events}) == dt.date(2026, 10, 10)
    manual = {"triggering_asset_events": {}, "data_interval_end": pendulum.datetime(2026, 11, 2, tz="UTC")}
    assert training_day(manual) == dt.date(2026, 11, 1)
    assert training_day({**manual, "params": {"day": "2026-10-17"}}) == dt.date(2026, 10, 17)
    assert training_day({"triggering_asset_events": {}, "logical_date": pendulum.datetime(2026, 11, 2, tz="UTC"),
                         "data_interval_end": None}) == dt.date(2026, 11, 1)


def test_the_landing_wait_names_the_missing_sources_when_it_times_out(tmp_path, monkeypatch):
    from jobs.dag_tasks import LandingTrigger

    landing = tmp_path / "landing"
    (landing / "orders" / "ds=2026-10-30").mkdir(parents=True)
    (landing / "orders" / "ds=2026-10-30" / "orders_20261030.csv").write_text("order_id\n")
    trigger = LandingTrigger("2026-10-30", str(landing), None, poke_interval=0.05, deadline=time.time() + 0.2)
    kind, args = trigger.serialize()
    assert kind == "jobs.dag_tasks.LandingTrigger" and args["day"] == "2026-10-30"

    async def first_event():
        async for event in trigger.run():
            return event.payload

    payload = asyncio.run(first_event())
    assert payload["status"] == "timeout"
    assert "crm_customers/ds=2026-10-30" in payload["missing"] and "orders/ds=2026-10-30" not in payload["missing"]
    daily = {s.name for s in SOURCES if s.delivery == "daily"}
    assert {m.split("/")[0] for m in payload["missing"]} == daily - {"orders"}


def test_airflow_dags_test_ran_the_day_into_gold(e2e):
    """`airflow dags test c360_daily` ran every task of the DAG for real on the shared lake's last day."""
    assert e2e.airflow_tasks == dict.fromkeys(DAILY_TASKS, "success")
    lake, day = Path(e2e.rt.lake.root), e2e.last
    assert (lake / "bronze" / "web_events" / "_delta_log").is_dir()
    assert (lake / "silver" / "web_events" / "_delta_log").is_dir()
    assert (lake / "ops" / "dq_results" / "_delta_log").is_dir()
    assert (lake / "silver" / "identity_map" / "_delta_log").is_dir()
    assert (lake / "silver" / "customers" / "_delta_log").is_dir()
    assert (lake / "gold" / "customer_360" / "_delta_log").is_dir()
    assert (lake / "_reports" / "dbt_docs" / "index.html").is_file()
    # No champion yet: every customer still gets recommendations (content and popularity).
    assert (lake / "serving" / "recommendations" / f"run_date={day}").is_dir()
    # The run touched its own day only: its ingest-log rows are all of that day, earlier silver days are as they were.
    from pyspark.sql import functions as F

    rt = e2e.rt
    day_run = rt.lake.read("ops.ingest_log").where(~F.col("batch_id").isin(*e2e.before_day["ingest_batches"]))
    assert {r["ds"] for r in day_run.select("ds").distinct().collect()} == {day}
    per_day = {r["_ds"]: r["n"] for r in rt.lake.read("silver.web_events").groupBy("_ds")
               .agg(F.count("*").alias("n")).collect()}
    assert {d: n for d, n in per_day.items() if d != day} == e2e.before_day["silver_web_events_per_day"]
    assert per_day[day] > 0
    assert rt.lake.read("ops.dq_results").where(F.col("run_date") == F.lit(day)).count() > 0
    # ops.processing_log: each stage of the day, succeeded, under the Airflow run's id
    logged = rt.lake.read("ops.processing_log").where(F.col("ds") == F.lit(day)).collect()
    assert {r.stage for r in logged} == set(pipeline.DAILY_NAMES)
    assert all(r.status == "succeeded" and r.orchestrator_run for r in logged)
    assert len({r.orchestrator_run for r in logged}) == 1
    # 2026-10-10 is a saturday, the training weekday: request_training updated the asset c360_train runs on.
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    from jobs.dag_tasks import TRAINING_DUE

    with create_session() as session:
        extras = [e.extra for e in session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                  .filter(AssetModel.uri == TRAINING_DUE.uri)]
    assert extras and extras[-1]["day"] == day.isoformat() and "saturday" in extras[-1]["reasons"][0]


def test_c360_privacy_erases_the_days_requests_after_the_daily_run(dagbag):
    dag = dagbag.dags["c360_privacy"]
    assert [t.task_id for t in dag.tasks] == ["erase"] and [list(t.op_args) for t in dag.tasks] == [["erase"]]
    assert dag.max_active_runs == 1 and dag.catchup is False and dag.tasks[0].retries >= 1
    assert "deadline" in dag.doc_md
    # The run at 06:00 on 2026-10-11 handles the requests of 2026-10-10 (the daily run built that day at 00:00).
    interval = dag.timetable.infer_manual_data_interval(run_after=pendulum.datetime(2026, 10, 11, 6, tz="UTC"))
    assert interval.start == pendulum.datetime(2026, 10, 10, 6, tz="UTC")


def test_the_dag_files_only_wire_the_registry():
    """DAG files import Airflow, the registry and the task helpers, nothing of the stages (and no heavy library)."""
    import ast

    for path in (CHECKOUT / "dags").glob("*.py"):
        tree = ast.parse(path.read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        modules = {n.module for n in top if isinstance(n, ast.ImportFrom)} | {a.name for n in top
                                                                              if isinstance(n, ast.Import)
                                                                              for a in n.names}
        ours = {m for m in modules if m and m.startswith("jobs")}
        assert ours <= {"jobs.pipeline", "jobs.dag_tasks"}, f"{path.name} imports {ours}"
        assert not {m for m in modules if m and m.split(".")[0] in ("pyspark", "mlflow", "dbt", "great_expectations")}


class _Sinks:
    """A webhook (HTTP) and a mail server (SMTP, aiosmtpd) on loopback, recording what they receive."""

    def __init__(self) -> None:
        import json
        import socket
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from aiosmtpd.controller import Controller

        self.posted: list[dict] = []
        self.mailed: list = []
        posted, mailed = self.posted, self.mailed

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server hook name
                posted.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_):
                pass

        class Mailbox:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
                mailed.append(envelope)
                return "250 OK"

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.smtp_port = probe.getsockname()[1]
        self.smtp = Controller(Mailbox(), hostname="127.0.0.1", port=self.smtp_port)
        self.smtp.start()

    def profile(self) -> str:
        """The alerts section sending to both sinks (the email through Airflow's connection smtp_default)."""
        return (f"alerts:\n  webhook_url: http://127.0.0.1:{self.http.server_port}/hook\n"
                f"  email_to: [oncall@example.com, data-team@example.com]\n")

    def smtp_connection(self) -> str:
        """Airflow's smtp_default connection (AIRFLOW_CONN_SMTP_DEFAULT) to the mail server: plain SMTP on loopback."""
        import json

        return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": self.smtp_port, "extra": {
            "disable_ssl": True, "disable_tls": True, "from_email": "c360@example.com", "retry_limit": 0}})

    def close(self) -> None:
        self.http.shutdown()
        self.smtp.stop()


def test_a_task_that_fails_for_good_sends_exactly_one_alert_to_the_webhook_and_by_email(e2e, tmp_path, monkeypatch):
    """A real Airflow run (`dag.test`, the database the shared lake's day migrated) of c360_daily's
    build_lookup on an empty lake: the task fails; a webhook sink on loopback receives one alert
    naming the DAG, the task, the day, the error's first line and the log URL, and a mail server on
    loopback one email with them, sent by Airflow's SMTP provider to the configured addresses."""
    from email import message_from_bytes

    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import TEST_PROFILE

    sinks = _Sinks()
    try:
        profile = tmp_path / "alerting.yaml"
        profile.write_text(TEST_PROFILE + sinks.profile())
        monkeypatch.setenv("C360_PROFILE", str(profile))
        monkeypatch.setenv("C360_LAKE_ROOT", str(tmp_path / "empty_lake"))
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", sinks.smtp_connection())
        dag = DagBag(dag_folder=str(CHECKOUT / "dags")).get_dag("c360_daily").partial_subset(
            task_ids=["build_lookup"], include_upstream=False, include_downstream=False)
        for t in dag.tasks:
            t.retries = 0  # fail for good at once
        run = dag.test(logical_date=dt.datetime(2026, 10, 5, tzinfo=dt.UTC))
        states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
        day = run.data_interval_start.date().isoformat()
    finally:
        sinks.close()
    assert states == {"build_lookup": "failed"}
    assert len(sinks.posted) == 1, sinks.posted
    alert = sinks.posted[0]
    assert (alert["kind"], alert["dag_id"], alert["task_id"]) == ("task_failed", "c360_daily", "build_lookup")
    assert alert["day"] == day and alert["log_url"] and "build_lookup" in alert["log_url"]
    # the task's own error, first line only (the lake it reads has no identity map of that day)
    assert alert["error"].startswith("ServingError: silver.identity_map ") and "\n" not in alert["error"]
    assert alert["text"].startswith(f"c360: c360_daily for {day}: task build_lookup failed")
    # the same alert by email, once, to both addresses
    assert len(sinks.mailed) == 1, sinks.mailed
    envelope = sinks.mailed[0]
    assert envelope.mail_from == "c360@example.com"
    assert sorted(envelope.rcpt_tos) == ["data-team@example.com", "oncall@example.com"]
    mail = message_from_bytes(envelope.original_content)
    assert mail["Subject"] == f"c360: c360_daily for {day}: task build_lookup failed"
    body = next(part for part in mail.walk() if part.get_content_type() == "text/html").get_payload(decode=True)
    body = body.decode("utf-8")
    for field in ("c360_daily", "build_lookup", day, "ServingError: silver.identity_map", alert["log_url"]):
        assert field in body, field


def test_the_serving_deadline_is_declared_only_when_configured(tmp_path, monkeypatch):
    """`alerts.serving_deadline_hour: 6`: c360_daily declares a DeadlineAlert 30 h after its logical date
    (06:00 UTC the day after the landing day), calling the alert back; unset, it declares none."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import DeadlineReference

    from jobs.dag_tasks import alert_deadline_missed

    assert DagBag(dag_folder=str(CHECKOUT / "dags")).dags["c360_daily"].deadline is None
    profile = tmp_path / "deadline.yaml"
    profile.write_text("alerts:\n  serving_deadline_hour: 6\n")
    monkeypatch.setenv("C360_PROFILE", str(profile))
    bag = DagBag(dag_folder=str(CHECKOUT / "dags"))
    assert bag.import_errors == {}
    deadline = bag.dags["c360_daily"].deadline
    deadline = deadline[0] if isinstance(deadline, list) else deadline
    assert deadline.reference == DeadlineReference.DAGRUN_LOGICAL_DATE
    assert deadline.interval == dt.timedelta(hours=30)
    assert deadline.callback.path == f"{alert_deadline_missed.__module__}.{alert_deadline_missed.__name__}"
    profile.write_text("alerts:\n  serving_deadline_hour: 30\n")
    bag = DagBag(dag_folder=str(CHECKOUT / "dags"))
    (error,) = bag.import_errors.values()
    assert "alerts.serving_deadline_hour must be an hour from 0 to 23" in error


def test_a_missed_deadline_alerts_once_for_a_scheduled_run_and_never_for_a_backfill(tmp_path, monkeypatch):
    """The deadline's callback as Airflow's triggerer calls it (the context the scheduler builds from the run,
    `DAGRunResponse`): a scheduled run gets one deadline_missed alert by webhook and email; a backfilled
    day, whose deadline passed long ago, none."""
    from airflow.api_fastapi.core_api.datamodels.dag_run import DAGRunResponse

    from jobs.dag_tasks import alert_deadline_missed

    used = {"dag_id", "dag_run_id", "run_type", "state", "data_interval_start"}
    assert used <= set(DAGRunResponse.model_fields), "the scheduler's run context lost a field the alert reads"

    def context(run_type: str) -> dict:
        return {"dag_run": {"dag_id": "c360_daily", "dag_run_id": f"{run_type}__2026-10-05T00:00:00+00:00",
                            "run_type": run_type, "state": "running",
                            "data_interval_start": "2026-10-05T00:00:00Z"},
                "deadline": {"id": "0", "deadline_time": "2026-10-06T06:00:00+00:00"}}

    sinks = _Sinks()
    try:
        profile = tmp_path / "alerting.yaml"
        profile.write_text(sinks.profile())
        monkeypatch.setenv("C360_PROFILE", str(profile))
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", sinks.smtp_connection())
        asyncio.run(alert_deadline_missed(context=context("backfill")))
        asyncio.run(alert_deadline_missed(context=context("manual")))
        assert sinks.posted == [] and sinks.mailed == []
        asyncio.run(alert_deadline_missed(context=context("scheduled")))
    finally:
        sinks.close()
    assert len(sinks.posted) == 1 and len(sinks.mailed) == 1
    alert = sinks.posted[0]
    assert (alert["kind"], alert["dag_id"], alert["day"]) == ("deadline_missed", "c360_daily", "2026-10-05")
    assert "2026-10-06T06:00:00" in alert["error"] and "state running" in alert["error"]
