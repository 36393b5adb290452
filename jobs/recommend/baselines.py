"""The baseline from outside: the `implicit` library's ALS on the same split.

`implicit` trains on the driver (a scipy CSR matrix of the training interactions): it is
the single-machine reference the Spark model is compared with, not part of the pipeline.
"""
from __future__ import annotations

import time

import numpy as np
from pyspark.sql import DataFrame, SparkSession

from jobs.common.errors import C360Error
from jobs.recommend.als import AlsParams


class ImplicitAls:
    """`implicit`'s CPU ALS fitted on (customer_key, sku, strength) rows collected to the driver."""

    def __init__(self, train: DataFrame, params: AlsParams):
        import scipy.sparse as sp

        rows = train.select("customer_key", "sku", "strength").toPandas()
        self.users = {k: i for i, k in enumerate(sorted(rows["customer_key"].unique()))}
        self.skus = np.array(sorted(rows["sku"].unique()), dtype=object)
        item_of = {s: i for i, s in enumerate(self.skus)}
        self.matrix = sp.csr_matrix(
            (rows["strength"].to_numpy(dtype=np.float32),
             (rows["customer_key"].map(self.users).to_numpy(), rows["sku"].map(item_of).to_numpy())),
            shape=(len(self.users), len(self.skus)),
        )
        self.params = params
        self.fit_seconds = 0.0
        self.model = None

    def fit(self) -> ImplicitAls:
        try:
            from implicit.cpu.als import AlternatingLeastSquares
            from threadpoolctl import threadpool_limits
        except ImportError:
            raise C360Error(
                "the `implicit` comparison (recommend.compare_implicit, --implicit) needs the bench extra: "
                "pip install -e '.[bench]' (make install installs it)"
            ) from None

        began = time.perf_counter()
        # implicit parallelises itself; a multi-threaded BLAS underneath only oversubscribes.
        with threadpool_limits(1, "blas"):
            self.model = AlternatingLeastSquares(
                factors=self.params.rank, regularization=self.params.reg_param, alpha=self.params.alpha,
                iterations=self.params.max_iter, random_state=self.params.seed, calculate_training_loss=False,
            )
            self.model.fit(self.matrix, show_progress=False)
        self.fit_seconds = time.perf_counter() - began
        return self

    def top_k(self, spark: SparkSession, customer_keys: list[str], k: int,
              consumed: dict[str, set[str]] | None = None, unsellable: set[str] | frozenset = frozenset()) -> DataFrame:
        """(customer_key, skus) for the customers it was trained on, under serving's rules.

        implicit leaves out every product a customer interacted with by default; here that
        would drop what customers viewed and then bought, so it ranks them all except what
        serving leaves out: `unsellable` products and each customer's `consumed` ones.
        """
        from threadpoolctl import threadpool_limits

        consumed = consumed or {}
        known = [c for c in customer_keys if c in self.users]
        out = []
        if known and self.model is not None:
            ids = np.array([self.users[c] for c in known])
            hidden = np.array([i for i, s in enumerate(self.skus) if s in unsellable], dtype=np.int64)
            extra = max((len(consumed.get(c, ())) for c in known), default=0)
            n = min(k + extra, len(self.skus) - len(hidden))
            with threadpool_limits(1, "blas"):
                items, _ = self.model.recommend(ids, self.matrix[ids], N=n, filter_already_liked_items=False,
                                                filter_items=hidden if len(hidden) else None)
            for c, row in zip(known, items, strict=True):
                skip = consumed.get(c, set())
                out.append((c, [str(self.skus[i]) for i in row if i >= 0 and self.skus[i] not in skip][:k]))
        return spark.createDataFrame(out, "customer_key string, skus array<string>")
