"""Behavioural segments: k-means on standardised behaviour, named from each centroid, stable across retrains.

Input, one row per customer_key with a purchase (from gold.customer_features as of a day):
recency, purchases, log spend, tenure, channel mix (store and app shares), the share of
spend in each catalogue category, email opens and web sessions (`FEATURES` and the
category columns). Spark ML standardises them and fits KMeans for every k of a range;
each k is reported with its silhouette (Spark's ClusteringEvaluator, squared Euclidean)
and Davies-Bouldin index, and the best silhouette wins; a retrain with a champion keeps the
champion's k and starts from its centroids (warm start).

The fitted model is small (the scaler's means and deviations, the centroids, their ids
and names): `SegmentModel` assigns customers to the nearest centroid in numpy, as a
pyfunc and inside Spark's `mapInPandas`. Cluster ids stay stable across retrains: new
centroids are matched to the champion's (Hungarian assignment on the standardised
centroids) and take their ids and names; a cluster with no match takes a new id. Names come from
rules on the centroid against the base's averages ("Lapsed high-spend shoppers",
"Frequent grocery regulars").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

KEY = "customer_key"
FEATURES = ("recency_days", "purchases", "log_spend", "tenure_days", "store_share", "app_share",
            "email_open_rate", "log_web_sessions")
CATEGORY_PREFIX = "category_"


def category_column(category: str) -> str:
    return CATEGORY_PREFIX + "".join(ch if ch.isalnum() else "_" for ch in category.lower())


def behaviour(features: DataFrame, categories: list[str]) -> DataFrame:
    """gold.customer_features -> one row per identified customer with a purchase: `FEATURES` and spend shares.

    A key made of unlinked till receipts only (`identified` false) is nobody's behaviour: left out.
    """
    shares: list[Column] = [F.coalesce(F.col("category_shares")[c], F.lit(0.0)).cast("double")
                            .alias(category_column(c)) for c in categories]
    return features.where((F.col("orders") > 0) & F.col("identified")).select(
        KEY,
        F.col("days_since_last_purchase").cast("double").alias("recency_days"),
        F.col("orders").cast("double").alias("purchases"),
        F.log1p(F.greatest(F.col("net_spend").cast("double"), F.lit(0.0))).alias("log_spend"),
        F.coalesce(F.col("tenure_days"), F.lit(0)).cast("double").alias("tenure_days"),
        F.coalesce(F.col("channel_share_store"), F.lit(0.0)).cast("double").alias("store_share"),
        F.coalesce(F.col("channel_share_app"), F.lit(0.0)).cast("double").alias("app_share"),
        F.coalesce(F.col("email_open_rate_90d"), F.lit(0.0)).cast("double").alias("email_open_rate"),
        F.log1p(F.coalesce(F.col("web_sessions_90d"), F.lit(0)).cast("double")).alias("log_web_sessions"),
        *shares,
    )


@dataclass(frozen=True)
class KScore:
    k: int
    silhouette: float
    davies_bouldin: float


class SegmentModel(mlflow.pyfunc.PythonModel):
    """Standardisation, centroids (standardised), their stable ids and names; nearest-centroid assignment."""

    def __init__(self, columns: list[str], mean: np.ndarray, std: np.ndarray, centroids: np.ndarray,
                 ids: list[int], names: list[str], categories: list[str]) -> None:
        self.columns = list(columns)
        self.categories = list(categories)  # the category columns' categories, in order
        self.mean = np.asarray(mean, dtype=float)
        self.std = np.asarray(std, dtype=float)
        self.centroids = np.asarray(centroids, dtype=float)
        self.ids = list(ids)
        self.names = list(names)

    def standardise(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"the segment input has no column {', '.join(missing)}")
        values = frame[self.columns].to_numpy(dtype=float)
        return (values - self.mean) / np.where(self.std > 0, self.std, 1.0)

    def nearest(self, frame: pd.DataFrame) -> np.ndarray:
        return nearest_centre(self.standardise(frame), self.centroids)

    def assign(self, frame: pd.DataFrame) -> pd.DataFrame:
        """customer_key, cluster_id, cluster_name per row of `frame` (the behaviour columns)."""
        index = self.nearest(frame)
        return pd.DataFrame({KEY: frame[KEY].astype(str).to_numpy(),
                             "cluster_id": np.asarray(self.ids, dtype="int32")[index],
                             "cluster_name": np.asarray(self.names, dtype=object)[index]})

    def predict(self, context, model_input: pd.DataFrame,  # noqa: ARG002 - the pyfunc signature
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        """`assign` of `model_input`."""
        return self.assign(model_input)

    def profile(self) -> pd.DataFrame:
        """Each centroid in the features' own units: one row per cluster id."""
        values = self.centroids * np.where(self.std > 0, self.std, 1.0) + self.mean
        out = pd.DataFrame(values, columns=self.columns)
        out.insert(0, "cluster_name", self.names)
        out.insert(0, "cluster_id", self.ids)
        return out


@dataclass(frozen=True)
class Fit:
    """What `fit` found: centroids per k (standardised), their scores, the scaler, and the warm-started centroids."""

    centroids: dict[int, np.ndarray]
    scores: list[KScore]
    scaler: Any  # the fitted StandardScalerModel
    warm: np.ndarray | None = None
    warm_score: KScore | None = None

    @property
    def warm_start(self) -> bool:
        return self.warm is not None

    def chosen(self) -> tuple[KScore, np.ndarray]:
        """The model to serve: the warm-started fit when there is one, else the k of best silhouette."""
        if self.warm_start:
            return self.warm_score, self.warm
        best = max(self.scores, key=lambda s: s.silhouette)
        return best, self.centroids[best.k]


def fit(rows: DataFrame, columns: list[str], k_values: range | list[int], seed: int,
        max_iter: int = 30, n_init: int = 3, warm_from: SegmentModel | None = None) -> Fit:
    """KMeans for every k on the standardised `columns` of `rows`, and from the champion's centroids.

    Each k is fitted from `n_init` seeds and keeps the fit of least within-cluster cost (one
    k-means|| start can settle in a poor local optimum). With `warm_from` (the champion), one
    more fit starts from its centroids, carried into today's standardised space, and keeps its k:
    a retrain then follows the clusters the champion found as the customers drift, instead of
    landing in another of the many near-equal optima of a base without sharp clusters.
    """
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.evaluation import ClusteringEvaluator
    from pyspark.ml.feature import StandardScaler, VectorAssembler
    from pyspark.mllib.clustering import KMeans as RddKMeans
    from pyspark.mllib.clustering import KMeansModel as RddKMeansModel

    # Each k-means iteration is a Spark job over every partition: the rows (at most a fit sample of
    # customers) are held in one partition per core, not in the many small ones a read leaves.
    cores = rows.sparkSession.sparkContext.defaultParallelism
    assembled = VectorAssembler(inputCols=columns, outputCol="raw").transform(rows.repartition(max(cores, 1)))
    scaler = StandardScaler(inputCol="raw", outputCol="features", withMean=True, withStd=True).fit(assembled)
    data = scaler.transform(assembled).select(KEY, "features").cache()
    fitted: dict[int, np.ndarray] = {}
    scores: list[KScore] = []
    evaluator = ClusteringEvaluator(featuresCol="features", predictionCol="prediction")
    try:
        # Davies-Bouldin on a sample on the driver (Spark ML has no evaluator for it).
        sample = np.array([r.features.toArray() for r in data.sample(fraction=min(1.0, 50_000 / max(data.count(), 1)),
                                                                      seed=seed).select("features").collect()])
        for k in k_values:
            starts = [KMeans(k=k, seed=seed + i, maxIter=max_iter, featuresCol="features").fit(data)
                      for i in range(n_init)]
            model = min(starts, key=lambda m: m.summary.trainingCost)
            centers = np.array(model.clusterCenters())
            scores.append(KScore(k, float(evaluator.evaluate(model.transform(data))),
                                 davies_bouldin(sample, centers)))
            fitted[k] = centers
        warm = warm_score = None
        if warm_from is not None:
            start = _in_space(warm_from.centroids, warm_from.mean, warm_from.std, _space(scaler, columns),
                              warm_from.columns)
            # Spark ML's KMeans takes no initial centroids; its RDD-based twin (the same algorithm) does.
            vectors = data.select("features").rdd.map(lambda r: r.features.toArray())
            warm = np.array(RddKMeans.train(vectors, len(start), maxIterations=max_iter, seed=seed,
                                            initialModel=RddKMeansModel(list(start))).clusterCenters)
            labelled = _labelled(data, warm)
            warm_score = KScore(len(warm), float(evaluator.evaluate(labelled)), davies_bouldin(sample, warm))
    finally:
        data.unpersist()
    return Fit(fitted, scores, scaler, warm, warm_score)


def _labelled(data: DataFrame, centers: np.ndarray) -> DataFrame:
    """`data` (a `features` vector column) with `prediction`: the index of the nearest of `centers`."""
    from pyspark.ml.functions import vector_to_array

    c = [F.array(*(F.lit(float(v)) for v in centre)) for centre in centers]
    x = vector_to_array("features")
    distances = [F.aggregate(F.zip_with(x, ci, lambda a, b: (a - b) * (a - b)), F.lit(0.0), lambda acc, v: acc + v)
                 for ci in c]
    nearest = F.array_position(F.array(*distances), F.array_min(F.array(*distances))) - 1
    return data.withColumn("prediction", nearest.cast("int"))


def _space(scaler, columns: list[str]) -> SegmentModel:
    """A stand-in model holding only `scaler`'s standardisation (the space to carry centroids into)."""
    mean, std = scaler.mean.toArray(), scaler.std.toArray()
    return SegmentModel(columns, mean, std, np.zeros((0, len(columns))), [], [], [])


def davies_bouldin(x: np.ndarray, centers: np.ndarray) -> float:
    """The Davies-Bouldin index of the points `x` assigned to their nearest of `centers`: lower is better."""
    from sklearn.metrics import davies_bouldin_score

    labels = nearest_centre(x, centers)
    if len(np.unique(labels)) < 2:
        return float("inf")
    return float(davies_bouldin_score(x, labels))


def nearest_centre(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """The index of the nearest of `centers` for each row of `x` (squared Euclidean, without an n x k x d array)."""
    distances = (centers ** 2).sum(axis=1)[None, :] - 2.0 * (x @ centers.T)
    return distances.argmin(axis=1)


def stable_ids(new_centroids: np.ndarray, champion: SegmentModel | None) -> list[int]:
    """Ids for `new_centroids` (standardised in the new model's space): the champion's nearest, by a one-to-one match."""
    if champion is None:
        return list(range(len(new_centroids)))
    from scipy.optimize import linear_sum_assignment

    cost = ((new_centroids[:, None, :] - champion.centroids[None, :, :]) ** 2).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    ids = [-1] * len(new_centroids)
    for r, c in zip(rows, cols, strict=True):
        ids[r] = champion.ids[c]
    following = max(champion.ids) + 1
    for i, value in enumerate(ids):
        if value < 0:
            ids[i], following = following, following + 1
    return ids


def name_clusters(profile: pd.DataFrame, base: pd.Series, categories: list[str]) -> list[str]:
    """A name per centroid row of `profile` (features' units) from rules against the `base` averages."""
    names = []
    for _, c in profile.iterrows():
        if c["recency_days"] > 1.6 * base["recency_days"]:
            status = "Lapsed"
        elif c["tenure_days"] < 0.5 * base["tenure_days"]:
            status = "New"
        elif c["purchases"] > 1.4 * base["purchases"]:
            status = "Frequent"
        else:
            status = "Occasional"
        value = "high-spend" if c["log_spend"] > base["log_spend"] + 0.35 else (
            "low-spend" if c["log_spend"] < base["log_spend"] - 0.35 else "")
        shares = {cat: c[category_column(cat)] for cat in categories}
        top = max(shares, key=shares.get) if shares else None
        habit = ""
        if top is not None and shares[top] > max(0.4, 1.8 * base[category_column(top)]):
            habit = f"{top.lower()} regulars"
        elif c["store_share"] > 0.75:
            habit = "store shoppers"
        elif c["store_share"] < 0.25:
            habit = "online shoppers"
        names.append(" ".join(w for w in (status, value, habit or "shoppers") if w))
    return unique_names(names)


def unique_names(names: list[str]) -> list[str]:
    """`names` with a repeated one numbered: "Occasional shoppers", "Occasional shoppers (2)"."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


def silhouette(model: SegmentModel, frame: pd.DataFrame, labels: np.ndarray, sample: int = 20_000,
               seed: int = 42) -> float:
    """The silhouette of `labels` for the rows of `frame` in `model`'s standardised space (a sample of rows)."""
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2:
        return -1.0
    return float(silhouette_score(model.standardise(frame), labels, sample_size=min(sample, len(frame)),
                                  random_state=seed))


def adjusted_rand_index(a: np.ndarray, b: np.ndarray) -> float:
    """The adjusted Rand index of two labellings of the same customers (1: identical partitions)."""
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(a, b))


def categories_of(features: DataFrame) -> list[str]:
    """The categories in any customer's spend shares, sorted."""
    rows = features.select(F.explode(F.map_keys("category_shares")).alias("c")).distinct().collect()
    return sorted(r.c for r in rows if r.c)


def build(centroids: np.ndarray, scaler, columns: list[str], categories: list[str], base: pd.Series,
          champion: SegmentModel | None) -> SegmentModel:
    """The servable model of fitted centroids and scaler: stable ids against `champion`, names from the centroids."""
    centroids = np.asarray(centroids, dtype=float)
    mean, std = scaler.mean.toArray(), scaler.std.toArray()
    matched = _in_space(centroids, mean, std, champion, columns)
    model = SegmentModel(columns, mean, std, centroids, stable_ids(matched, champion), [""] * len(centroids),
                         categories)
    model.names = name_clusters(model.profile(), base, categories)
    if champion is not None:  # a matched cluster keeps its name: what marketers know it by
        kept = dict(zip(champion.ids, champion.names, strict=True))
        model.names = unique_names([kept.get(i, n) for i, n in zip(model.ids, model.names, strict=True)])
    order = np.argsort(model.ids)  # clusters listed by id
    return SegmentModel(columns, mean, std, centroids[order], [model.ids[i] for i in order],
                        [model.names[i] for i in order], categories)


def _in_space(centroids: np.ndarray, mean: np.ndarray, std: np.ndarray, champion: SegmentModel | None,
              columns: list[str] | None = None) -> np.ndarray:
    """`centroids` (standardised by mean/std) in the champion's standardised space, for matching.

    A column the champion did not have is left out; one it had and the new model lacks sits
    at the champion's mean.
    """
    if champion is None:
        return centroids
    raw = pd.DataFrame(centroids * np.where(std > 0, std, 1.0) + mean, columns=columns or champion.columns)
    aligned = raw.reindex(columns=champion.columns)
    aligned = aligned.fillna(pd.Series(champion.mean, index=champion.columns))
    # A column without spread is 0 for every standardised customer (Spark's StandardScaler): so is a centroid.
    spread = champion.std > 0
    return np.where(spread, (aligned.to_numpy() - champion.mean) / np.where(spread, champion.std, 1.0), 0.0)
