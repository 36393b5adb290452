"""The registered lifetime value model: an MLflow pyfunc that scores gold's purchase summary.

What is registered is what serves: the pyfunc holds the fitted BG/NBD and Gamma-Gamma
parameters, takes rows shaped like `gold.customer_purchase_summary` (customer_key,
frequency, recency_days, t_days, monetary_value; times in days) and returns the scores
that `serving.customer_scores` carries. Its predict parameters (horizon, months, discount
rate) default to the values it was trained with and may be overridden per call. Spark
scoring (`jobs/customers/scoring.py`) runs the same `predict` on each Arrow batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mlflow.pyfunc
import pandas as pd

from jobs.customers import clv

INPUT_COLUMNS = ("customer_key", "frequency", "recency_days", "t_days", "monetary_value")
OUTPUT_COLUMNS = ("customer_key", "expected_purchases", "p_alive", "expected_spend", "clv")


@dataclass(frozen=True)
class ScoreParams:
    """What the scores cover: purchases over `horizon_days`, value over `clv_months` discounted yearly."""

    horizon_days: float = 90.0
    clv_months: int = 12
    annual_discount_rate: float = 0.10

    def merged(self, params: dict[str, Any] | None) -> ScoreParams:
        """These values with a predict call's `params` over them."""
        given = params or {}
        return ScoreParams(float(given.get("horizon_days", self.horizon_days)),
                           int(given.get("clv_months", self.clv_months)),
                           float(given.get("annual_discount_rate", self.annual_discount_rate)))


class LifetimeValueModel(mlflow.pyfunc.PythonModel):
    """Fitted purchase and spend parameters; `predict` scores a purchase summary with them."""

    def __init__(self, purchases: clv.PurchaseModel, spend: clv.SpendModel, defaults: ScoreParams) -> None:
        self.purchases = purchases
        self.spend = spend
        self.defaults = defaults

    def predict(self, context, model_input: pd.DataFrame,  # noqa: ARG002 - the pyfunc signature
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Scores per row of `model_input` (the columns of `INPUT_COLUMNS`): those of `OUTPUT_COLUMNS`.

        Raises:
            clv.ClvError: a column is missing, or a value is negative or not a number.
        """
        return self.score(model_input, self.defaults.merged(params))

    def score(self, summary: pd.DataFrame, params: ScoreParams) -> pd.DataFrame:
        missing = [c for c in INPUT_COLUMNS if c not in summary.columns]
        if missing:
            raise clv.ClvError(f"the customer summary has no column {', '.join(missing)} "
                               f"(expected the columns of gold.customer_purchase_summary)")
        unit = self.purchases.time_unit_days
        frame = pd.DataFrame({
            "customer_id": summary["customer_key"].astype(str).to_numpy(),
            "frequency": pd.to_numeric(summary["frequency"], errors="coerce"),
            "recency": pd.to_numeric(summary["recency_days"], errors="coerce") / unit,
            "T": pd.to_numeric(summary["t_days"], errors="coerce") / unit,
            "monetary_value": pd.to_numeric(summary["monetary_value"], errors="coerce"),
        })
        out = clv.predict(frame, self.purchases, self.spend, horizon=params.horizon_days / unit,
                          clv_months=params.clv_months, annual_discount_rate=params.annual_discount_rate)
        return out.rename(columns={"customer_id": "customer_key"})[list(OUTPUT_COLUMNS)]


def signature_params(defaults: ScoreParams) -> dict[str, Any]:
    """The predict parameters the model's signature declares, with their defaults."""
    return {"horizon_days": defaults.horizon_days, "clv_months": defaults.clv_months,
            "annual_discount_rate": defaults.annual_discount_rate}
