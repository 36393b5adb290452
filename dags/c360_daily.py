"""
### c360_daily

The daily Customer 360 pipeline for one landing day: the run's **data interval**
(`data_interval_start` .. `data_interval_end`). The schedule is a data-interval
timetable, so the run that starts at 00:00 UTC on day D+1 processes day D, whose
files are complete (a manual trigger processes the last complete day, and
`airflow dags test c360_daily D+1` runs day D as the scheduler would).

0. **wait_for_landing**: waits (deferred to the triggerer, no worker slot held) until
   every source the landing contract delivers daily has a file in
   `<landing>/<source>/ds=<day>/`; after 6 hours it fails naming the empty folders;
1. **ingest**: `<landing>/<source>/ds=<day>/*` -> `bronze.<source>`, bad rows to
   `ops.quarantine`, every file in `ops.ingest_log` (a file is ingested once);
2. **quality_gate**: the Great Expectations suites in `expectations/` on the day's
   bronze rows -> `ops.dq_results` and Data Docs; an `error` failure stops the run;
3. **silver**: bronze -> `silver.*`, conformed and deduplicated, SCD2 history;
4. **resolve_identities**: silver source records -> `silver.identity_map`,
   `silver.customers` (a stable `customer_key` per person), links and key history;
5. **build_features**: `dbt build` of `dbt_project/` as of the day -> `gold.customer_rfm`,
   `gold.customer_features`, `gold.product_features`, `gold.customer_product_activity`,
   `gold.customer_360` (a failing dbt test restores gold to its last good version);
6. **score_recommendations**: the MLflow `champion` recommender's top N per customer ->
   `serving.recommendations` for the day (content and popularity only before the first
   training; `c360_train` trains weekly);
7. **score_customers**: the `champion` lifetime value model's expected purchases, P(alive)
   and 12-month value, and the churn model's probability, band and drivers, per customer
   -> `serving.customer_scores`, RFM segments and the segment model's clusters ->
   `serving.customer_segments` (segments only before the first training). Tasks 6 and 7
   both follow task 5: one failing does not hold the other back;
8. **build_lookup**: `silver.identity_map` -> `serving.customer_lookup`, every id an app
   holds (CRM, account and loyalty ids, the email's keyed pseudonym, retired keys) -> the
   current `customer_key`; it follows task 4 and runs beside the feature build;
9. **build_audiences**: every active campaign (`conf/campaigns/`) -> its audience of the
   day in `serving.campaign_audiences` (consent, frequency caps, a holdout variant that
   stays the customer's, the offer); it waits for tasks 6 and 7;
10. **monitor_drift**: the population stability index of the day's features and of each
   model's scores against the day the model first scored -> `ops.drift`; above
   `drift.psi_threshold` a warning; it waits for tasks 6 and 7;
11. **run_report**: the day's run report, one self-contained HTML page with plots ->
   `<lake>/_reports/runs/<day>.html` (its path is in the task's log); it runs last;
12. **request_training** (after task 10): when training is due (the day is
   `training.weekday`, or `drift.retrain_on_drift` and a variable drifted) it updates the
   Asset `c360://lake/gold/training_due` with the day, which schedules `c360_train`;
   otherwise it is skipped.

Each stage task updates the Assets of the layers it writes (`c360://lake/silver`,
`c360://lake/gold`, `c360://lake/serving`).

A task that fails for good (its retries spent) sends one alert to `alerts.webhook_url`
and by email to `alerts.email_to` (the DAG, the task, the day, the error's first line, the
log URL). With `alerts.serving_deadline_hour` set, a scheduled run not done by that hour
(UTC) of the day after its landing day sends one `deadline_missed` alert.

Tasks 1-11 are the daily stages of `jobs/pipeline.py`, one task each, in registry
order. Each reads and writes only its day, and every write is one atomic Delta
commit, so a retry or a backfill rewrites that day and a failed task leaves the
tables at their last good version. The logic lives in `jobs/`; this file wires it.
Params: `landing` (optional) overrides the profile's landing URI (a folder or
s3://bucket/prefix).
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from jobs.dag_tasks import (
    TRAINING_DUE,
    LandingSensor,
    alert_run_failure,
    alert_task_failure,
    outlets,
    request_training_task,
    run_stage_task,
    serving_deadline,
)
from jobs.pipeline import DAILY


@dag(
    dag_id="c360_daily",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "c360", "retries": 2, "retry_delay": timedelta(minutes=2),
                  "on_failure_callback": alert_task_failure},
    on_failure_callback=alert_run_failure,
    deadline=serving_deadline(),
    params={"landing": Param(None, type=["null", "string"],
                             description="landing folder or s3://bucket/prefix; empty: the profile's")},
    tags=["c360", "daily"],
    doc_md=__doc__,
)
def c360_daily():
    previous = LandingSensor(task_id="wait_for_landing", poke_interval=300, timeout=6 * 3600, retries=0)
    tasks = {}
    for stage in DAILY:
        current = task(task_id=stage.name, doc=stage.summary, outlets=outlets(stage))(run_stage_task)(stage.name)
        ([tasks[name] for name in stage.waits_for] if stage.waits_for else previous) >> current
        tasks[stage.name] = previous = current
    request = task(task_id="request_training", outlets=[TRAINING_DUE],
                   doc="ask for c360_train when training is due: the week's day, or drift")(request_training_task)()
    tasks["monitor_drift"] >> request


c360_daily()
