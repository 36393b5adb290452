"""Spark ALS on implicit feedback: interactions -> a PipelineModel, its item factors, its plain top-k.

The model is a Spark ML PipelineModel of three stages: customer_key -> user index,
sku -> item index (StringIndexers, alphabetical, so the same data gives the same
indexes) and the ALSModel (implicit preferences, confidence 1 + alpha * strength).
Training keeps only its item side (`item_factors`): that is what the registered
recommender (jobs/recommend/served.py) serves with.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import StringIndexer
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame

from jobs.recommend.served import ItemFactors


@dataclass(frozen=True)
class AlsParams:
    rank: int
    reg_param: float
    alpha: float
    max_iter: int
    seed: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def fit(interactions: DataFrame, params: AlsParams) -> PipelineModel:
    """Train on (customer_key, sku, strength) rows; one row per pair, strength > 0."""
    pipeline = Pipeline(stages=[
        StringIndexer(inputCol="customer_key", outputCol="user", stringOrderType="alphabetAsc",
                      handleInvalid="skip"),
        StringIndexer(inputCol="sku", outputCol="item", stringOrderType="alphabetAsc", handleInvalid="skip"),
        ALS(
            userCol="user", itemCol="item", ratingCol="strength", implicitPrefs=True,
            rank=params.rank, regParam=params.reg_param, alpha=params.alpha, maxIter=params.max_iter,
            seed=params.seed, coldStartStrategy="drop", nonnegative=False,
        ),
    ])
    return pipeline.fit(interactions.select("customer_key", "sku", "strength"))


def als_stage(model: PipelineModel) -> ALSModel:
    return model.stages[2]


def item_factors(model: PipelineModel, alpha: float, reg_param: float) -> ItemFactors:
    """The model's item side keyed by SKU: what the registered recommender keeps of it."""
    labels = model.stages[1].labels
    rows = als_stage(model).itemFactors.collect()
    vectors = np.array([r.features for r in rows], dtype=np.float64).reshape(len(rows), als_stage(model).rank)
    skus = np.array([labels[r.id] for r in rows], dtype=object)
    return ItemFactors(skus=skus, vectors=vectors, alpha=alpha, reg_param=reg_param)


def user_factors(model: PipelineModel) -> DataFrame:
    """(customer_key, features): the trained user vectors."""
    labels = model.stages[0].labels
    users = als_stage(model).userFactors.sparkSession.createDataFrame(
        [(i, k) for i, k in enumerate(labels)], "id int, customer_key string")
    return als_stage(model).userFactors.join(users, "id").select("customer_key", "features")
