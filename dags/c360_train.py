"""
### c360_train

Weekly training of the recommender, as of the last day of the run's data interval
(a data-interval timetable: the run that starts on Sunday 00:00 UTC covers the week
that just ended and trains as of its Saturday).

**train_recommender**: interactions from `gold.customer_product_activity` -> a
hyperparameter search of Spark ALS on a temporal validation split, the final model
trained up to the holdout (the last `recommend.holdout_days` days) and evaluated there
against plain ALS and a popularity baseline; everything logged to
MLflow, the model registered, and the `champion` alias moved only when the new model's
NDCG@10 beats the champion's on the same holdout. `c360_daily` scores with the champion.

The task needs gold built for that day (by `c360_daily`); until then it fails with a
message saying so, and its retries wait for the daily run. The logic lives in `jobs/`
(the weekly stage of `jobs/pipeline.py`).
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable


@dag(
    dag_id="c360_train",
    schedule=CronDataIntervalTimetable("@weekly", timezone="UTC"),
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "c360", "retries": 3, "retry_delay": timedelta(minutes=30)},
    tags=["c360", "weekly", "ml"],
    doc_md=__doc__,
)
def c360_train():
    @task
    def train_recommender() -> dict:
        from jobs.common.stage import Days
        from jobs.pipeline import run_stage

        # The interval's last whole day: c360_daily has built gold for it once the interval has ended.
        day = (get_current_context()["data_interval_end"] - timedelta(days=1)).date()
        return run_stage("train_recommender", Days.of(day))

    train_recommender()


c360_train()
