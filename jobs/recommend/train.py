"""Training and evaluation on a temporal split, with no I/O beyond the DataFrames handed in.

For a training day D and `holdout_days` K:

    ... history ...  | validation (D-2K, D-K] | holdout (D-K, D]
    search: train on <= D-2K, score the validation purchases: the ALS parameters with the
            best hybrid NDCG@k, then the method to serve (the hybrid, ALS with a popularity
            prior at each blend weight, or popularity alone) with the best NDCG@k
    final:  train on <= D-K with the best parameters, score the holdout purchases

Every method is judged by the lists serving would give (jobs/recommend/hybrid.py): the
same sellable products, with what a customer already bought left out unless its category
is repeatable; `implicit` gets the same rules. The final model never sees the holdout, so
a challenger and the current champion are judged on the same unseen days. The gate: a
chosen method whose holdout NDCG@k is below popularity's on the same holdout is not
served; popularity is. The registered model is the one that was judged: the chosen
method with the final model's item factors (jobs/recommend/served.py).
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

from jobs.common import logs
from jobs.common.config import RecommendConfig
from jobs.recommend import als as als_model
from jobs.recommend.baselines import ImplicitAls
from jobs.recommend.evaluate import ranking_metrics, top_k_lists
from jobs.recommend.hybrid import ALS_POPULAR, HYBRID, POPULARITY, Catalog, Popularity
from jobs.recommend.inputs import histories, popularity, segments_as_of
from jobs.recommend.interactions import interactions, purchases_between, sample_customers
from jobs.recommend.scoring import score
from jobs.recommend.served import ItemFactors, RecommenderModel

log = logging.getLogger(__name__)
EXAMPLE_ROWS = 5
# The key of each servable method in the metrics (MLflow metric names take no "+").
METRIC_KEY = {HYBRID: "hybrid", ALS_POPULAR: "als_popular", POPULARITY: "popular"}


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
    method: str = HYBRID  # the method served
    blend: float = 0.0  # its popularity weight (ALS with a popularity prior)
    gate: str = ""  # what the popularity gate decided
    validation: dict[str, float] = field(default_factory=dict)  # NDCG@k of each candidate on validation

    @property
    def ndcg(self) -> float:
        """The served method's holdout NDCG@k."""
        return self.metrics[METRIC_KEY[self.method]]["ndcg"]


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


def popularity_gate(method: str, blend: float, metrics: dict[str, dict[str, float]],
                    k: int) -> tuple[str, float, str]:
    """(method, blend, verdict): the chosen method, or popularity when the chosen one is below it on the holdout."""
    chosen, popular = metrics[METRIC_KEY[method]]["ndcg"], metrics[METRIC_KEY[POPULARITY]]["ndcg"]
    if chosen >= popular:
        return method, blend, "passed"
    verdict = (f"refused: {method} NDCG@{k} {chosen:.4f} on the holdout is below popularity's {popular:.4f}; "
               "popularity is served")
    log.warning("recommender gate %s", verdict)
    return POPULARITY, 0.0, verdict


def served_model(fold: Fold, catalog: Catalog, factors: ItemFactors | None, rc: RecommendConfig,
                 version: str | None = None) -> RecommenderModel:
    """The served recommender with `factors`, bound to the catalog and the fold's popularity."""
    return RecommenderModel(factors, catalog, fold.popularity, rc.top_n, rc.new_product_slots, version)


def served_lists(fold: Fold, model: RecommenderModel, rc: RecommendConfig) -> DataFrame:
    """(customer_key, skus): the lists `model` serves (top_n, rules included), cut to eval_k."""
    return top_k_lists(score(fold.customers, fold.histories, model), rc.eval_k)


def consumed(fold: Fold, catalog: Catalog) -> dict[str, set[str]]:
    """Per buyer of the fold: the products bought before the cutoff that serving leaves out (not repeatable)."""
    repeatable = dict(zip(catalog.sku, catalog.repeatable, strict=True))
    rows = fold.customers.join(fold.histories, "customer_key").select("customer_key", "skus", "kinds").collect()
    return {r.customer_key: {s for s, kind in zip(r.skus, r.kinds, strict=True)
                             if kind == 2 and not repeatable.get(s, False)} for r in rows}


def _sellable(catalog: Catalog) -> int:
    return int(catalog.sellable.sum())


def grid(rc: RecommendConfig) -> list[als_model.AlsParams]:
    return [
        als_model.AlsParams(rank, reg, alpha, rc.max_iter, rc.seed)
        for rank, reg, alpha in itertools.product(rc.search.ranks, rc.search.reg_params, rc.search.alphas)
    ]


def search(fold: Fold, catalog: Catalog, rc: RecommendConfig) -> tuple[als_model.AlsParams, list[dict], ItemFactors]:
    """Train every grid point on the fold; the best hybrid NDCG@k wins (ties: the first). Returns its factors too."""
    results, best_factors, best_ndcg = [], None, -1.0
    for params in grid(rc):
        began = time.perf_counter()
        model = als_model.fit(fold.interactions, params)
        factors = als_model.item_factors(model, params.alpha, params.reg_param)
        metrics = ranking_metrics(served_lists(fold, served_model(fold, catalog, factors, rc), rc), fold.relevant,
                                  rc.eval_k, _sellable(catalog))
        results.append({**params.as_dict(), "ndcg": metrics["ndcg"], "seconds": time.perf_counter() - began})
        logs.report("train_recommender", f"ALS rank {params.rank} reg {params.reg_param:g} alpha {params.alpha:g}",
                    results[-1]["seconds"], note=f"NDCG@{rc.eval_k} {metrics['ndcg']:.4f}")
        if metrics["ndcg"] > best_ndcg:
            best_factors, best_ndcg = factors, metrics["ndcg"]
    best = max(results, key=lambda r: r["ndcg"])
    return (als_model.AlsParams(best["rank"], best["reg_param"], best["alpha"], rc.max_iter, rc.seed), results,
            best_factors)


def choose_method(fold: Fold, catalog: Catalog, factors: ItemFactors | None, hybrid_ndcg: float | None,
                  rc: RecommendConfig) -> tuple[str, float, dict[str, float]]:
    """The method to serve, by NDCG@k on the validation fold: the hybrid, ALS with a popularity prior at each
    of `recommend.blend_weights`, or popularity alone (ties: the simpler method; among blend weights, the smaller).

    Returns the method, the best blend weight (whichever method won) and every candidate's NDCG@k, keyed
    as its MLflow metric names (`hybrid`, `als_popular_w<w>`, `popular`).
    """
    base = served_model(fold, catalog, factors, rc)
    sellable = _sellable(catalog)

    def ndcg(model: RecommenderModel) -> float:
        return ranking_metrics(served_lists(fold, model, rc), fold.relevant, rc.eval_k, sellable)["ndcg"]

    scores = {METRIC_KEY[POPULARITY]: ndcg(base.using(POPULARITY))}
    candidates = [(scores[METRIC_KEY[POPULARITY]], 2, POPULARITY)]
    best_blend, best_blend_ndcg = 0.0, None
    if factors is not None:
        for w in rc.blend_weights:
            scores[f"{METRIC_KEY[ALS_POPULAR]}_w{w:g}"] = value = ndcg(base.using(ALS_POPULAR, w))
            if best_blend_ndcg is None or value > best_blend_ndcg:
                best_blend, best_blend_ndcg = w, value
        candidates.append((best_blend_ndcg, 1, ALS_POPULAR))
        if hybrid_ndcg is not None:
            scores[METRIC_KEY[HYBRID]] = hybrid_ndcg
            candidates.append((hybrid_ndcg, 0, HYBRID))
    method = max(candidates, key=lambda c: (c[0], c[1]))[2]
    log.info("validation NDCG@%d by method: %s; serving %s", rc.eval_k,
             ", ".join(f"{k} {v:.4f}" for k, v in scores.items()), method)
    return method, best_blend, scores


def implicit_lists(model: ImplicitAls, spark: SparkSession, fold: Fold, catalog: Catalog, k: int) -> DataFrame:
    """`implicit`'s top k for the fold's buyers under serving's rules (sellable, bought-once products left out)."""
    customers = [r.customer_key for r in fold.customers.select("customer_key").collect()]
    unsellable = {str(s) for s, ok in zip(catalog.sku, catalog.sellable, strict=True) if not ok}
    return model.top_k(spark, customers, k, consumed(fold, catalog), unsellable)


def search_implicit(fold: Fold, spark: SparkSession, catalog: Catalog, rc: RecommendConfig) -> als_model.AlsParams:
    """`implicit` gets the same grid on the same validation fold, under the same rules."""
    best, best_ndcg = None, -1.0
    sellable = _sellable(catalog)
    for params in grid(rc):
        model = ImplicitAls(fold.interactions, params).fit()
        ndcg = ranking_metrics(implicit_lists(model, spark, fold, catalog, rc.eval_k), fold.relevant, rc.eval_k,
                               sellable)["ndcg"]
        if ndcg > best_ndcg:
            best, best_ndcg = params, ndcg
    return best


def train_and_evaluate(spark: SparkSession, activity: DataFrame, rfm_history: DataFrame, catalog: Catalog,
                       split: Split, rc: RecommendConfig, champion: RecommenderModel | None = None,
                       compare_implicit: bool = True) -> TrainResult:
    """Search on the validation fold, choose the method there, train up to the cutoff, evaluate on the holdout.

    Methods on the holdout, every one under serving's rules: `hybrid`, `als_popular` (ALS
    with the popularity prior at the chosen blend weight), `als` (ALS alone: blend weight
    0), `popular` (popularity alone), with `compare_implicit` `implicit`, and with
    `champion` the current champion bound to the same holdout inputs (`champion`).
    """
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    candidates = grid(rc)
    validation = make_fold(spark, activity, rfm_history, catalog, split.validation_cutoff, split.cutoff, rc,
                           max_customers=rc.search_max_customers)
    if len(candidates) > 1:
        best, results, validation_factors = search(validation, catalog, rc)
        hybrid_validation = max(r["ndcg"] for r in results)
    else:  # a grid of one point has nothing to choose between: its model is trained once, for the method choice
        best, results = candidates[0], []
        validation_model = als_model.fit(validation.interactions, best)
        validation_factors = als_model.item_factors(validation_model, best.alpha, best.reg_param)
        hybrid_validation = ranking_metrics(
            served_lists(validation, served_model(validation, catalog, validation_factors, rc), rc),
            validation.relevant, rc.eval_k, _sellable(catalog))["ndcg"]
    method, best_blend, on_validation = choose_method(validation, catalog, validation_factors, hybrid_validation, rc)
    blend = best_blend if method == ALS_POPULAR else 0.0
    seconds["search"] = time.perf_counter() - began

    holdout = make_fold(spark, activity, rfm_history, catalog, split.cutoff, split.day, rc)
    began = time.perf_counter()
    model = als_model.fit(holdout.interactions, best)
    seconds["als_train"] = time.perf_counter() - began
    hybrid = served_model(holdout, catalog, als_model.item_factors(model, best.alpha, best.reg_param), rc)
    sellable = _sellable(catalog)

    def judged(served: RecommenderModel) -> dict[str, float]:
        return ranking_metrics(served_lists(holdout, served, rc), holdout.relevant, rc.eval_k, sellable)

    metrics = {}
    began = time.perf_counter()
    metrics["hybrid"] = judged(hybrid)
    seconds["hybrid_score"] = time.perf_counter() - began
    metrics["als_popular"] = judged(hybrid.using(ALS_POPULAR, best_blend))
    metrics["als"] = judged(hybrid.using(ALS_POPULAR, 0.0))
    began = time.perf_counter()
    metrics["popular"] = judged(hybrid.using(POPULARITY))
    seconds["popular_train"] = time.perf_counter() - began
    if champion is not None:
        metrics["champion"] = judged(champion.bound(catalog, holdout.popularity))
    method, blend, gate = popularity_gate(method, blend, metrics, rc.eval_k)
    served = hybrid.using(method, blend)
    if compare_implicit:
        began = time.perf_counter()
        implicit_best = search_implicit(validation, spark, catalog, rc) if len(candidates) > 1 else candidates[0]
        seconds["implicit_search"] = time.perf_counter() - began
        reference = ImplicitAls(holdout.interactions, implicit_best).fit()
        seconds["implicit_train"] = reference.fit_seconds
        metrics["implicit"] = ranking_metrics(implicit_lists(reference, spark, holdout, catalog, rc.eval_k),
                                              holdout.relevant, rc.eval_k, sellable)
        metrics["implicit"]["params"] = implicit_best.as_dict()  # type: ignore[assignment]
    example = (holdout.customers.join(holdout.histories, "customer_key")
               .select("customer_key", "personalised", "rfm_segment", "skus", "strengths", "kinds")
               .orderBy(F.col("rfm_segment").isNull(), "customer_key").limit(EXAMPLE_ROWS).toPandas())
    for column in ("skus", "strengths", "kinds"):
        example[column] = example[column].map(lambda a: [] if a is None else list(a.tolist()))
    result = TrainResult(
        params=best, model=model, served=served, example=example, search=results, metrics=metrics, seconds=seconds,
        holdout_customers=int(metrics["hybrid"]["customers"]), cold_start_share=holdout.cold_share,
        train_interactions=holdout.interactions.count(), method=method, blend=blend, gate=gate,
        validation=on_validation,
    )
    for fold in (f for f in (validation, holdout) if f is not None):
        for frame in (fold.interactions, fold.histories, fold.customers, fold.relevant):
            frame.unpersist()
    return result

