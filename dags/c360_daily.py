"""
### c360_daily

The daily Customer 360 pipeline for one landing day, the run's data interval
(`data_interval_start`, i.e. the logical date):

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
   training; `c360_train` trains weekly).

Each task reads and writes only its day, and every write is one atomic Delta
commit, so a retry or a backfill rewrites that day and a failed task leaves the
tables at their last good version. The logic lives in `jobs/`; this file wires it.
Params: `landing` overrides the profile's landing URI (a folder or s3://bucket/prefix).
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, get_current_context, task


def _run(step: str) -> dict:
    from jobs.pipeline import run_step

    context = get_current_context()
    day = context["data_interval_start"].date()
    landing = context["params"].get("landing") or None
    return run_step(step, day, landing=landing)


@dag(
    dag_id="c360_daily",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "c360", "retries": 2, "retry_delay": timedelta(minutes=2)},
    params={"landing": Param("", type="string", description="landing URI; empty: the profile's")},
    tags=["c360", "daily"],
    doc_md=__doc__,
)
def c360_daily():
    @task
    def ingest() -> dict:
        return _run("ingest")

    @task
    def quality_gate() -> dict:
        return _run("quality_gate")

    @task
    def silver() -> dict:
        return _run("silver")

    @task
    def resolve_identities() -> dict:
        return _run("resolve_identities")

    @task
    def build_features() -> dict:
        return _run("build_features")

    @task
    def score_recommendations() -> dict:
        return _run("score_recommendations")

    ingest() >> quality_gate() >> silver() >> resolve_identities() >> build_features() >> score_recommendations()


c360_daily()
