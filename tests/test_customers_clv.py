"""Lifetime value models on the CDNOW sample (the published benchmark) and on tiny hand-made summaries."""
from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from bench.models import FHL_2005, FHL_2005_LOG_LIKELIHOOD, HOLDOUT_WEEKS, cdnow_file, cdnow_split, cdnow_transactions
from jobs.customers import clv

# Fader and Hardie (2013), "The Gamma-Gamma model of monetary value", on the same calibration period.
GAMMA_GAMMA_2013 = {"p": 6.25, "q": 3.74, "v": 15.44}


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cdnow_split(cdnow_transactions())


def test_the_cdnow_calibration_summary_is_the_published_one(cdnow):
    published = pd.read_csv(cdnow_file().with_name("cdnow_customers_summary.csv")).rename(columns={"ID": "customer_id"})
    both = cdnow.merge(published, on="customer_id", suffixes=("", "_published"))
    assert len(both) == len(published) == 2357
    assert (both["frequency"] == both["frequency_published"]).all()
    assert (both["recency"] - both["recency_published"]).abs().max() < 0.01
    assert (both["T"] - both["T_published"]).abs().max() < 0.01


def test_the_bgnbd_likelihood_at_the_published_parameters_is_the_published_one(cdnow):
    assert clv.purchase_log_likelihood(FHL_2005, cdnow) == pytest.approx(FHL_2005_LOG_LIKELIHOOD, abs=0.1)
    # Any other parameters explain the data worse.
    assert clv.purchase_log_likelihood({**FHL_2005, "r": 0.3}, cdnow) < FHL_2005_LOG_LIKELIHOOD - 1


def test_fits_on_cdnow_recover_the_published_parameters_within_five_percent(cdnow):
    purchases = clv.fit_purchases(cdnow, time_unit_days=7)
    assert purchases.method == "maximum likelihood"
    for name, published in FHL_2005.items():
        assert getattr(purchases, name) == pytest.approx(published, rel=0.05), name
    assert purchases.log_likelihood == pytest.approx(FHL_2005_LOG_LIKELIHOOD, abs=0.5)
    spend = clv.fit_spend(cdnow)
    assert spend.customers == int((cdnow["frequency"] > 0).sum())
    for name, published in GAMMA_GAMMA_2013.items():
        assert getattr(spend, name) == pytest.approx(published, rel=0.05), name

    scored = clv.predict(cdnow, purchases, spend, horizon=HOLDOUT_WEEKS)
    actual = cdnow["test_frequency"].to_numpy()
    predicted = scored["expected_purchases"].to_numpy()
    naive = (cdnow["frequency"] / cdnow["T"]).to_numpy() * HOLDOUT_WEEKS
    assert abs(predicted - actual).mean() < abs(naive - actual).mean()
    table = clv.holdout_table(cdnow, actual, predicted)
    assert list(table["frequency"]) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert table["customers"].sum() == len(cdnow)
    assert table["predicted"].is_monotonic_increasing and table["actual"].is_monotonic_increasing


def test_a_history_too_short_for_maximum_likelihood_is_fitted_under_the_default_priors():
    """Ten days of 300 customers, a few with one repeat purchase: the likelihood has no interior maximum."""
    rng = np.random.default_rng(7)
    t = rng.integers(0, 8, 300).astype(float)
    frequency = np.where((rng.random(300) < 0.1) & (t > 0), 1.0, 0.0)
    recency = np.where(frequency > 0, np.minimum(t, rng.integers(1, 8, 300)), 0.0)
    summary = pd.DataFrame({"customer_id": range(300), "frequency": frequency, "recency": recency, "T": t,
                            "monetary_value": np.where(frequency > 0, 20.0, 0.0)})
    flat = clv._map_fit(clv.pymc_clv().BetaGeoModel, clv.check_summary(summary), clv.PURCHASE_PARAMETERS)
    assert not clv._predicts(flat, clv.check_summary(summary), 1.0)

    purchases = clv.fit_purchases(summary)
    assert purchases.method == "MAP, default priors"
    scored = clv.predict(summary.assign(monetary_value=20.0), purchases, clv.SpendModel(6.25, 3.74, 15.44, 0),
                         horizon=90)
    assert np.isfinite(scored[["expected_purchases", "p_alive", "clv"]].to_numpy()).all()
    assert (scored["expected_purchases"] > 0).all()


PARAMETERS = clv.PurchaseModel(r=0.243, alpha=4.414, a=0.793, b=2.426, log_likelihood=0.0, customers=0,
                               time_unit_days=7)
SPEND = clv.SpendModel(p=6.25, q=3.74, v=15.44, customers=0)


def _summary(rows):
    return pd.DataFrame(rows, columns=["customer_id", "frequency", "recency", "T", "monetary_value"])


def test_predictions_follow_the_model_s_logic():
    summary = _summary([
        ("no-repeat", 0, 0.0, 30.0, 0.0),
        ("recent", 4, 29.0, 30.0, 40.0),
        ("lapsed", 4, 5.0, 30.0, 40.0),
        ("recent-big", 4, 29.0, 30.0, 80.0),
    ])
    out = clv.predict(summary, PARAMETERS, SPEND, horizon=13).set_index("customer_id")
    assert out.loc["no-repeat", "p_alive"] == pytest.approx(1.0)  # BG/NBD: no repeat purchase, no chance to drop out
    assert out.loc["recent", "p_alive"] > 0.8 > 0.5 > out.loc["lapsed", "p_alive"]
    assert out.loc["recent", "expected_purchases"] > out.loc["lapsed", "expected_purchases"] > 0
    assert out.loc["recent-big", "clv"] > out.loc["recent", "clv"] > out.loc["lapsed", "clv"] > 0
    # The spend model's population mean for a customer without repeat purchases: p v / (q - 1).
    assert out.loc["no-repeat", "expected_spend"] == pytest.approx(6.25 * 15.44 / 2.74, rel=1e-6)
    discounted = clv.predict(summary, PARAMETERS, SPEND, horizon=13, annual_discount_rate=0.2).set_index("customer_id")
    assert (discounted["clv"] < out["clv"]).all()
    longer = clv.predict(summary, PARAMETERS, horizon=26).set_index("customer_id")
    assert "clv" not in longer.columns
    assert (longer["expected_purchases"] > out["expected_purchases"]).all()


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.drop(columns="T"), "no column T"),
    (lambda s: s.assign(frequency=-1), "column frequency: 1 value"),
    (lambda s: s.assign(recency=40.0), "recency after T for 1 customer"),
    (lambda s: pd.concat([s, s]), "customer_id is not unique"),
])
def test_a_summary_the_models_cannot_use_is_named(change, message):
    summary = change(_summary([("c1", 1, 3.0, 10.0, 5.0)]))
    with pytest.raises(clv.ClvError, match=message):
        clv.predict(summary, PARAMETERS, horizon=13)


def test_scores_in_spark_equal_the_pandas_predictions(spark):
    from jobs.customers.clv_model import LifetimeValueModel, ScoreParams
    from jobs.customers.scoring import clv_scores, summary_frame

    rows = [("k1", 0, 0, 60, Decimal("0")), ("k2", 3, 50, 60, Decimal("35.5")), ("k3", 3, 5, 60, Decimal("35.5")),
            ("k4", 8, 58, 300, Decimal("12"))]
    summary = spark.createDataFrame(rows, "customer_key string, frequency int, recency_days int, t_days int, "
                                          "monetary_value decimal(14,2)").repartition(2)
    purchases = clv.PurchaseModel(**{**PARAMETERS.as_dict(), "time_unit_days": 7.0})
    model = LifetimeValueModel(purchases, SPEND, ScoreParams())
    params = ScoreParams(horizon_days=91, clv_months=12, annual_discount_rate=0.1)
    got = clv_scores(summary, model, params).toPandas().set_index("customer_key").sort_index()
    frame = summary_frame(summary, time_unit_days=7.0)
    assert list(frame.columns) == ["customer_id", "frequency", "recency", "T", "monetary_value"]
    expected = clv.predict(frame, purchases, SPEND, horizon=13, annual_discount_rate=0.1).set_index("customer_id")
    pd.testing.assert_frame_equal(got, expected.sort_index(), check_names=False, check_exact=False, rtol=1e-9)
    assert got.loc["k2", "p_alive"] > got.loc["k3", "p_alive"]
    # The pyfunc's predict is the same logic; its params override the trained defaults.
    served = model.predict(None, summary.toPandas(), params={"horizon_days": 91, "annual_discount_rate": 0.1})
    pd.testing.assert_frame_equal(served.set_index("customer_key").sort_index(), got, check_exact=False, rtol=1e-9)

    with pytest.raises(clv.ClvError, match="no column t_days"):
        clv_scores(summary.drop("t_days"), model, params)
