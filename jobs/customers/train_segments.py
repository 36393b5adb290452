"""The `train_segments` stage (weekly, MLflow-tracked): cluster the customers, name and profile the clusters.

Table read: gold.customer_features (one row per customer_key as of the day), at the Delta
version current when the run starts. Table written, when the new model becomes champion:
gold.segment_profiles, one row per cluster (cluster_id, cluster_name, customers, share,
mean recency, purchases, spend, tenure, store share, email open rate, the top categories
by share of spend, model_version, as_of_date), replaced whole.

Spark ML KMeans on the standardised behaviour of the customers with a purchase (every
customer up to `customers.segments.fit_max_customers`, else a hash-chosen sample) for every k of
`customers.segments.k_min` .. `k_max`; silhouette and Davies-Bouldin logged for each, the
best silhouette chosen. Once a champion exists, a retrain keeps its k and starts k-means
from its centroids (`customers.segments.keep_k`), so the clusters follow the customers from
week to week. Cluster ids are matched to the champion's; names come from the centroids.
The `champion` alias moves only when, on today's customers, the new model's silhouette
beats the champion's and the two assign the base alike (adjusted Rand index at least
`customers.segments.min_stability`).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from dataclasses import dataclass

import mlflow.pyfunc
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common import models
from jobs.common.lake import Lake
from jobs.common.runtime import Runtime
from jobs.common.stage import Days, StageReport
from jobs.customers import segments
from jobs.customers.gold import FEATURES, SEGMENT_PROFILES, CustomerModelError, require_gold, sample_customers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentsTrainReport(StageReport):
    day: dt.date
    run_id: str
    model_version: str
    promoted: bool
    customers: int
    k: int
    silhouette_by_k: dict[str, float]
    davies_bouldin_by_k: dict[str, float]
    warm_start: bool
    silhouette: float
    champion_silhouette: float | None
    stability: float | None
    clusters: dict[str, int]
    seconds: float


def run(rt: Runtime, days: Days) -> SegmentsTrainReport:
    """Cluster the customers as of the last of `days`; log, register, and promote the model if it wins.

    Raises:
        CustomerModelError: gold.customer_features is missing or not as of the day, or holds
            fewer customers with a purchase than the largest k.
    """
    lake, config, day = rt.lake, rt.config, days.last
    cc, sc = config.customers, config.customers.segments
    began = time.perf_counter()
    lake.register_all()
    require_gold(lake, day, (FEATURES,))
    input_version = lake.version(FEATURES)
    features = lake.read(FEATURES, version=input_version)
    categories = segments.categories_of(features)
    rows = segments.behaviour(features, categories).cache()
    try:
        customers = rows.count()
        if customers < 10 * sc.k_max:
            raise CustomerModelError(f"{FEATURES} as of {day} has {customers} customers with a purchase: too few for "
                                     f"k up to customers.segments.k_max = {sc.k_max}")
        columns = [*segments.FEATURES, *(segments.category_column(c) for c in categories)]
        sample = sample_customers(rows, sc.fit_max_customers, cc.seed)
        experiment_id = models.connect(config, cc.experiment)
        current = models.champion(sc.registered_model)
        champion = models.load_python_model(current) if current else None
        # A champion whose k is outside today's range (the range was changed) is not followed.
        follow = champion if sc.keep_k and champion is not None and sc.k_min <= len(champion.ids) <= sc.k_max else None
        fitted = segments.fit(sample, columns, range(sc.k_min, sc.k_max + 1), sc.seed, sc.max_iter, sc.n_init,
                              warm_from=follow)
        scores = fitted.scores
        best, centroids = fitted.chosen()
        base = sample.agg(*(F.avg(c).alias(c) for c in columns)).toPandas().iloc[0]
        model = segments.build(centroids, fitted.scaler, columns, categories, base, champion)
        frame = rows.toPandas()
    finally:
        rows.unpersist()
    labels = model.assign(frame)["cluster_id"].to_numpy()
    silhouette = segments.silhouette(model, frame, labels, seed=sc.seed)
    champion_silhouette = stability = None
    if champion is not None and set(champion.columns) <= set(frame.columns):
        champion_labels = champion.assign(frame)["cluster_id"].to_numpy()
        champion_silhouette = segments.silhouette(model, frame, champion_labels, seed=sc.seed)
        stability = segments.adjusted_rand_index(labels, champion_labels)
    # A champion built on categories the base no longer has cannot assign today's customers: it is replaced.
    promoted = champion is None or (champion_silhouette is None) or (
        silhouette > champion_silhouette and stability >= sc.min_stability)
    sizes = pd.Series(labels).value_counts()
    clusters = {f"{i} {n}": int(sizes.get(i, 0)) for i, n in zip(model.ids, model.names, strict=True)}
    example = frame[[segments.KEY, *columns]].head(5)

    with mlflow.start_run(experiment_id=experiment_id, run_name=f"segments {day}") as run:
        mlflow.log_params({
            **{f"segments.{k}": v for k, v in dataclasses.asdict(sc).items()}, "k": best.k,
            "train_day": day.isoformat(), "categories": ",".join(categories),
            f"input_version.{FEATURES}": input_version,
        })
        mlflow.log_input(mlflow.data.load_delta(path=lake.path(FEATURES), version=str(input_version), name=FEATURES),
                         context="training")
        mlflow.log_metrics({"customers": customers, "silhouette": silhouette,
                            **{f"silhouette_k{s.k}": s.silhouette for s in scores},
                            **{f"davies_bouldin_k{s.k}": s.davies_bouldin for s in scores},
                            **({"warm_start_silhouette": fitted.warm_score.silhouette,
                                "warm_start_davies_bouldin": fitted.warm_score.davies_bouldin}
                               if fitted.warm_score else {}),
                            **({"champion_silhouette": champion_silhouette, "stability_ari": stability}
                               if stability is not None else {})})
        mlflow.log_table(data=model.profile().assign(customers=[int(sizes.get(i, 0)) for i in model.ids]),
                         artifact_file="segment_profiles.json")
        card = model_card(day, customers, scores, best, fitted.warm_start, model, clusters, silhouette,
                          champion_silhouette, stability, sc.min_stability)
        ref = models.log_pyfunc(model, sc.registered_model, example, model.assign(example),
                                packages=("numpy", "pandas", "scikit-learn", "mlflow"), card=card, day=day,
                                promoted=promoted, champion_before=current)
    if promoted:
        models.promote(ref, f"silhouette {silhouette:.4f}")
        _write_profiles(lake, features, rows_frame=frame, model=model, labels=labels, categories=categories,
                        label=ref.label, day=day)
    else:
        log.info("%s stays champion: silhouette %.4f vs %.4f, stability %.3f", current.label,
                 champion_silhouette, silhouette, stability)
    return SegmentsTrainReport(
        day=day, run_id=run.info.run_id, model_version=ref.label, promoted=promoted, customers=customers, k=best.k,
        silhouette_by_k={str(s.k): s.silhouette for s in scores},
        davies_bouldin_by_k={str(s.k): s.davies_bouldin for s in scores}, warm_start=fitted.warm_start,
        silhouette=silhouette,
        champion_silhouette=champion_silhouette, stability=stability, clusters=clusters,
        seconds=time.perf_counter() - began,
    )


def _write_profiles(lake: Lake, features: DataFrame, rows_frame: pd.DataFrame, model: segments.SegmentModel,
                    labels, categories: list[str], label: str, day: dt.date) -> int:
    """gold.segment_profiles from the champion's assignment of today's customers (one commit, replaced whole)."""
    frame = rows_frame.assign(cluster_id=labels)
    names = dict(zip(model.ids, model.names, strict=True))
    grouped = frame.groupby("cluster_id")
    category_means = grouped[[segments.category_column(c) for c in categories]].mean()
    out = pd.DataFrame({
        "cluster_id": grouped.size().index.astype("int32"),
        "cluster_name": [names[i] for i in grouped.size().index],
        "customers": grouped.size().to_numpy(),
        "share": (grouped.size() / len(frame)).to_numpy(),
        "mean_recency_days": grouped["recency_days"].mean().to_numpy(),
        "mean_purchases": grouped["purchases"].mean().to_numpy(),
        "mean_log_spend": grouped["log_spend"].mean().to_numpy(),
        "mean_tenure_days": grouped["tenure_days"].mean().to_numpy(),
        "mean_store_share": grouped["store_share"].mean().to_numpy(),
        "mean_email_open_rate": grouped["email_open_rate"].mean().to_numpy(),
        "top_categories": [[c for c, _ in sorted(zip(categories, row, strict=True), key=lambda x: -x[1])[:3]]
                           for row in category_means.to_numpy()],
    })
    spark = features.sparkSession
    profiles = spark.createDataFrame(out).select(
        "*", F.lit(label).alias("model_version"), F.lit(day).alias("as_of_date"))
    return lake.overwrite(profiles, SEGMENT_PROFILES, metadata=f"train_segments {day}")


def model_card(day, customers, scores, chosen, warm, model, clusters, silhouette, champion_silhouette, stability,
               min_stability) -> str:
    """A short model card (Markdown): data, the k tried, the clusters, the gate, known limits."""
    tried = "\n".join(f"| {s.k} | {s.silhouette:.4f} | {s.davies_bouldin:.4f} |" for s in scores)
    named = "\n".join(f"| {key} | {n} |" for key, n in clusters.items())
    return f"""# c360_segments: behavioural segments (Spark ML KMeans)

## Data
- gold.customer_features as of {day}: {customers} customers with a purchase; features standardised:
  {', '.join(model.columns)}.

## k tried (silhouette: higher is better; Davies-Bouldin: lower is better)
| k | silhouette | Davies-Bouldin |
|---|---|---|
{tried}

{_chosen(chosen, warm)} On today's customers (scikit-learn's Euclidean silhouette on a
sample of up to 20 000, the same for both models): silhouette {silhouette:.4f}; the champion before
this run {'none' if champion_silhouette is None else f'{champion_silhouette:.4f}'}, adjusted Rand index
between the two assignments {'n/a' if stability is None else f'{stability:.3f}'} (needed: {min_stability}).

## Clusters (id, name: customers)
| cluster | customers |
|---|---|
{named}

## Known limits
- Names come from rules on the centroids against the base's averages; read them with the profile.
- Customers without a purchase are not segmented.
- Ids are kept by matching centroids to the champion's; a cluster with no counterpart takes a new id.
"""


def _chosen(chosen, warm: bool) -> str:
    """How the model's k and centroids were chosen, for the card."""
    if warm:
        return (f"Chosen: k = {chosen.k}, the champion's, fitted from its centroids (silhouette "
                f"{chosen.silhouette:.4f}, Davies-Bouldin {chosen.davies_bouldin:.4f} on the fit sample).")
    return f"Chosen: k = {chosen.k} (best silhouette)."
