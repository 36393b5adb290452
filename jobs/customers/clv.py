"""Lifetime value: a BG/NBD purchase model and a Gamma-Gamma spend model (pymc-marketing).

Input, one row per customer as of a cutoff (the "RFM summary" of the BTYD literature):
- `customer_id`;
- `frequency`: repeat purchases (purchase days after the first one);
- `recency`: time from the first to the last purchase;
- `T`: time from the first purchase to the cutoff;
- `monetary_value`: mean value of the repeat purchases (the spend model only).

All three times are in one unit (`time_unit_days` days: 7 for weeks). Both models
are fitted by maximum likelihood: pymc-marketing's MAP fit with flat priors on
every parameter, so the estimates are the ones Fader, Hardie and Lee publish
(BG/NBD: r, alpha, a, b; Gamma-Gamma: p, q, v). A history too short to tell
purchase rates from dropout (days, not months) drives the BG/NBD likelihood to a
boundary (r and alpha without limit, b to zero) where its predictive formulas
have no finite value; the purchase model is then fitted again as a MAP estimate
under pymc-marketing's default priors, and says so (`PurchaseModel.method`).
A fit keeps only the parameters:
predictions for any customers (a pandas batch, e.g. inside Spark's `mapInPandas`)
rebuild the models from them and use pymc-marketing's own predictive formulas.

Outputs per customer (`predict`): expected purchases over a horizon, P(alive)
and the discounted lifetime value over a number of months.
"""
from __future__ import annotations

import dataclasses
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

SUMMARY_COLUMNS = ("customer_id", "frequency", "recency", "T")
PURCHASE_PARAMETERS = ("r", "alpha", "a", "b")
SPEND_PARAMETERS = ("p", "q", "v")
DAYS_PER_MONTH = 365.25 / 12


class ClvError(ValueError):
    """A summary the lifetime value models cannot use."""


@dataclass(frozen=True)
class PurchaseModel:
    """BG/NBD parameters: purchase rates ~ Gamma(r, alpha), dropout after a purchase ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    customers: int
    time_unit_days: float
    method: str = "maximum likelihood"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SpendModel:
    """Gamma-Gamma parameters: spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, v)."""

    p: float
    q: float
    v: float
    customers: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_summary(summary: pd.DataFrame, spend: bool = False) -> pd.DataFrame:
    """The summary's model columns as floats, after checking them.

    Raises:
        ClvError: a column is missing, a value is negative or not a number, or recency exceeds T.
    """
    needed = (*SUMMARY_COLUMNS, *(("monetary_value",) if spend else ()))
    missing = [c for c in needed if c not in summary.columns]
    if missing:
        raise ClvError(f"the customer summary has no column {', '.join(missing)} (columns: {', '.join(summary.columns)})")
    out = summary[list(needed)].copy()
    for column in needed[1:]:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
        bad = out[column].isna() | (out[column] < 0)
        if bad.any():
            example = summary.loc[bad, "customer_id"].iloc[0]
            raise ClvError(f"customer summary column {column}: {int(bad.sum())} value(s) missing or negative, "
                           f"e.g. customer {example}")
    late = out["recency"] > out["T"] + 1e-9
    if late.any():
        raise ClvError(f"customer summary: recency after T for {int(late.sum())} customer(s), e.g. customer "
                       f"{out.loc[late, 'customer_id'].iloc[0]}; the summary must be cut at the same date")
    if out["customer_id"].duplicated().any():
        raise ClvError("customer summary: customer_id is not unique")
    return out


def fit_purchases(summary: pd.DataFrame, time_unit_days: float = 1.0) -> PurchaseModel:
    """BG/NBD on `summary` (customer_id, frequency, recency, T): maximum likelihood, or MAP under the default
    priors when the likelihood's maximum has no finite predictions (`PurchaseModel.method` says which).

    Raises:
        ClvError: no customer with a repeat purchase, or no finite predictions under either fit.
    """
    data = check_summary(summary)
    if len(data) < 2 or not (data["frequency"] > 0).any():
        raise ClvError(f"the purchase model needs customers with repeat purchases; the summary has {len(data)} "
                       f"customer(s) and {int((data['frequency'] > 0).sum())} with a repeat purchase")
    values, method = _map_fit(pymc_clv().BetaGeoModel, data, PURCHASE_PARAMETERS), "maximum likelihood"
    if not _predicts(values, data, time_unit_days):
        log.warning("BG/NBD maximum likelihood on %d customers has no finite predictions (%s): the history is too "
                    "short to separate purchase rates from dropout; fitting under the default priors instead",
                    len(data), ", ".join(f"{k} {v:.3g}" for k, v in values.items()))
        values, method = _map_fit(pymc_clv().BetaGeoModel, data, PURCHASE_PARAMETERS, flat=False), "MAP, default priors"
        if not _predicts(values, data, time_unit_days):
            raise ClvError(f"the purchase model has no finite predictions on these {len(data)} customers even under "
                           f"its default priors ({', '.join(f'{k} {v:.3g}' for k, v in values.items())}): "
                           f"the summary needs a longer history")
    return PurchaseModel(**values, log_likelihood=purchase_log_likelihood(values, data),
                         customers=len(data), time_unit_days=float(time_unit_days), method=method)


def _predicts(values: dict[str, float], data: pd.DataFrame, time_unit_days: float) -> bool:
    """Whether BG/NBD `values` give every customer of `data` a finite P(alive) and finite expected purchases
    over the summary's own span and over a year."""
    if not all(np.isfinite(v) and v > 0 for v in values.values()):
        return False
    model = _purchase_model(data, PurchaseModel(**values, log_likelihood=0.0, customers=len(data),
                                                time_unit_days=time_unit_days))
    with np.errstate(all="ignore"):
        results = [_values(model.expected_probability_alive(data=data))]
        for horizon in {float(data["T"].max()) or 1.0, 365.25 / time_unit_days}:
            results.append(_values(model.expected_purchases(data=data, future_t=horizon)))
    return all(np.isfinite(r).all() for r in results)


def purchase_log_likelihood(parameters: dict[str, float] | PurchaseModel, summary: pd.DataFrame) -> float:
    """The BG/NBD log-likelihood of `summary` under `parameters` (r, alpha, a, b)."""
    import pymc as pm

    BetaGeoNBD = pymc_clv().distributions.BetaGeoNBD

    p = parameters.as_dict() if isinstance(parameters, PurchaseModel) else parameters
    data = check_summary(summary)
    dist = BetaGeoNBD.dist(a=p["a"], b=p["b"], r=p["r"], alpha=p["alpha"], T=data["T"].to_numpy())
    observed = np.column_stack([data["recency"].to_numpy(), data["frequency"].to_numpy()])
    return float(pm.logp(dist, observed).sum().eval())


def fit_spend(summary: pd.DataFrame) -> SpendModel:
    """Maximum-likelihood Gamma-Gamma on the customers with repeat purchases of positive mean value."""
    data = check_summary(summary, spend=True)
    repeat = data[(data["frequency"] > 0) & (data["monetary_value"] > 0)]
    if len(repeat) < 2:
        raise ClvError(f"the spend model needs customers with repeat purchases of positive value; "
                       f"the summary has {len(repeat)}")
    values = _map_fit(pymc_clv().GammaGammaModel, repeat[["customer_id", "frequency", "monetary_value"]],
                      SPEND_PARAMETERS)
    return SpendModel(**values, customers=len(repeat))


def predict(summary: pd.DataFrame, purchases: PurchaseModel, spend: SpendModel | None = None, *,
            horizon: float, clv_months: int = 12, annual_discount_rate: float = 0.0) -> pd.DataFrame:
    """Per customer: expected purchases within `horizon` (in the summary's time unit), P(alive), CLV.

    Args:
        summary: customer_id, frequency, recency, T (and monetary_value with `spend`).
        purchases: the fitted BG/NBD parameters.
        spend: the fitted Gamma-Gamma parameters; None: no CLV column.
        horizon: the window of `expected_purchases`, in the summary's time unit.
        clv_months: months of lifetime value.
        annual_discount_rate: yearly discount rate of the lifetime value (0.1 = 10 % a year).

    Returns:
        customer_id, expected_purchases, p_alive, and with `spend`: expected_spend, clv.
    """
    data = check_summary(summary, spend=spend is not None)
    out = pd.DataFrame({"customer_id": data["customer_id"].to_numpy()})
    if data.empty:
        return out.assign(expected_purchases=[], p_alive=[], **({"expected_spend": [], "clv": []} if spend else {}))
    transactions = _purchase_model(data, purchases)
    out["expected_purchases"] = _values(transactions.expected_purchases(data=data, future_t=horizon))
    out["p_alive"] = _values(transactions.expected_probability_alive(data=data))
    if spend is not None:
        gamma = _spend_model(data, spend)
        # A customer without repeat purchases gets the spend model's population mean.
        out["expected_spend"] = _values(gamma.expected_customer_spend(data=data))
        monthly = (1.0 + annual_discount_rate) ** (1.0 / 12.0) - 1.0
        time_unit = _pymc_time_unit(purchases.time_unit_days)
        clv = gamma.expected_customer_lifetime_value(
            transaction_model=transactions, data=data.copy(), future_t=clv_months, discount_rate=monthly,
            time_unit=time_unit)
        out["clv"] = _values(clv)
    return out


def holdout_table(calibration: pd.DataFrame, holdout_purchases: np.ndarray | pd.Series,
                  predicted: np.ndarray | pd.Series,
                  max_frequency: int = 7) -> pd.DataFrame:
    """Mean actual vs predicted holdout purchases per calibration frequency (the last row: that many or more).

    Args:
        calibration: the calibration summary (customer_id, frequency, ...).
        holdout_purchases: purchases in the holdout window, aligned with `calibration`.
        predicted: expected purchases over the holdout window, aligned with `calibration`.
    """
    frequency = calibration["frequency"].to_numpy().astype(int)
    group = np.minimum(frequency, max_frequency)
    frame = pd.DataFrame({"frequency": group, "actual": np.asarray(holdout_purchases, dtype=float),
                          "predicted": np.asarray(predicted, dtype=float)})
    table = frame.groupby("frequency").agg(customers=("actual", "size"), actual=("actual", "mean"),
                                           predicted=("predicted", "mean")).reset_index()
    table["frequency"] = table["frequency"].map(lambda f: f"{f}+" if f == max_frequency else str(f))
    return table


# -- pymc-marketing models rebuilt from parameters ----------------------------------------


def pymc_clv():
    """pymc-marketing's `clv` module (models, distributions, utils), imported on first use.

    ArviZ announces its next major version with a FutureWarning on import: kept out of job logs.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import pymc_marketing.clv
        import pymc_marketing.clv.distributions
        import pymc_marketing.clv.utils  # noqa: F401 - the submodules, reached as attributes
    return pymc_marketing.clv


def _posterior(values: dict[str, float]):
    import arviz as az

    return az.from_dict(posterior={k: np.array([[v]]) for k, v in values.items()})


def _purchase_model(data: pd.DataFrame, fitted: PurchaseModel):
    model = pymc_clv().BetaGeoModel(data=data[list(SUMMARY_COLUMNS)])
    model.build_model()  # the graph only (its coordinates); nothing is compiled or fitted
    model.idata = _posterior({k: getattr(fitted, k) for k in PURCHASE_PARAMETERS})
    return model


def _spend_model(data: pd.DataFrame, fitted: SpendModel):
    # The model validates its data on construction: one customer with a positive spend stands in.
    stand_in = pd.DataFrame({"customer_id": [0], "frequency": [1.0], "monetary_value": [1.0]})
    model = pymc_clv().GammaGammaModel(data=stand_in)
    model.build_model()
    model.idata = _posterior({k: getattr(fitted, k) for k in SPEND_PARAMETERS})
    return model


def _values(array) -> np.ndarray:
    """One value per customer from pymc-marketing's (chain, draw, customer_id) result."""
    dims = [d for d in ("chain", "draw") if d in array.dims]
    return np.asarray(array.mean(dims).values if dims else array.values, dtype=float)


def _pymc_time_unit(days: float) -> str:
    units = {1.0: "D", 7.0: "W", 1 / 24: "H"}
    for length, code in units.items():
        if abs(days - length) < 1e-9:
            return code
    if abs(days - DAYS_PER_MONTH) < 0.6:
        return "M"
    raise ClvError(f"lifetime value needs the summary in hours, days, weeks or months; got {days} days per unit")


def _map_fit(model_class, data: pd.DataFrame, parameters: tuple[str, ...], flat: bool = True) -> dict[str, float]:
    """MAP fit of `model_class` on `data`: a flat prior on each of `parameters` (maximum likelihood), or with
    `flat` False the model's default priors.

    No progress bars or pymc chatter in job logs.
    """
    from pymc_extras.prior import Prior

    config = {k: Prior("HalfFlat") for k in parameters} if flat else None
    model = model_class(data=data, model_config=config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("pymc").setLevel(logging.ERROR)
        model.fit(fit_method="map", progressbar=False)
    return {k: float(np.asarray(model.fit_result[k]).ravel()[0]) for k in parameters}
