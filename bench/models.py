"""`c360 bench models`: the customer models against published figures and baselines.

1. CDNOW (the 1/10th sample: 2,357 customers who first bought in Q1 1997, their
   purchases to June 1998; it ships inside the `lifetimes` wheel). The transactions
   are summarised per customer with pymc-marketing's `rfm_train_test_split` (weeks,
   purchase days): a 39-week calibration period to 1997-09-30 and a 39-week holdout.
   Our BG/NBD fit on the calibration summary is compared with the parameters Fader,
   Hardie and Lee (2005) publish (r 0.243, alpha 4.414, a 0.793, b 2.426; the
   log-likelihood -9582.4), and the holdout table is printed: mean actual vs
   predicted holdout purchases per calibration frequency. Per customer, the holdout
   purchases are scored against a naive baseline (each customer's calibration
   purchase rate carried forward). The Gamma-Gamma spend model is fitted on the same
   calibration summary (mean value of repeat purchases).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from jobs.common.bench import Figures
from jobs.common.errors import C360Error

# Fader, Hardie and Lee (2005), "Counting your customers the easy way", table 1 (BG/NBD on CDNOW).
FHL_2005 = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
FHL_2005_LOG_LIKELIHOOD = -9582.4
CALIBRATION_END = "1997-09-30"
HOLDOUT_END = "1998-06-30"
HOLDOUT_WEEKS = 39.0
TOLERANCE = 0.05


def cdnow_file() -> Path:
    """CDNOW_sample.txt inside the installed `lifetimes` wheel (the package itself is not imported)."""
    from importlib.util import find_spec

    spec = find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise C360Error("the CDNOW sample ships in the `lifetimes` wheel: run `make install` (bench extra)")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "CDNOW_sample.txt"
    if not path.is_file():
        raise C360Error(f"{path} is missing from the installed lifetimes wheel; reinstall it (`make install`)")
    return path


def cdnow_transactions() -> pd.DataFrame:
    """One row per transaction: customer_id, date, value (the sample's own customer number 1..2357)."""
    raw = pd.read_csv(cdnow_file(), sep=r"\s+", header=None, names=["master_id", "customer_id", "date", "cds", "value"],
                      dtype={"master_id": str, "customer_id": int, "date": str})
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return raw[["customer_id", "date", "value"]]


def cdnow_split(transactions: pd.DataFrame) -> pd.DataFrame:
    """Calibration summary (weeks) and holdout purchases per customer."""
    from jobs.customers.clv import pymc_clv

    return pymc_clv().utils.rfm_train_test_split(transactions, "customer_id", "date", train_period_end=CALIBRATION_END,
                                test_period_end=HOLDOUT_END, time_unit="D", time_scaler=7,
                                monetary_value_col="value")


def cdnow(log=print) -> Figures:
    from jobs.customers import clv

    split = cdnow_split(cdnow_transactions())
    began = time.perf_counter()
    purchases = clv.fit_purchases(split, time_unit_days=7)
    fit_seconds = time.perf_counter() - began
    spend = clv.fit_spend(split)
    scored = clv.predict(split, purchases, spend, horizon=HOLDOUT_WEEKS)
    actual = split["test_frequency"].to_numpy(dtype=float)
    predicted = scored["expected_purchases"].to_numpy()
    naive = (split["frequency"] / split["T"]).to_numpy() * HOLDOUT_WEEKS
    table = clv.holdout_table(split, actual, predicted)

    figures: Figures = {"cdnow_customers": len(split), "cdnow_fit_seconds": round(fit_seconds, 1)}
    off = {}
    for name, published in FHL_2005.items():
        ours = getattr(purchases, name)
        figures[f"cdnow_bgnbd_{name}"] = round(ours, 4)
        off[name] = abs(ours / published - 1)
        figures[f"cdnow_bgnbd_{name}_off_pct"] = round(100 * off[name], 2)
    figures["cdnow_bgnbd_within_5pct"] = all(v <= TOLERANCE for v in off.values())
    figures["cdnow_log_likelihood"] = round(purchases.log_likelihood, 1)
    figures["cdnow_holdout_actual"] = int(actual.sum())
    figures["cdnow_holdout_predicted"] = round(float(predicted.sum()), 1)
    figures["cdnow_holdout_aggregate_error_pct"] = round(100 * (predicted.sum() / actual.sum() - 1), 2)
    figures["cdnow_mae_bgnbd"] = round(float(np.abs(predicted - actual).mean()), 4)
    figures["cdnow_mae_naive_rate"] = round(float(np.abs(naive - actual).mean()), 4)
    for name in clv.SPEND_PARAMETERS:
        figures[f"cdnow_gamma_gamma_{name}"] = round(getattr(spend, name), 4)
    figures["cdnow_clv_12m_mean"] = round(float(scored["clv"].mean()), 2)

    log(f"CDNOW: {len(split)} customers, calibration to {CALIBRATION_END}, holdout to {HOLDOUT_END} "
        f"({HOLDOUT_WEEKS:.0f} weeks)")
    log("BG/NBD      ours      FHL 2005  off")
    for name, published in FHL_2005.items():
        log(f"  {name:<6} {getattr(purchases, name):9.4f} {published:9.3f}  {100 * off[name]:5.2f} %")
    log(f"  log-likelihood {purchases.log_likelihood:.1f} (published {FHL_2005_LOG_LIKELIHOOD})")
    log("holdout purchases per calibration frequency (mean per customer)")
    log(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    log(f"per customer MAE: BG/NBD {figures['cdnow_mae_bgnbd']}, naive rate carried forward "
        f"{figures['cdnow_mae_naive_rate']}")
    return figures


def run(scale: int | None = None, profile: str | None = None) -> Figures:
    return cdnow()
