"""Training and evaluation on a temporal split, with no I/O beyond the DataFrames handed in.

For a training day D and `holdout_days` K:

    ... history ...  | validation (D-2K, D-K] | holdout (D-K, D]
    search: train on <= D-2K, score the validation purchases, keep the best NDCG@k
    final:  train on <= D-K with the best parameters, score the holdout purchases

The final model never sees the holdout, so a challenger and the current champion are
judged on the same unseen days; the registered model is the one that was judged: the
hybrid with the final model's item factors (jobs/recommend/served.py).
"""
from __future__ import annotations

import datetime as dt
import itertools
import logging
import time
from dataclasses import dataclass, field

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import RecommendConfig
from jobs.recommend import als as als_model
from jobs.recommend.baselines import ImplicitAls, popular_lists
from jobs.recommend.evaluate import ranking_metrics, top_k_lists
from jobs.recommend.hybrid import Catalog, Popularity
from jobs.recommend.inputs import histories, popularity, segments_as_of
from jobs.recommend.interactions import interactions, purchases_between, sample_customers
from jobs.recommend.scoring import score
from jobs.recommend.served import ItemFactors, RecommenderModel

log = logging.getLogger(__name__)
EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class Split:
    day: dt.date  # the training day: the last day with data
    cutoff: dt.date  # the last day the final model trains on
    validation_cutoff: dt.date  # the last day the search trains on

    @staticmethod
    def of(day: dt.date, holdout_days: int) -> Split:
        return Split(day, day - dt.timedelta(days=holdout_days), day - dt.timedelta(days=2 * holdout_days))


@dataclass
class Fold:
    """Everything known at a cutoff, and what the customers bought in the days after it."""

    cutoff: dt.date
    interactions: DataFrame
    histories: DataFrame
    customers: DataFrame  # customer_key, personalised, rfm_segment: the buyers after the cutoff
    relevant: DataFrame  # customer_key, sku
    popularity: Popularity
    cold_share: float = 0.0


@dataclass
class TrainResult:
    params: als_model.AlsParams
    model: PipelineModel
    served: RecommenderModel  # the hybrid with the final item factors, bound to the holdout's inputs
    example: object = None  # pandas: a few holdout customers in the served model's input shape
    search: list[dict] = field(default_factory=list)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    holdout_customers: int = 0
    cold_start_share: float = 0.0
    train_interactions: int = 0


def make_fold(spark: SparkSession, activity: DataFrame, rfm_history: DataFrame, catalog: Catalog,
              cutoff: dt.date, until: dt.date, rc: RecommendConfig, max_customers: int | None = None) -> Fold:
    """The training interactions up to `cutoff` and the purchases in (cutoff, until]."""
    train = interactions(activity, cutoff, rc.weights, rc.half_life_days, rc.history_days)
    relevant = purchases_between(activity, cutoff, until)
    if max_customers is not None:
        customers = train.select("customer_key").distinct().count()
        train = sample_customers(train, max_customers, customers)
        relevant = sample_customers(relevant, max_customers, customers)
    train = train.cache()
    relevant = relevant.cache()
    segments = segments_as_of(rfm_history, cutoff)
    buyers = (
        relevant.select("customer_key").distinct()
        .join(segments, "customer_key", "left")
        .withColumn("personalised", F.lit(True))
    )
    fold = Fold(cutoff, train, histories(train).cache(), buyers.cache(), relevant,
                popularity(train, segments, catalog))
    total = fold.customers.count()
    warm = fold.customers.join(train.select("customer_key").distinct(), "customer_key").count()
    fold.cold_share = (total - warm) / total if total else 0.0
    return fold


def served_model(fold: Fold, catalog: Catalog, factors: ItemFactors | None, rc: RecommendConfig,
                 version: str | None = None) -> RecommenderModel:
    """The served recommender with `factors`, bound to the catalog and the fold's popularity."""
    return RecommenderModel(factors, catalog, fold.popularity, rc.top_n, rc.new_product_slots, version)


def hybrid_lists(fold: Fold, model: RecommenderModel, rc: RecommendConfig) -> DataFrame:
    """(customer_key, skus): the served lists (top_n, rules included), cut to eval_k."""
    return top_k_lists(score(fold.customers, fold.histories, model), rc.eval_k)


def _sellable(catalog: Catalog) -> int:
    return int(catalog.sellable.sum())


def grid(rc: RecommendConfig) -> list[als_model.AlsParams]:
    return [
        als_model.AlsParams(rank, reg, alpha, rc.max_iter, rc.seed)
        for rank, reg, alpha in itertools.product(rc.search.ranks, rc.search.reg_params, rc.search.alphas)
    ]


def search(fold: Fold, catalog: Catalog, rc: RecommendConfig) -> tuple[als_model.AlsParams, list[dict]]:
    """Train every grid point on the fold; the best hybrid NDCG@k wins (ties: the first)."""
    results = []
    for params in grid(rc):
        began = time.perf_counter()
        model = als_model.fit(fold.interactions, params)
        served = served_model(fold, catalog, als_model.item_factors(model, params.alpha, params.reg_param), rc)
        metrics = ranking_metrics(hybrid_lists(fold, served, rc), fold.relevant, rc.eval_k, _sellable(catalog))
        results.append({**params.as_dict(), "ndcg": metrics["ndcg"], "seconds": time.perf_counter() - began})
        log.info("search %s: NDCG@%d %.4f", params, rc.eval_k, metrics["ndcg"])
    best = max(results, key=lambda r: r["ndcg"])
    return als_model.AlsParams(best["rank"], best["reg_param"], best["alpha"], rc.max_iter, rc.seed), results


def search_implicit(fold: Fold, spark: SparkSession, rc: RecommendConfig, sellable: int) -> als_model.AlsParams:
    """`implicit` gets the same grid on the same validation fold."""
    best, best_ndcg = None, -1.0
    customers = [r.customer_key for r in fold.customers.select("customer_key").collect()]
    for params in grid(rc):
        model = ImplicitAls(fold.interactions, params).fit()
        ndcg = ranking_metrics(model.top_k(spark, customers, rc.eval_k), fold.relevant, rc.eval_k, sellable)["ndcg"]
        if ndcg > best_ndcg:
            best, best_ndcg = params, ndcg
    return best


def train_and_evaluate(spark: SparkSession, activity: DataFrame, rfm_history: DataFrame, catalog: Catalog,
                       split: Split, rc: RecommendConfig, champion: RecommenderModel | None = None,
                       compare_implicit: bool = True) -> TrainResult:
    """Search on the validation fold, train on everything up to the cutoff, evaluate on the holdout.

    Methods on the holdout: `hybrid` (what is served), `als` (Spark ALS's own top k, no
    rules), `popular` (the most popular products), with `compare_implicit` `implicit`, and
    with `champion` the current champion bound to the same holdout inputs (`champion`).
    """
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    candidates = grid(rc)
    if len(candidates) > 1:
        validation = make_fold(spark, activity, rfm_history, catalog, split.validation_cutoff, split.cutoff, rc,
                               max_customers=rc.search_max_customers)
        best, results = search(validation, catalog, rc)
    else:  # a grid of one point has nothing to choose between: no validation training
        validation, best, results = None, candidates[0], []
    seconds["search"] = time.perf_counter() - began

    holdout = make_fold(spark, activity, rfm_history, catalog, split.cutoff, split.day, rc)
    began = time.perf_counter()
    model = als_model.fit(holdout.interactions, best)
    seconds["als_train"] = time.perf_counter() - began
    served = served_model(holdout, catalog, als_model.item_factors(model, best.alpha, best.reg_param), rc)
    sellable = _sellable(catalog)

    metrics = {}
    began = time.perf_counter()
    metrics["hybrid"] = ranking_metrics(hybrid_lists(holdout, served, rc), holdout.relevant, rc.eval_k, sellable)
    seconds["hybrid_score"] = time.perf_counter() - began
    if champion is not None:
        metrics["champion"] = ranking_metrics(
            hybrid_lists(holdout, champion.bound(catalog, holdout.popularity), rc), holdout.relevant, rc.eval_k,
            sellable)
    metrics["als"] = ranking_metrics(als_model.plain_top_k(model, holdout.customers, rc.eval_k), holdout.relevant,
                                     rc.eval_k, sellable)
    began = time.perf_counter()
    popular = popular_lists(holdout.customers, catalog, holdout.popularity, rc.eval_k)
    metrics["popular"] = ranking_metrics(popular, holdout.relevant, rc.eval_k, sellable)
    seconds["popular_train"] = time.perf_counter() - began
    if compare_implicit:
        began = time.perf_counter()
        implicit_best = search_implicit(validation, spark, rc, sellable) if validation is not None else candidates[0]
        seconds["implicit_search"] = time.perf_counter() - began
        reference = ImplicitAls(holdout.interactions, implicit_best).fit()
        seconds["implicit_train"] = reference.fit_seconds
        customers = [r.customer_key for r in holdout.customers.select("customer_key").collect()]
        metrics["implicit"] = ranking_metrics(reference.top_k(spark, customers, rc.eval_k), holdout.relevant,
                                              rc.eval_k, sellable)
        metrics["implicit"]["params"] = implicit_best.as_dict()  # type: ignore[assignment]
    example = (holdout.customers.join(holdout.histories, "customer_key")
               .select("customer_key", "personalised", "rfm_segment", "skus", "strengths", "kinds")
               .orderBy(F.col("rfm_segment").isNull(), "customer_key").limit(EXAMPLE_ROWS).toPandas())
    for column in ("skus", "strengths", "kinds"):
        example[column] = example[column].map(lambda a: [] if a is None else list(a.tolist()))
    result = TrainResult(
        params=best, model=model, served=served, example=example, search=results, metrics=metrics, seconds=seconds,
        holdout_customers=int(metrics["hybrid"]["customers"]), cold_start_share=holdout.cold_share,
        train_interactions=holdout.interactions.count(),
    )
    for fold in (f for f in (validation, holdout) if f is not None):
        for frame in (fold.interactions, fold.histories, fold.customers, fold.relevant):
            frame.unpersist()
    return result

