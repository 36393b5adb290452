"""Churn propensity: a calibrated gradient-boosted classifier whose drivers read as sentences.

Examples are customers active at a cutoff (a purchase in the year before it), one row
each (gold.customer_churn_examples), with the features of `FEATURES` as of the cutoff
and the label `churned`: no purchase in the `horizon` days after it. Two features,
P(alive) and the expected purchases (`PATTERN`), come from BG/NBD parameters fitted on
the training cutoff's summary, which the model keeps. A model trains on the examples of
one cutoff and is judged on those of a later cutoff (a temporal split: train at t - 2H,
judge at t - H, score at t), against two baselines on the same examples: the days since
the last purchase, and 1 - P(alive).

The classifier is LightGBM; its probabilities are calibrated by isotonic regression on
a slice of the training customers it did not fit on (chosen by a hash of the customer
key). A base too small for that slice to hold enough customers of each class is
calibrated on out-of-fold scores instead (cross-fitting: each fold scored by a booster
trained on the others), and the served booster trains on every customer. Per customer
the model gives the calibrated probability, a risk band, and the three features pushing
the risk up most (LightGBM's exact TreeSHAP contributions, features of one kind summed)
as a marketer reads them: "no purchase for 74 days", "email opens fell 80 %".
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from jobs.common.config import ChurnConfig
from jobs.customers import clv

KEY = "customer_key"
LABEL = "churned"


@dataclass(frozen=True)
class Driver:
    """Features of one kind, and how one customer's values read (`words(row)`)."""

    name: str
    features: tuple[str, ...]
    words: Callable[[Mapping[str, float]], str]


def _pct_change(now: float, before: float) -> float:
    return 100.0 * (now - before) / before


def _trend(what: str, one: str, now_col: str, before_col: str, days: int) -> Callable[[Mapping[str, float]], str]:
    """How a count of `what` (one of them: `one`) moved between the window before and the last one."""
    def words(row: Mapping[str, float]) -> str:
        now, before = float(row[now_col]), float(row[before_col])
        if before > 0 and now < before:
            return f"{what} fell {-_pct_change(now, before):.0f} %"
        if now == 0:
            return f"no {what} in {days} days"
        if before > 0 and now > before:
            return f"{what} rose {_pct_change(now, before):.0f} %"
        return f"{_count(now, one, what)} in {days} days"
    return words


def _count(n: float, noun: str, plural: str | None = None) -> str:
    """"1 purchase", "3 purchases": a whole count with its noun."""
    return f"{n:.0f} {noun if round(n) == 1 else plural or noun + 's'}"


def _money(value: float) -> str:
    return f"£{value:,.0f}"


DRIVERS: tuple[Driver, ...] = (
    Driver("recency", ("recency_days",), lambda r: f"no purchase for {_count(r['recency_days'], 'day')}"),
    Driver("purchases", ("purchases_90d", "purchases_prev_90d"),
           lambda r: (f"purchases fell from {r['purchases_prev_90d']:.0f} to {r['purchases_90d']:.0f} a quarter"
                      if r["purchases_90d"] < r["purchases_prev_90d"]
                      else f"{_count(r['purchases_90d'], 'purchase')} in the last 90 days")),
    Driver("frequency", ("frequency",), lambda r: f"{_count(r['frequency'], 'repeat purchase')} in all"),
    Driver("tenure", ("tenure_days",), lambda r: f"a customer for {_count(r['tenure_days'], 'day')}"),
    Driver("spend", ("spend_90d",), lambda r: f"spent {_money(r['spend_90d'])} in the last 90 days"),
    Driver("basket", ("monetary_value",), lambda r: f"average purchase {_money(r['monetary_value'])}"),
    Driver("returns", ("refund_share",), lambda r: f"returned {100 * r['refund_share']:.0f} % of spend"),
    Driver("channel", ("store_share",), lambda r: f"{100 * r['store_share']:.0f} % of purchases in store"),
    Driver("range", ("categories_365d",),
           lambda r: f"bought from {_count(r['categories_365d'], 'category', 'categories')} in a year"),
    Driver("email", ("email_opens_30d", "email_opens_prev_30d"),
           _trend("email opens", "email open", "email_opens_30d", "email_opens_prev_30d", 30)),
    Driver("web", ("web_sessions_30d", "web_sessions_prev_30d"),
           _trend("site visits", "site visit", "web_sessions_30d", "web_sessions_prev_30d", 30)),
    Driver("pattern", ("p_alive", "expected_purchases"),
           lambda r: f"buying pattern says {100 * (1 - r['p_alive']):.0f} % likely to have lapsed"),
)
FEATURES: tuple[str, ...] = tuple(f for d in DRIVERS for f in d.features)
# Computed by the model from the purchase summary columns with its BG/NBD parameters.
PATTERN = ("p_alive", "expected_purchases")
# What the model takes: gold.customer_churn_examples' columns.
INPUT_COLUMNS: tuple[str, ...] = (KEY, "purchase_span_days", *(f for f in FEATURES if f not in PATTERN))
RISK_BANDS = ("low", "medium", "high")


class ChurnError(ValueError):
    """Examples the churn model cannot learn from or score."""


def check_examples(examples: pd.DataFrame, purchases: clv.PurchaseModel, horizon_days: float,
                   labelled: bool = True) -> pd.DataFrame:
    """The key, the features as floats (and the label as 0/1), after checking them.

    The purchase pattern features (`PATTERN`) come from `purchases` (BG/NBD) applied to
    frequency, purchase_span_days and tenure_days: P(alive) and the purchases expected
    in `horizon_days`.

    Raises:
        ChurnError: a column is missing, a feature is not a number, or the label is missing.
    """
    needed = (*INPUT_COLUMNS, *((LABEL,) if labelled else ()))
    missing = [c for c in needed if c not in examples.columns]
    if missing:
        raise ChurnError(f"the churn examples have no column {', '.join(missing)}")
    out = pd.DataFrame({KEY: examples[KEY].astype(str).to_numpy()})
    for column in INPUT_COLUMNS[1:]:
        values = pd.to_numeric(examples[column], errors="coerce").astype("float64")
        if values.isna().any():
            raise ChurnError(f"churn feature {column}: {int(values.isna().sum())} value(s) missing or not a number, "
                             f"e.g. customer {examples.loc[values.isna().to_numpy(), KEY].iloc[0]}")
        out[column] = values.to_numpy()
    unit = purchases.time_unit_days
    pattern = clv.predict(pd.DataFrame({"customer_id": out[KEY], "frequency": out["frequency"],
                                        "recency": out["purchase_span_days"] / unit, "T": out["tenure_days"] / unit}),
                          purchases, horizon=horizon_days / unit)
    out["p_alive"] = pattern["p_alive"].to_numpy()
    out["expected_purchases"] = pattern["expected_purchases"].to_numpy()
    if labelled:
        label = examples[LABEL]
        if label.isna().any():
            raise ChurnError(f"churn label {LABEL}: {int(label.isna().sum())} value(s) missing")
        out[LABEL] = label.astype(bool).astype(int).to_numpy()
    return out


class ChurnModel(mlflow.pyfunc.PythonModel):
    """BG/NBD parameters, a fitted booster (as LightGBM's model text), its isotonic calibration, threshold, bands.

    Registered as it is (an MLflow pyfunc): `predict` takes rows of
    gold.customer_churn_features (or of the examples) and returns what serving.customer_scores carries.
    """

    calibration = "held-out slice"  # a model pickled before the attribute existed calibrated this way

    def __init__(self, purchases: clv.PurchaseModel, booster_text: str, calibration_x: np.ndarray,
                 calibration_y: np.ndarray, threshold: float, params: ChurnConfig,
                 calibration: str = "held-out slice") -> None:
        self.purchases = purchases
        self.calibration = calibration  # how the isotonic map was fitted: "held-out slice" or "cross-fitted"
        self.booster_text = booster_text
        self.calibration_x = calibration_x
        self.calibration_y = calibration_y
        self.threshold = threshold
        self.params = params
        self._booster = None

    def __getstate__(self) -> dict[str, Any]:
        # The booster is rebuilt from its text after unpickling (on an executor, or from MLflow).
        return {**self.__dict__, "_booster": None}

    @property
    def booster(self):
        if self._booster is None:
            import lightgbm as lgb

            self._booster = lgb.Booster(model_str=self.booster_text)
        return self._booster

    def check(self, examples: pd.DataFrame, labelled: bool = True) -> pd.DataFrame:
        """`examples` checked, with the purchase pattern features of this model's BG/NBD parameters."""
        return check_examples(examples, self.purchases, self.params.horizon_days, labelled)

    def raw(self, frame: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(frame[list(FEATURES)].to_numpy(), raw_score=True)

    def probability(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated churn probabilities of checked examples."""
        return np.interp(self.raw(frame), self.calibration_x, self.calibration_y)

    def band(self, probability: np.ndarray) -> np.ndarray:
        p = self.params
        return np.where(probability >= p.high_from, "high", np.where(probability >= p.medium_from, "medium", "low"))

    def drivers(self, frame: pd.DataFrame, top: int = 3) -> list[list[str]]:
        """Per customer, up to `top` sentences for the kinds of feature pushing the risk up most."""
        contributions = self.booster.predict(frame[list(FEATURES)].to_numpy(), pred_contrib=True)[:, :-1]
        index = {f: i for i, f in enumerate(FEATURES)}
        by_driver = np.column_stack([contributions[:, [index[f] for f in d.features]].sum(axis=1) for d in DRIVERS])
        order = np.argsort(-by_driver, axis=1)[:, :top]
        out = []
        # A dict per row: a pandas Series per row (iterrows) cost three times as much.
        for i, row in enumerate(frame[list(FEATURES)].to_dict("records")):
            out.append([DRIVERS[j].words(row) for j in order[i]
                        if by_driver[i, j] >= self.params.min_driver_contribution])
        return out

    def predict(self, context, model_input: pd.DataFrame,  # noqa: ARG002 - the pyfunc signature
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        """`score` of `model_input`."""
        return self.score(model_input)

    def score(self, examples: pd.DataFrame) -> pd.DataFrame:
        """customer_key, churn_probability, churn_risk_band, churn_drivers for unlabelled examples."""
        frame = self.check(examples, labelled=False)
        probability = self.probability(frame)
        return pd.DataFrame({KEY: frame[KEY], "churn_probability": probability,
                             "churn_risk_band": self.band(probability), "churn_drivers": self.drivers(frame)})


def calibration_slice(keys: pd.Series, share: float, seed: int) -> np.ndarray:
    """True for about `share` of the customers, chosen by a hash of their key (the same for the same seed)."""
    return _buckets(keys, seed) < share


def _buckets(keys: pd.Series, seed: int) -> np.ndarray:
    """A number in [0, 1) per key from a hash of it (the same for the same seed)."""
    def bucket(key: str) -> float:
        digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64
    return np.array([bucket(k) for k in keys], dtype=float)


def train(examples: pd.DataFrame, purchases: clv.PurchaseModel, params: ChurnConfig | None = None) -> ChurnModel:
    """LightGBM on most of `examples`, calibrated (isotonic) on the rest; the threshold maximises F1 there.

    When the held-out slice would hold fewer than `params.min_calibration_class` customers of
    either class, the booster trains on all of `examples` and the calibration and threshold come
    from out-of-fold scores of `params.calibration_folds` hash-chosen folds (fewer when a class
    has fewer customers).

    Args:
        examples: the labelled examples of one cutoff (the columns of `INPUT_COLUMNS` and `churned`).
        purchases: BG/NBD parameters fitted on data up to that cutoff (the pattern features).
        params: the model's settings (default: `ChurnConfig()`).

    Raises:
        ChurnError: the examples lack a column, or hold fewer than two customers of a class.
    """
    from sklearn.isotonic import IsotonicRegression
    from sklearn.metrics import precision_recall_curve

    params = params or ChurnConfig()
    data = check_examples(examples, purchases, params.horizon_days)
    churned = int(data[LABEL].astype(bool).sum())
    counts = (len(data) - churned, churned)
    if min(counts) == 0:
        raise ChurnError(f"the churn examples hold one class only ({len(data)} customers, "
                         f"{churned} churned): the model needs both")
    buckets = _buckets(data[KEY], params.seed)
    held = buckets < params.calibration_share
    held_churned = int(data.loc[held, LABEL].astype(bool).sum())
    if min(held_churned, int(held.sum()) - held_churned) >= params.min_calibration_class:
        booster = _booster(data[~held], params)
        labels = data.loc[held, LABEL].to_numpy()
        raw = booster.predict(data.loc[held, list(FEATURES)].to_numpy(), raw_score=True)
        method = "held-out slice"
    else:
        if params.calibration_folds < 2:
            raise ChurnError(f"customers.churn.calibration_folds = {params.calibration_folds}: cross-fitting "
                             f"needs at least 2 folds")
        folds = min(params.calibration_folds, *counts)  # a fold per customer of the rarer class at most
        if folds < 2:
            raise ChurnError(f"the churn examples are too few to fit and calibrate: {len(data)} customers, "
                             f"{churned} churned and {counts[0]} not; each class needs at least 2")
        fold = _stratified_folds(data[LABEL].astype(bool).to_numpy(), buckets, folds)
        raw = np.zeros(len(data))
        for f in range(folds):
            out = fold == f
            if out.any():
                raw[out] = _booster(data[~out], params).predict(data.loc[out, list(FEATURES)].to_numpy(),
                                                                raw_score=True)
        booster = _booster(data, params)
        labels = data[LABEL].to_numpy()
        method = "cross-fitted"
    isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, labels)
    x = np.asarray(isotonic.X_thresholds_, dtype=float)
    y = np.asarray(isotonic.y_thresholds_, dtype=float)
    precision, recall, thresholds = precision_recall_curve(labels, np.interp(raw, x, y))
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    threshold = float(thresholds[int(np.argmax(f1[:-1]))]) if len(thresholds) else 0.5
    return ChurnModel(purchases, booster.model_to_string(), x, y, threshold, params, calibration=method)


def _stratified_folds(labels: np.ndarray, buckets: np.ndarray, folds: int) -> np.ndarray:
    """A fold per customer: each class ordered by its hash bucket and dealt round the folds, so every
    fold holds customers of both classes (given at least `folds` of each) and so does every fold's rest."""
    fold = np.zeros(len(labels), dtype=int)
    for value in (False, True):
        members = np.flatnonzero(labels == value)
        fold[members[np.argsort(buckets[members], kind="stable")]] = np.arange(len(members)) % folds
    return fold


def _booster(data: pd.DataFrame, params: ChurnConfig):
    """LightGBM (binary) on the `FEATURES` and `LABEL` of `data`."""
    import lightgbm as lgb

    return lgb.train(
        {"objective": "binary", "num_leaves": params.num_leaves, "learning_rate": params.learning_rate,
         "min_child_samples": params.min_child_samples, "seed": params.seed, "deterministic": True,
         "force_row_wise": True, "num_threads": 2, "verbose": -1},
        lgb.Dataset(data[list(FEATURES)].to_numpy(), label=data[LABEL].to_numpy(), feature_name=list(FEATURES)),
        num_boost_round=params.rounds,
    )


def evaluate(model: ChurnModel, examples: pd.DataFrame, bins: int = 10) -> dict[str, Any]:
    """`model` judged on labelled `examples` (a later cutoff than its training), with the two baselines.

    Returns:
        customers, churn_rate, roc_auc, pr_auc, f1 / precision / recall at the model's
        threshold, the baselines' ROC and PR AUC (days since the last purchase; 1 - P(alive)),
        `calibration_error` (expected calibration error) and `calibration`: per tenth of the
        probability range, the customers, the mean predicted probability and the observed
        churn rate (a reliability table).
    """
    from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

    data = model.check(examples)
    y = data[LABEL].to_numpy()
    if len(np.unique(y)) < 2:
        raise ChurnError(f"the evaluation examples hold one class only ({len(data)} customers)")
    p = model.probability(data)
    chosen = p >= model.threshold
    baselines = {"recency": data["recency_days"].to_numpy(), "p_alive": 1.0 - data["p_alive"].to_numpy()}
    which = np.minimum((p * bins).astype(int), bins - 1)
    calibration = [
        {"probability": f"{b / bins:.1f}-{(b + 1) / bins:.1f}", "customers": int((which == b).sum()),
         "predicted": float(p[which == b].mean()), "observed": float(y[which == b].mean())}
        for b in np.unique(which)
    ]
    return {
        "customers": len(data), "churn_rate": float(y.mean()),
        "roc_auc": float(roc_auc_score(y, p)), "pr_auc": float(average_precision_score(y, p)),
        "threshold": model.threshold, "f1": float(f1_score(y, chosen)),
        "precision": float(precision_score(y, chosen, zero_division=0)),
        "recall": float(recall_score(y, chosen, zero_division=0)),
        **{f"{name}_roc_auc": float(roc_auc_score(y, score)) for name, score in baselines.items()},
        **{f"{name}_pr_auc": float(average_precision_score(y, score)) for name, score in baselines.items()},
        # Expected calibration error: the customers' mean gap between predicted and observed per tenth.
        "calibration_error": float(sum(b["customers"] * abs(b["predicted"] - b["observed"]) for b in calibration)
                                   / len(data)),
        "calibration": calibration,
    }
