"""The `train_clv` stage (weekly, MLflow-tracked): fit, judge and register the lifetime value models.

Table read: gold.customer_purchase_holdout (one row per customer_key with a purchase up to
its calibration end, `customers.clv_holdout_days` before the day), at the Delta version
current when the run starts: a training mart, built as of the day by the weekly
`build_training_features` before this stage.

The BG/NBD purchase model and the Gamma-Gamma spend model fit on the driver on the
calibration summary (every customer up to `customers.fit_max_customers`, else a
hash-chosen sample of that size) and are judged on the holdout purchases of every
customer, in Spark, against the naive baseline (the calibration rate carried forward).

MLflow (experiment `customers.experiment`): one run per training with the parameters,
the holdout figures, the input table's Delta version, the holdout table and a model card;
a new version of the registered model `customers.clv_registered_model` (a pyfunc that
scores gold's purchase summary, with a signature and an input example). The `champion`
alias moves only when the new version's per-customer holdout MAE is below the champion's
on the same holdout; `score_customers` scores with the champion.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common import models
from jobs.common.runtime import Runtime
from jobs.common.stage import Days, StageReport
from jobs.customers import clv
from jobs.customers.clv_model import LifetimeValueModel, ScoreParams, signature_params
from jobs.customers.gold import HOLDOUT, CustomerModelError, require_gold, sample_customers
from jobs.customers.scoring import holdout_figures, summary_frame

log = logging.getLogger(__name__)
GATE_METRIC = "holdout_mae"


@dataclass(frozen=True)
class ClvTrainReport(StageReport):
    day: dt.date
    calibration_end: dt.date
    run_id: str
    model_version: str
    promoted: bool
    customers: int
    fitted_customers: int
    r: float
    alpha: float
    a: float
    b: float
    p: float
    q: float
    v: float
    holdout_mae: float
    naive_mae: float
    champion_mae: float | None
    holdout_purchases: float
    predicted_purchases: float
    aggregate_error: float | None
    seconds: float


def train(calibration: DataFrame, params: ScoreParams) -> LifetimeValueModel:
    """Both models fitted on `calibration` (gold summary columns; times in days) on the driver."""
    frame = summary_frame(calibration)
    purchases = clv.fit_purchases(frame, time_unit_days=1.0)
    spend = clv.fit_spend(frame)
    return LifetimeValueModel(purchases, spend, params)


def run(rt: Runtime, days: Days) -> ClvTrainReport:
    """Fit the lifetime value models as of the last of `days`; judge, log and register them; promote on a win.

    Args:
        rt: the runtime.
        days: the days run; the models train on the summary at `days.last` minus
            `customers.clv_holdout_days` and are judged on the purchases after it up to `days.last`.

    Raises:
        CustomerModelError: gold.customer_purchase_holdout is missing or not as of the day.
        clv.ClvError: the summary cannot fit the models (e.g. no repeat purchase).
    """
    import mlflow

    lake, config, day = rt.lake, rt.config, days.last
    cc = config.customers
    began = time.perf_counter()
    lake.register_all()
    require_gold(lake, day, (HOLDOUT,))
    input_version = lake.version(HOLDOUT)
    holdout = lake.read(HOLDOUT, version=input_version).cache()
    try:
        calibration_end = holdout.agg(F.max("calibration_end")).first()[0]
        if calibration_end is None:
            raise CustomerModelError(
                f"{HOLDOUT} as of {day} has no customer with a purchase up to its calibration end "
                f"({day - dt.timedelta(days=cc.clv_holdout_days)}): training needs purchases before the last "
                f"customers.clv_holdout_days = {cc.clv_holdout_days} days")
        customers = holdout.count()
        params = ScoreParams(annual_discount_rate=cc.annual_discount_rate)
        sample = sample_customers(holdout, cc.fit_max_customers, cc.seed)
        model = train(sample, params)
        figures = holdout_figures(holdout, model, cc.clv_holdout_days)
        experiment_id = models.connect(config, cc.experiment)
        current = models.champion(cc.clv_registered_model)
        champion_mae = (holdout_figures(holdout, models.load_python_model(current), cc.clv_holdout_days)["mae"]
                        if current is not None else None)
        # Counts as longs and value as double: the signature then takes any integer and float columns.
        example = holdout.select("customer_key", *(F.col(c).cast("long") for c in ("frequency", "recency_days",
                                                                                    "t_days")),
                                 F.col("monetary_value").cast("double")).orderBy("customer_key").limit(5).toPandas()
    finally:
        holdout.unpersist()

    with mlflow.start_run(experiment_id=experiment_id, run_name=f"lifetime value {day}") as run:
        mlflow.log_params({
            **{f"purchase.{k}": v for k, v in model.purchases.as_dict().items()},
            **{f"spend.{k}": v for k, v in model.spend.as_dict().items()},
            "train_day": day.isoformat(), "calibration_end": calibration_end.isoformat(),
            "holdout_days": cc.clv_holdout_days, "horizon_days": params.horizon_days,
            "clv_months": params.clv_months, "annual_discount_rate": params.annual_discount_rate,
            "fit_max_customers": cc.fit_max_customers,
            f"input_version.{HOLDOUT}": input_version,
        })
        mlflow.log_input(mlflow.data.load_delta(path=lake.path(HOLDOUT), version=str(input_version), name=HOLDOUT),
                         context="training")
        mlflow.log_metrics({
            GATE_METRIC: figures["mae"], "naive_holdout_mae": figures["mae_naive"],
            "holdout_purchases": figures["holdout_purchases"], "predicted_purchases": figures["predicted_purchases"],
            "customers": customers, "fitted_customers": model.purchases.customers,
            "spend_fitted_customers": model.spend.customers,
            **({"aggregate_error": figures["aggregate_error"]} if figures["aggregate_error"] is not None else {}),
            **({"champion_holdout_mae": champion_mae} if champion_mae is not None else {}),
        })
        mlflow.log_table(data={k: [row[k] for row in figures["table"]] for k in ("frequency", "customers", "actual",
                                                                                  "predicted")},
                         artifact_file="holdout_table.json")
        promoted = champion_mae is None or figures["mae"] < champion_mae
        card = model_card(day, calibration_end, cc.clv_holdout_days, customers, model, figures, champion_mae,
                          cc.fit_max_customers)
        ref = models.log_pyfunc(model, cc.clv_registered_model, example, model.score(example, params),
                                packages=("pymc-marketing", "pandas", "mlflow"), card=card, day=day,
                                promoted=promoted, champion_before=current, params=signature_params(params))
    if promoted:
        models.promote(ref, f"holdout MAE {figures['mae']:.4f}")
    else:
        log.info("%s stays champion: holdout MAE %.4f vs %.4f", current.label, champion_mae, figures["mae"])
    pm, sm = model.purchases, model.spend
    return ClvTrainReport(
        day=day, calibration_end=calibration_end, run_id=run.info.run_id, model_version=ref.label, promoted=promoted,
        customers=customers, fitted_customers=pm.customers, r=pm.r, alpha=pm.alpha, a=pm.a, b=pm.b, p=sm.p, q=sm.q,
        v=sm.v, holdout_mae=figures["mae"], naive_mae=figures["mae_naive"], champion_mae=champion_mae,
        holdout_purchases=figures["holdout_purchases"], predicted_purchases=figures["predicted_purchases"],
        aggregate_error=figures["aggregate_error"], seconds=time.perf_counter() - began,
    )


def model_card(day: dt.date, calibration_end: dt.date, holdout_days: int, customers: int,
               model: LifetimeValueModel, figures: dict[str, Any], champion_mae: float | None,
               fit_limit: int) -> str:
    """A short model card (Markdown): data window, parameters, holdout figures against the baselines, known limits."""
    pm, sm = model.purchases, model.spend
    error = figures["aggregate_error"]
    rows = "\n".join(f"| {r['frequency']} | {r['customers']} | {r['actual']:.3f} | {r['predicted']:.3f} |"
                     for r in figures["table"])
    return f"""# c360_clv: customer lifetime value (BG/NBD + Gamma-Gamma)

## Data
- Trained as of {day}: the purchase summary of gold.customer_purchase_holdout up to the
  calibration end {calibration_end}; judged on the purchases of the {holdout_days} days after it.
- {customers} customers with a purchase by the calibration end; {pm.customers} fitted the purchase
  model (at most {fit_limit}, a hash-chosen sample above that), {sm.customers} with repeat purchases of
  positive value fitted the spend model.
- Times in days; a purchase is a purchase day (online orders and till receipts); value net of refunds.

## Parameters
- BG/NBD ({pm.method}): r {pm.r:.4f}, alpha {pm.alpha:.4f}, a {pm.a:.4f}, b {pm.b:.4f}
  (log-likelihood {pm.log_likelihood:.1f}).
- Gamma-Gamma (maximum likelihood): p {sm.p:.4f}, q {sm.q:.4f}, v {sm.v:.4f}.

## Holdout ({holdout_days} days)
- Purchases: {figures['holdout_purchases']:.0f} actual, {figures['predicted_purchases']:.1f} predicted
  ({'n/a' if error is None else f'{100 * error:+.1f} %'}).
- Per-customer MAE: {figures['mae']:.4f}; naive baseline (calibration rate carried forward)
  {figures['mae_naive']:.4f}; champion before this run {'none' if champion_mae is None else f'{champion_mae:.4f}'}.

| calibration frequency | customers | actual (mean) | predicted (mean) |
|---|---|---|---|
{rows}

## Use
`mlflow.pyfunc.load_model(...).predict(summary, params={{...}})` with the columns of
gold.customer_purchase_summary; params horizon_days, clv_months, annual_discount_rate. Needs the
c360 package installed (the model's code lives in jobs.customers).

## Known limits
- Stationary purchase rates: no seasonality or trend; promotions and holidays show up as error.
- A customer drops out only right after a purchase (BG/NBD); long pauses read as dropout.
- Gamma-Gamma assumes spend per purchase independent of purchase frequency.
- Customers first seen in the holdout are not judged; refunds booked after the calibration end
  are not netted from the calibration spend.
"""
