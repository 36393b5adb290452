"""The recommender as registered and served: an MLflow pyfunc around the hybrid core and the ALS item factors.

What `c360_recommender` registers is this model, not the Spark ALS pipeline it was trained
with: the item factors by SKU (with the ALS alpha and regularisation the user step needs),
the catalog and popularity as of training, and the list settings. Its `predict` takes
customers with their interaction histories (SKUs) and returns their top-N rows, the same
call `score_recommendations` makes on every Arrow batch after binding the model to the
day's catalog and popularity (`bound`). It serves one method (`method`: the hybrid, ALS
with a popularity prior of weight `blend`, or popularity alone; jobs/recommend/hybrid.py),
the one training chose. A hybrid without factors (before the first training, or in tests)
serves content and popularity lists only.
"""
from __future__ import annotations

from dataclasses import dataclass

import mlflow.pyfunc
import numpy as np
import pandas as pd

from jobs.recommend.hybrid import HYBRID, Catalog, Factors, History, Popularity, recommend

# Model input: one row per customer.
INPUT_COLUMNS = ("customer_key", "personalised", "rfm_segment", "skus", "strengths", "kinds")
OUTPUT_COLUMNS = ("customer_key", "rank", "product_id", "score", "source", "reason")
MAX_HISTORY = 200


@dataclass(frozen=True)
class ItemFactors:
    """An implicit ALS model's item side keyed by SKU (every product it was trained on)."""

    skus: np.ndarray  # object [n]
    vectors: np.ndarray  # float64 [n, rank]
    alpha: float
    reg_param: float

    def aligned(self, catalog: Catalog, version: str | None = None) -> Factors:
        """The factors in the catalog's order; products the model never saw get a zero row, unknown."""
        position = {s: n for n, s in enumerate(self.skus)}
        at = np.array([position.get(s, -1) for s in catalog.sku], dtype=np.int64)
        known = at >= 0
        items = np.zeros((len(catalog), self.vectors.shape[1]))
        items[known] = self.vectors[at[known]]
        # The user step's Y'Y runs over every product the model was trained on, listed or not.
        return Factors(items=items, known=known, alpha=self.alpha, reg_param=self.reg_param,
                       gram=self.vectors.T @ self.vectors, version=version)


class RecommenderModel(mlflow.pyfunc.PythonModel):
    """The recommender with its ALS item factors and its method, bound to a catalog and popularity."""

    def __init__(self, item_factors: ItemFactors | None, catalog: Catalog, popularity: Popularity, top_n: int,
                 new_product_slots: int, version: str | None = None, method: str = HYBRID, blend: float = 0.0):
        self.method = method
        self.blend = blend
        self.item_factors = item_factors
        self.catalog = catalog
        self.popularity = popularity
        self.top_n = top_n
        self.new_product_slots = new_product_slots
        self.version = version
        self._factors = item_factors.aligned(catalog, version) if item_factors is not None else None

    def bound(self, catalog: Catalog, popularity: Popularity, version: str | None = None) -> RecommenderModel:
        """The same model serving another day's catalog and popularity (`version` names it in the rows)."""
        return RecommenderModel(self.item_factors, catalog, popularity, self.top_n, self.new_product_slots,
                                version or self.version, self.served_method, self.blend_weight)

    def using(self, method: str, blend: float = 0.0) -> RecommenderModel:
        """The same factors, catalog and popularity serving `method`."""
        return RecommenderModel(self.item_factors, self.catalog, self.popularity, self.top_n,
                                self.new_product_slots, self.version, method, blend)

    @property
    def served_method(self) -> str:
        return getattr(self, "method", HYBRID)  # a version registered before methods existed is a hybrid

    @property
    def blend_weight(self) -> float:
        return getattr(self, "blend", 0.0)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Top-N rows for each customer of `model_input` (columns `INPUT_COLUMNS`).

        `skus`, `strengths` and `kinds` (0 viewed, 1 added to the basket, 2 bought) are one
        customer's interactions as parallel lists; SKUs outside the catalog are ignored. A
        customer with `personalised` false gets the non-personalised list whatever the history.
        """
        missing = [c for c in INPUT_COLUMNS if c not in model_input.columns]
        if missing:
            raise ValueError(f"recommender input lacks column(s) {', '.join(missing)}; "
                             f"expected {', '.join(INPUT_COLUMNS)}")
        index = {s: i for i, s in enumerate(self.catalog.sku)}
        items, strengths, kinds = [], [], []
        for skus, strength, kind in zip(model_input["skus"], model_input["strengths"], model_input["kinds"],
                                        strict=True):
            skus = [] if skus is None else list(skus)
            at = [index.get(s, -1) for s in skus]
            keep = [n for n, i in enumerate(at) if i >= 0]
            items.append([at[n] for n in keep])
            strengths.append([float(strength[n]) for n in keep])
            kinds.append([int(kind[n]) for n in keep])
        history = History.from_lists(items, strengths, kinds, max_len=MAX_HISTORY)
        segment_of = {s: i for i, s in enumerate(self.popularity.segments)}
        segment = np.array([segment_of.get(s, -1) for s in model_input["rfm_segment"]], dtype=np.int64)
        personalised = model_input["personalised"].fillna(False).to_numpy(dtype=bool)
        recs = recommend(self.catalog, self._factors, self.popularity, history, segment, personalised, self.top_n,
                         self.new_product_slots, self.served_method, self.blend_weight)
        return pd.DataFrame({
            "customer_key": model_input["customer_key"].to_numpy()[recs.customer],
            "rank": recs.rank.astype(np.int32),
            "product_id": self.catalog.sku[recs.item],
            "score": recs.score.astype(np.float64),
            "source": recs.source,
            "reason": recs.reason,
        })
