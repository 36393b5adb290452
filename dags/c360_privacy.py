"""
### c360_privacy

The day's erasure requests, done the day after they arrive (a data-interval timetable: the
run that starts at 06:00 UTC on day D+1 handles the requests of day D, after `c360_daily`
has built day D). One task, `erase`:

- reads `<landing>/erasure_requests/ds=<day>/` (docs/landing.md) and the `erasure_request`
  lines of `silver.consent_events` of the day;
- resolves each request to its customer keys through `silver.identity_map`, removes their
  rows from every table of every layer, VACUUMs what it rewrote, writes the landing files
  back without their lines, and puts keyed hashes of their identifiers on the suppression
  list that ingest reads;
- logs each request in `ops.erasure_log` (keyed hashes only), with its deadline
  (`privacy.erasure_deadline_days` after it was received, 30 by default: GDPR art. 12);
  the task's report lists requests near or past the deadline.

Schedule it after `c360_daily` has run the day (it reads the day's silver consent events
and identities) and while no other job writes the lake: the VACUUM deletes files at once.
The logic lives in `jobs/privacy/` (the `erase` stage of `jobs/pipeline.py`).
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from jobs.dag_tasks import alert_run_failure, alert_task_failure, run_stage_task
from jobs.pipeline import PRIVACY


@dag(
    dag_id="c360_privacy",
    schedule=CronDataIntervalTimetable("0 6 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "c360", "retries": 2, "retry_delay": timedelta(minutes=10),
                  "on_failure_callback": alert_task_failure},
    on_failure_callback=alert_run_failure,
    params={"landing": Param(None, type=["null", "string"],
                             description="landing folder or s3://bucket/prefix; empty: the profile's")},
    tags=["c360", "privacy"],
    doc_md=__doc__,
)
def c360_privacy():
    for stage in PRIVACY:
        task(task_id=stage.name, doc=stage.summary)(run_stage_task)(stage.name)


c360_privacy()
