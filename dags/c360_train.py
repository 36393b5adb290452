"""
### c360_train

Weekly training of the models, as of the last day of the run's data interval (a
data-interval timetable: the run that starts on Sunday 00:00 UTC covers the week that
just ended and trains as of its Saturday). One task per model, side by side: each
fails and retries on its own.

**train_recommender**: interactions from `gold.customer_product_activity` -> a
hyperparameter search of Spark ALS on a temporal validation split, the final model
trained up to the holdout (the last `recommend.holdout_days` days) and evaluated there
against plain ALS and a popularity baseline; everything logged to
MLflow, the model registered, and the `champion` alias moved only when the new model's
NDCG@10 beats the champion's on the same holdout. `c360_daily` scores with the champion.

**train_clv**: the purchase summary of `gold.customer_purchase_holdout` as it stood
`customers.clv_holdout_days` before the day -> BG/NBD and Gamma-Gamma fitted by maximum
likelihood, judged on the purchases after it against a naive baseline; logged to MLflow
with a model card, registered as the pyfunc `c360_clv`, and promoted to `champion` only
when its per-customer holdout error beats the champion's on the same holdout.

**train_churn**: the customers of `gold.customer_churn_examples` active at the day minus
twice `customers.churn.horizon_days` -> a calibrated LightGBM classifier of "no purchase
in the horizon", judged on those active at minus once against two baselines; registered
as the pyfunc `c360_churn`, promoted when its PR AUC beats the champion's.

**train_segments**: the behaviour of the customers in `gold.customer_features` ->
Spark ML KMeans over a range of k (silhouette and Davies-Bouldin for each), clusters named
from their centroids and matched to the champion's ids; registered as the pyfunc
`c360_segments`, promoted when its silhouette beats the champion's with an adjusted Rand
index of at least `customers.segments.min_stability`; writes `gold.segment_profiles`.

Each task needs gold built for that day (by `c360_daily`); until then it fails with a
message saying so, and its retries wait for the daily run. The logic lives in `jobs/`
(the weekly stages of `jobs/pipeline.py`).
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from jobs.dag_tasks import alert_run_failure, alert_task_failure, run_weekly_stage_task
from jobs.pipeline import WEEKLY


@dag(
    dag_id="c360_train",
    schedule=CronDataIntervalTimetable("@weekly", timezone="UTC"),
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "c360", "retries": 3, "retry_delay": timedelta(minutes=30),
                  "on_failure_callback": alert_task_failure},
    on_failure_callback=alert_run_failure,
    tags=["c360", "weekly", "ml"],
    doc_md=__doc__,
)
def c360_train():
    # One task per weekly stage, side by side: a model that fails to train leaves the others to train.
    for stage in WEEKLY:
        task(task_id=stage.name, doc=stage.summary)(run_weekly_stage_task)(stage.name)


c360_train()
