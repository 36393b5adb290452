"""Recommendations: train (weekly, MLflow-tracked) and score (daily, into serving).

Tables read: gold.customer_product_activity (one row per customer_key, sku and day),
gold.product_features (one row per sku), gold.customer_rfm_history (one row per
customer_key per as-of day), gold.customer_360 (one row per customer_key: consent).

Table written: serving.recommendations, one row per customer_key, rank and run_date
(customer_key, rank, product_id, score, source, reason, model_version, generated_at,
run_date). A run replaces its run_date and drops run days older than
`recommend.retention_days` in the same Delta commit, so a rerun rewrites the day and a
failed run leaves the table as it was.

MLflow: one run per training (params, metrics of every method on the holdout, the input
tables' Delta versions, the search grid, the model), a new version of the registered
model per run, and the `champion` alias, moved only when the new version's NDCG@k on the
holdout beats the champion's on the same holdout. Scoring uses the champion.
"""
from __future__ import annotations

import datetime as dt
import logging
import subprocess
import time
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.common.config import CHECKOUT, Config
from jobs.common.errors import C360Error
from jobs.common.lake import Lake
from jobs.recommend import als as als_model
from jobs.recommend import registry
from jobs.recommend.hybrid import Catalog, Factors
from jobs.recommend.inputs import histories, item_index, load_catalog, popularity, segments_as_of
from jobs.recommend.interactions import interactions
from jobs.recommend.scoring import score
from jobs.recommend.train import Split, train_and_evaluate

log = logging.getLogger(__name__)

ACTIVITY = "gold.customer_product_activity"
PRODUCTS = "gold.product_features"
RFM_HISTORY = "gold.customer_rfm_history"
CUSTOMERS = "gold.customer_360"
RECOMMENDATIONS = "serving.recommendations"


class RecommendError(C360Error):
    """The recommender cannot run (missing or stale inputs)."""


@dataclass(frozen=True)
class TrainReport:
    day: dt.date
    run_id: str
    model_version: str
    promoted: bool
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


@dataclass(frozen=True)
class ScoreReport:
    day: dt.date
    model_version: str | None
    customers: int
    rows: int
    by_source: dict[str, int]
    table_version: int
    seconds: float


def _require_gold(lake: Lake, day: dt.date, tables: tuple[str, ...]) -> None:
    for table in tables:
        if not lake.exists(table):
            raise RecommendError(f"{table} does not exist: run `c360 build-features --date {day}` (or c360_daily) first")
    as_of = lake.read(ACTIVITY).agg(F.max("as_of_date")).first()[0]
    if as_of is None or as_of < day:
        raise RecommendError(
            f"{ACTIVITY} is as of {as_of}, before {day}: run `c360 build-features --date {day}` first"
        )


def champion_factors(config: Config, catalog: Catalog) -> Factors | None:
    """The `champion` model's item side aligned with the catalog; None before the first promotion."""
    current = registry.champion(config)
    if current is None:
        return None
    model = registry.load_model(current)
    return als_model.factors(model, catalog, float(current.params["alpha"]), float(current.params["reg_param"]),
                             version=current.label)


def _code_version() -> str:
    try:
        out = subprocess.run(["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def train_recommender(spark: SparkSession, lake: Lake, config: Config, day: dt.date,
                      compare_implicit: bool | None = None) -> TrainReport:
    """Search, train and evaluate as of `day`; log and register the model; promote it if it wins.

    Args:
        day: the last day of data; the holdout is the `recommend.holdout_days` days up to it.
        compare_implicit: also train the `implicit` library's ALS on the same split
            (default: `recommend.compare_implicit`).
    """
    import mlflow
    import mlflow.spark

    began = time.perf_counter()
    rc = config.recommend
    lake.register_all()
    _require_gold(lake, day, (ACTIVITY, PRODUCTS, RFM_HISTORY))
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
    champion = champion_factors(config, catalog)
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
        mlflow.log_dict({"grid": result.search}, "search.json")
        mlflow.set_tags({"c360.code_version": _code_version(), "c360.train_day": day.isoformat()})
        info = mlflow.spark.log_model(result.model, artifact_path="model", registered_model_name=rc.registered_model)
        ref = registry.ModelRef(rc.registered_model, str(info.registered_model_version), run.info.run_id,
                                {k: str(v) for k, v in result.params.as_dict().items()})
        ndcg = result.metrics["hybrid"]["ndcg"]
        champion_ndcg = result.metrics["champion"]["ndcg"] if "champion" in result.metrics else None
        promoted = champion_ndcg is None or ndcg > champion_ndcg
        mlflow.set_tags({"c360.promoted": str(promoted).lower(),
                         "c360.champion_before": champion.version if champion else ""})
        if promoted:
            registry.promote(ref, ndcg)
        else:
            log.info("%s stays champion: NDCG@%d %.4f vs %.4f", champion.version, k, champion_ndcg, ndcg)
    return TrainReport(
        day=day, run_id=run.info.run_id, model_version=ref.label, promoted=promoted, rank=result.params.rank,
        reg_param=result.params.reg_param, alpha=result.params.alpha, ndcg=ndcg, champion_ndcg=champion_ndcg,
        popular_ndcg=result.metrics["popular"]["ndcg"],
        implicit_ndcg=result.metrics["implicit"]["ndcg"] if "implicit" in result.metrics else None,
        holdout_customers=result.holdout_customers, cold_start_share=result.cold_start_share,
        train_interactions=result.train_interactions, seconds=time.perf_counter() - began,
    )


def score_recommendations(spark: SparkSession, lake: Lake, config: Config, day: dt.date,
                          generated_at: dt.datetime | None = None) -> ScoreReport:
    """Top-N recommendations for every customer as of `day` -> serving.recommendations (run_date = day).

    Without a champion yet (before the first training), customers get content and
    popularity recommendations and model_version is null.
    """
    began = time.perf_counter()
    rc = config.recommend
    generated_at = generated_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    lake.register_all()
    _require_gold(lake, day, (ACTIVITY, PRODUCTS, RFM_HISTORY, CUSTOMERS))
    catalog = load_catalog(lake.read(PRODUCTS), rc.repeatable_categories)
    registry.connect(config)
    factors = champion_factors(config, catalog)
    if factors is None:
        log.warning("no %s champion yet: content and popularity recommendations only", rc.registered_model)
    recent = interactions(lake.read(ACTIVITY), day, rc.weights, rc.half_life_days, rc.history_days).cache()
    segments = segments_as_of(lake.read(RFM_HISTORY), day)
    customers = (
        lake.read(CUSTOMERS)
        .select("customer_key", F.coalesce("consent_personalization", F.lit(False)).alias("personalised"))
        .join(segments, "customer_key", "left")
    )
    recs = score(customers, histories(recent, item_index(spark, catalog)), catalog, factors,
                 popularity(recent, segments, catalog), rc.top_n, rc.new_product_slots)
    rows = recs.select(
        "customer_key", "rank", "product_id", "score", "source", "reason",
        F.lit(factors.version if factors else None).cast("string").alias("model_version"),
        F.lit(generated_at).cast("timestamp").alias("generated_at"),
        F.lit(day).alias("run_date"),
    )
    oldest = day - dt.timedelta(days=rc.retention_days)
    version = lake.replace_where(rows, RECOMMENDATIONS, f"run_date = '{day}' OR run_date < '{oldest}'",
                                 partition_by=["run_date"], metadata=f"score_recommendations {day}")
    recent.unpersist()
    written = lake.read(RECOMMENDATIONS).where(F.col("run_date") == F.lit(day))
    counts = {r.source: r["count"] for r in written.groupBy("source").count().collect()}
    return ScoreReport(
        day=day, model_version=factors.version if factors else None,
        customers=written.select("customer_key").distinct().count(), rows=sum(counts.values()),
        by_source=counts, table_version=version, seconds=time.perf_counter() - began,
    )
