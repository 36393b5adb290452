"""The `train_churn` stage (weekly, MLflow-tracked): train, judge and register the churn model.

Table read: gold.customer_churn_examples (one row per customer_key active at a cutoff, per
cutoff: `train` at the day minus twice `customers.churn.horizon_days`, `test` at minus
once, both labelled), at the Delta version current when the run starts: a training mart,
built as of the day by the weekly `build_training_features` before this stage.

A temporal split: the BG/NBD pattern parameters and the classifier fit on the `train`
examples (every customer up to `customers.fit_max_customers`, else a hash-chosen sample),
calibration on a hash-chosen slice of them; the model is judged on the `test` examples,
a later cutoff whose label it never saw, against two baselines on the same examples
(days since the last purchase; 1 - P(alive)).

MLflow (experiment `customers.experiment`): one run with the settings, the figures, the
calibration table, the input table's Delta version and a model card; a new version of the
registered model `customers.churn.registered_model` (a pyfunc taking the examples'
columns, with a signature and an input example). The `champion` alias moves only when
the new version's PR AUC beats the champion's on the same test examples.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

import mlflow.pyfunc
from pyspark.sql import functions as F

from jobs.common import models
from jobs.common.runtime import Runtime
from jobs.common.stage import Days, StageReport
from jobs.customers import churn, clv
from jobs.customers.gold import CHURN_EXAMPLES, CustomerModelError, require_gold, sample_customers

log = logging.getLogger(__name__)
GATE_METRIC = "pr_auc"


@dataclass(frozen=True)
class ChurnTrainReport(StageReport):
    day: dt.date
    train_cutoff: dt.date
    test_cutoff: dt.date
    run_id: str
    model_version: str
    promoted: bool
    train_customers: int
    test_customers: int
    churn_rate: float
    roc_auc: float
    pr_auc: float
    f1: float
    threshold: float
    calibration_error: float
    recency_roc_auc: float
    p_alive_roc_auc: float
    champion_pr_auc: float | None
    # The reliability table on the test examples: per tenth of the probability range, the
    # customers, their mean predicted probability and the observed churn rate.
    calibration: tuple[dict[str, Any], ...]
    seconds: float


def run(rt: Runtime, days: Days) -> ChurnTrainReport:
    """Train the churn model as of the last of `days` (train at t - 2H, judge at t - H); log, register, gate.

    Raises:
        CustomerModelError: gold.customer_churn_examples is missing, not as of the day, or
            has no examples at a cutoff (too little history).
        churn.ChurnError: the examples hold one class only.
    """
    lake, config, day = rt.lake, rt.config, days.last
    cc = config.customers
    params = cc.churn
    began = time.perf_counter()
    lake.register_all()
    require_gold(lake, day, (CHURN_EXAMPLES,))
    input_version = lake.version(CHURN_EXAMPLES)
    examples = lake.read(CHURN_EXAMPLES, version=input_version)
    train_cutoff = day - dt.timedelta(days=2 * params.horizon_days)
    test_cutoff = day - dt.timedelta(days=params.horizon_days)
    train_rows = sample_customers(examples.where(F.col("cutoff_role") == "train"), cc.fit_max_customers, cc.seed)
    train_frame = train_rows.toPandas()
    test_frame = examples.where(F.col("cutoff_role") == "test").toPandas()
    for role, frame, cutoff in (("train", train_frame, train_cutoff), ("test", test_frame, test_cutoff)):
        if frame.empty:
            raise CustomerModelError(
                f"{CHURN_EXAMPLES} as of {day} has no {role} examples (customers active at {cutoff}): the churn "
                f"model needs 2 x customers.churn.horizon_days = {2 * params.horizon_days} days of purchases "
                f"before the day")
    purchases = clv.fit_purchases(_summary(train_frame), time_unit_days=1.0)
    model = churn.train(train_frame, purchases, params)
    figures = churn.evaluate(model, test_frame)
    experiment_id = models.connect(config, cc.experiment)
    current = models.champion(params.registered_model)
    champion_pr_auc = (churn.evaluate(models.load_python_model(current), test_frame)[GATE_METRIC]
                       if current is not None else None)
    # Counts as longs and the rest as doubles: the signature then takes any integer and float columns.
    example = train_frame[list(churn.INPUT_COLUMNS)].head(5).copy()
    for column in churn.INPUT_COLUMNS[1:]:
        example[column] = example[column].astype("int64" if example[column].dtype.kind in "iu" else "float64")

    with mlflow.start_run(experiment_id=experiment_id, run_name=f"churn {day}") as run:
        mlflow.log_params({
            **{f"churn.{k}": v for k, v in dataclasses.asdict(params).items()},
            **{f"purchase.{k}": v for k, v in purchases.as_dict().items()},
            "train_day": day.isoformat(), "train_cutoff": train_cutoff.isoformat(),
            "test_cutoff": test_cutoff.isoformat(), "fit_max_customers": cc.fit_max_customers,
            f"input_version.{CHURN_EXAMPLES}": input_version,
        })
        mlflow.log_input(mlflow.data.load_delta(path=lake.path(CHURN_EXAMPLES), version=str(input_version),
                                                name=CHURN_EXAMPLES), context="training")
        mlflow.log_metrics({k: v for k, v in figures.items() if isinstance(v, (int, float))}
                           | {"train_customers": len(train_frame)}
                           | ({"champion_pr_auc": champion_pr_auc} if champion_pr_auc is not None else {}))
        mlflow.log_table(data={k: [b[k] for b in figures["calibration"]] for k in figures["calibration"][0]},
                         artifact_file="calibration_table.json")
        promoted = champion_pr_auc is None or figures[GATE_METRIC] > champion_pr_auc
        card = model_card(day, train_cutoff, test_cutoff, len(train_frame), params,
                          {**figures, "calibration_method": model.calibration}, champion_pr_auc)
        ref = models.log_pyfunc(model, params.registered_model, example, model.score(example),
                                packages=("lightgbm", "scikit-learn", "pymc-marketing", "mlflow"), card=card, day=day,
                                promoted=promoted, champion_before=current)
    if promoted:
        models.promote(ref, f"PR AUC {figures[GATE_METRIC]:.4f}")
    else:
        log.info("%s stays champion: PR AUC %.4f vs %.4f", current.label, champion_pr_auc, figures[GATE_METRIC])
    return ChurnTrainReport(
        day=day, train_cutoff=train_cutoff, test_cutoff=test_cutoff, run_id=run.info.run_id,
        model_version=ref.label, promoted=promoted, train_customers=len(train_frame),
        test_customers=figures["customers"], churn_rate=figures["churn_rate"], roc_auc=figures["roc_auc"],
        pr_auc=figures["pr_auc"], f1=figures["f1"], threshold=figures["threshold"],
        calibration_error=figures["calibration_error"], recency_roc_auc=figures["recency_roc_auc"],
        p_alive_roc_auc=figures["p_alive_roc_auc"], champion_pr_auc=champion_pr_auc,
        calibration=tuple(figures["calibration"]), seconds=time.perf_counter() - began,
    )


def _summary(examples):
    """The examples' purchase summary in the lifetime value models' shape (times in days)."""
    import pandas as pd

    return pd.DataFrame({"customer_id": examples["customer_key"].astype(str), "frequency": examples["frequency"],
                         "recency": examples["purchase_span_days"], "T": examples["tenure_days"]})


def model_card(day: dt.date, train_cutoff: dt.date, test_cutoff: dt.date, train_customers: int, params,
               figures: dict[str, Any], champion_pr_auc: float | None) -> str:
    """A short model card (Markdown): data window, label, figures against the baselines, calibration, known limits."""
    rows = "\n".join(f"| {b['probability']} | {b['customers']} | {b['predicted']:.3f} | {b['observed']:.3f} |"
                     for b in figures["calibration"])
    return f"""# c360_churn: churn propensity (LightGBM, isotonic calibration, TreeSHAP drivers)

## Data and label
- Trained as of {day} on gold.customer_churn_examples: {train_customers} customers active at {train_cutoff}
  (a purchase in the {params.active_days} days before it); judged on the {figures['customers']} active at
  {test_cutoff}. Churned: no purchase in the {params.horizon_days} days after the cutoff
  ({100 * figures['churn_rate']:.1f} % of the test customers).
- Features as of each cutoff only: recency, purchases and spend over 90 days and the 90 before, tenure,
  repeat purchases, average purchase, refunds, store share, categories, email opens and site visits over
  30 days and the 30 before, and BG/NBD P(alive) and expected purchases (parameters fitted at the
  training cutoff).

## Test figures (a later cutoff than training)
| | ROC AUC | PR AUC |
|---|---|---|
| model | {figures['roc_auc']:.4f} | {figures['pr_auc']:.4f} |
| days since last purchase | {figures['recency_roc_auc']:.4f} | {figures['recency_pr_auc']:.4f} |
| 1 - P(alive) | {figures['p_alive_roc_auc']:.4f} | {figures['p_alive_pr_auc']:.4f} |

At the threshold {figures['threshold']:.3f} (best F1 on the calibration scores, {figures['calibration_method']}):
F1 {figures['f1']:.4f}, precision {figures['precision']:.4f}, recall {figures['recall']:.4f}. Champion before this run:
{'none' if champion_pr_auc is None else f'PR AUC {champion_pr_auc:.4f}'}.

Calibration (expected calibration error {figures['calibration_error']:.4f}):

| probability | customers | predicted | observed |
|---|---|---|---|
{rows}

## Use
`mlflow.pyfunc.load_model(...).predict(rows)` with the columns of gold.customer_churn_features;
returns churn_probability, churn_risk_band (medium from {params.medium_from}, high from {params.high_from})
and churn_drivers, up to three sentences. Needs the c360 package installed.

## Known limits
- One label horizon ({params.horizon_days} days); customers inactive for {params.active_days} days or more
  are not scored (already lapsed).
- Drivers are the features pushing this customer's risk up most (TreeSHAP), not causes.
- Isotonic calibration gives tied probabilities within a step; the bands, not the third decimal, are
  the output to act on.
"""
