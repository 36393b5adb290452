"""The `train_recommender` stage (weekly, MLflow-tracked): search, train, evaluate, register.

Tables read: gold.customer_product_activity (one row per customer_key, sku and day),
gold.product_features (one row per sku), gold.customer_rfm_history (one row per
customer_key per as-of day), at the Delta versions current when the run starts.

MLflow: one run per training (params, metrics of every method on the holdout and of every
candidate on validation, the input tables' Delta versions, the search grid, a model card),
a new version of the registered model per run (the chosen method with the ALS item
factors, jobs/recommend/served.py, logged as a pyfunc with its signature and an input
example; the method is the run's `served_method` param and `c360.served_method` tag), and
the `champion` alias, moved only when the new version's NDCG@k on the holdout beats the
champion's on the same holdout. A method below popularity on the holdout is never served
(the popularity gate: popularity is registered instead; `c360.gate` says so). The daily
scoring stage uses the champion.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from pyspark.sql import functions as F

from jobs.common import models
from jobs.common.runtime import Runtime
from jobs.common.stage import Days, StageReport
from jobs.recommend import registry
from jobs.recommend.inputs import ACTIVITY, PRODUCTS, RFM_HISTORY, RecommendError, load_catalog, require_gold
from jobs.recommend.train import Split, train_and_evaluate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainReport(StageReport):
    day: dt.date
    run_id: str
    model_version: str
    promoted: bool
    served_method: str
    blend_weight: float
    gate: str
    rank: int
    reg_param: float
    alpha: float
    ndcg: float
    champion_ndcg: float | None
    popular_ndcg: float
    implicit_ndcg: float | None
    holdout_customers: int
    cold_start_share: float
    train_interactions: int
    seconds: float


def run(rt: Runtime, days: Days, *, compare_implicit: bool | None = None) -> TrainReport:
    """Search, train and evaluate as of the last of `days`; log and register the model; promote it if it wins.

    Args:
        rt: the runtime.
        days: the days run; the model is trained as of `days.last`, the last day of data, and
            the holdout is the `recommend.holdout_days` days up to it.
        compare_implicit: also train the `implicit` library's ALS on the same split
            (default: `recommend.compare_implicit`).
    """
    spark, lake, config, day = rt.spark, rt.lake, rt.config, days.last
    import mlflow

    began = time.perf_counter()
    rc = config.recommend
    lake.register_all()
    require_gold(lake, day, (ACTIVITY, PRODUCTS, RFM_HISTORY))
    versions = {t: lake.version(t) for t in (ACTIVITY, PRODUCTS, RFM_HISTORY)}
    activity = lake.read(ACTIVITY, version=versions[ACTIVITY])
    rfm_history = lake.read(RFM_HISTORY, version=versions[RFM_HISTORY])
    catalog = load_catalog(lake.read(PRODUCTS, version=versions[PRODUCTS]), rc.repeatable_categories)
    split = Split.of(day, rc.holdout_days)
    if activity.where(F.col("activity_date") <= F.lit(split.validation_cutoff)).limit(1).count() == 0:
        raise RecommendError(
            f"{ACTIVITY} has no activity up to {split.validation_cutoff}: training as of {day} needs days "
            f"before its validation and holdout weeks (2 x recommend.holdout_days = {2 * rc.holdout_days} days)"
        )
    experiment_id = registry.connect(config)
    champion_ref = registry.champion(config)
    champion = registry.served_model(champion_ref) if champion_ref is not None else None
    compare_implicit = rc.compare_implicit if compare_implicit is None else compare_implicit

    with mlflow.start_run(experiment_id=experiment_id, run_name=f"recommender {day}") as run:
        result = train_and_evaluate(spark, activity, rfm_history, catalog, split, rc, champion=champion,
                                    compare_implicit=compare_implicit)
        k = rc.eval_k
        mlflow.log_params({
            **result.params.as_dict(),
            "train_day": day.isoformat(), "cutoff": split.cutoff.isoformat(),
            "validation_cutoff": split.validation_cutoff.isoformat(), "holdout_days": rc.holdout_days,
            "weight_view": rc.weights.view, "weight_add_to_cart": rc.weights.add_to_cart,
            "weight_purchase": rc.weights.purchase, "half_life_days": rc.half_life_days,
            "history_days": rc.history_days, "top_n": rc.top_n, "eval_k": k,
            "new_product_slots": rc.new_product_slots,
            "repeatable_categories": ",".join(rc.repeatable_categories),
            "served_method": result.method, "blend_weight": result.blend,
            "blend_weights": ",".join(f"{w:g}" for w in rc.blend_weights),
            **{f"input_version.{t}": v for t, v in versions.items()},
        })
        for table, version in versions.items():
            mlflow.log_input(mlflow.data.load_delta(path=lake.path(table), version=str(version), name=table),
                             context="training")
        for method, figures in result.metrics.items():
            mlflow.log_metrics({f"{method}_{m}_at_{k}" if m not in ("coverage", "customers") else f"{method}_{m}": v
                                for m, v in figures.items() if isinstance(v, (int, float))})
        mlflow.log_metrics({
            "holdout_customers": result.holdout_customers, "cold_start_user_share": result.cold_start_share,
            "train_interactions": result.train_interactions,
            **{f"seconds_{name}": s for name, s in result.seconds.items()},
        })
        mlflow.log_metrics({f"validation_{name}_ndcg_at_{k}": v for name, v in result.validation.items()})
        mlflow.log_metric(f"served_ndcg_at_{k}", result.ndcg)
        mlflow.set_tags({"c360.served_method": result.method, "c360.gate": result.gate})
        mlflow.log_dict({"grid": result.search, "validation_ndcg": result.validation}, "search.json")
        ndcg = result.ndcg
        champion_ndcg = result.metrics["champion"]["ndcg"] if "champion" in result.metrics else None
        promoted = champion_ndcg is None or ndcg > champion_ndcg
        card = model_card(day, split, rc, result, champion_ref.label if champion_ref else None)
        ref = models.log_pyfunc(result.served, rc.registered_model, result.example,
                                result.served.predict(None, result.example),
                                packages=("numpy", "pandas", "mlflow"), card=card, day=day, promoted=promoted,
                                champion_before=champion_ref)
        ref = models.ModelRef(ref.name, ref.version, ref.run_id,
                              {k: str(v) for k, v in result.params.as_dict().items()})
        if promoted:
            models.promote(ref, f"{result.method} NDCG@{k} {ndcg:.4f}")
        else:
            log.info("%s stays champion: NDCG@%d %.4f vs %.4f", champion_ref.label, k, champion_ndcg, ndcg)
    return TrainReport(
        day=day, run_id=run.info.run_id, model_version=ref.label, promoted=promoted,
        served_method=result.method, blend_weight=result.blend, gate=result.gate, rank=result.params.rank,
        reg_param=result.params.reg_param, alpha=result.params.alpha, ndcg=ndcg, champion_ndcg=champion_ndcg,
        popular_ndcg=result.metrics["popular"]["ndcg"],
        implicit_ndcg=result.metrics["implicit"]["ndcg"] if "implicit" in result.metrics else None,
        holdout_customers=result.holdout_customers, cold_start_share=result.cold_start_share,
        train_interactions=result.train_interactions, seconds=time.perf_counter() - began,
    )


def model_card(day: dt.date, split: Split, rc, result, champion_before: str | None) -> str:
    """A short model card (Markdown): data window, parameters, holdout figures, known limits."""
    k = rc.eval_k
    rows = "\n".join(f"| {method} | {m.get('ndcg', float('nan')):.4f} | {m.get('precision', float('nan')):.4f} | "
                     f"{m.get('recall', float('nan')):.4f} |"
                     for method, m in result.metrics.items() if isinstance(m.get("ndcg"), float))
    p = result.params
    method = {"hybrid": "the hybrid (ALS fold-in, content and segment fallbacks)",
              "als+popular": f"ALS with a popularity prior (blend weight {result.blend:g})",
              "popular": "popularity alone"}[result.method]
    chosen = ", ".join(f"{name} {v:.4f}" for name, v in result.validation.items())
    return f"""# {rc.registered_model}: {result.method} recommender

## Data
- gold.customer_product_activity up to {split.cutoff} (interactions weighted view / add to cart / purchase,
  half-life {rc.half_life_days} days, last {rc.history_days} days); holdout: the purchases in
  ({split.cutoff}, {day}]. Parameters searched on ({split.validation_cutoff}, {split.cutoff}].
- Holdout customers: {result.holdout_customers}; without any interaction before the cutoff: {result.cold_start_share:.1%}.

## Model
- Serves {method}: chosen by NDCG@{k} on validation ({chosen}); popularity gate: {result.gate}.
- ALS rank {p.rank}, regularisation {p.reg_param}, alpha {p.alpha}, {p.max_iter} iterations; the served model
  keeps the item factors and folds each customer in from their history at scoring time.
- Lists of {rc.top_n}, {rc.new_product_slots} places for products the model has not seen; only sellable
  products; bought products left out unless their category repeats.

## Holdout (@{k})
| method | NDCG | precision | recall |
|---|---|---|---|
{rows}

Champion before this run: {champion_before or 'none'}; the alias moves only on a better NDCG@{k} of the
served method.

## Known limits
- Customers without personalization consent get one non-personalised list.
- A product first sold after training is recommended by content similarity only until the next training.
"""
