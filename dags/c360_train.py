"""
### c360_train

Training of the models, scheduled on data: the Asset `c360://lake/gold/training_due`,
which the daily run updates with its day when training is due (its `request_training`
task: the week's day, `training.weekday`, saturday by default; or drift, with
`drift.retrain_on_drift`). Every task trains as of the day the event names, whose gold
that run has just built: training never starts before the day it needs, and never
retries into waiting for it. Triggered by hand, it trains as of its `day` param (else the
day before the run). One task per model, side by side: each fails and retries on its own.

**build_training_features**: `dbt build --select tag:training` as of the day: the marts
only training reads (`gold.customer_purchase_holdout`, `gold.customer_churn_examples`),
with the intermediate event tables they read (an incremental day leaves those holding the
touched customers only), once the day's `build_features` ran. `train_clv` and
`train_churn` wait for it.

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

Each task needs gold built for its day; a hand-triggered run for a day c360_daily has not
built fails with a message saying so. The logic lives in `jobs/` (the weekly stages of
`jobs/pipeline.py`).
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from jobs.dag_tasks import TRAINING_DUE, alert_run_failure, alert_task_failure, run_weekly_stage_task
from jobs.pipeline import WEEKLY


@dag(
    dag_id="c360_train",
    schedule=[TRAINING_DUE],
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "c360", "retries": 1, "retry_delay": timedelta(minutes=10),
                  "on_failure_callback": alert_task_failure},
    on_failure_callback=alert_run_failure,
    params={"day": Param(None, type=["null", "string"], format="date",
                         description="train as of this day (YYYY-MM-DD, built by c360_daily); empty: the day "
                                     "the triggering asset event names, else the day before the run")},
    tags=["c360", "weekly", "ml"],
    doc_md=__doc__,
)
def c360_train():
    # One task per weekly stage, side by side but for the marts a model trains on: a model that fails to
    # train leaves the others to train.
    tasks = {stage.name: task(task_id=stage.name, doc=stage.summary)(run_weekly_stage_task)(stage.name)
             for stage in WEEKLY}
    for stage in WEEKLY:
        for name in stage.waits_for:
            tasks[name] >> tasks[stage.name]


c360_train()
