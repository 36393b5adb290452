"""The churn model on examples drawn from a known process: it learns, is calibrated, and explains itself in words."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jobs.customers import churn, clv

# BG/NBD parameters in days (the pattern features' model).
PURCHASES = clv.PurchaseModel(r=0.5, alpha=20.0, a=0.8, b=2.5, log_likelihood=0.0, customers=0, time_unit_days=1.0)


def _examples(n: int, seed: int) -> pd.DataFrame:
    """Customers at a cutoff; who churns depends on recency, falling email opens and store habits, plus noise."""
    rng = np.random.default_rng(seed)
    recency = rng.gamma(1.5, 40.0, size=n)
    opens_before = rng.poisson(4.0, size=n).astype(float)
    fading = rng.random(n) < 0.35
    opens_now = np.where(fading, rng.binomial(opens_before.astype(int), 0.2), rng.poisson(4.0, size=n)).astype(float)
    store = rng.beta(2, 2, size=n)
    purchases_prev = rng.poisson(3.0, size=n).astype(float)
    purchases_now = np.maximum(purchases_prev + rng.integers(-2, 3, size=n), 0).astype(float)
    span = rng.integers(0, 600, size=n)
    logit = -3.2 + recency / 25 + 2.5 * fading - 2.0 * store
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({
        "customer_key": [f"K{seed}-{i}" for i in range(n)],
        "recency_days": np.round(recency), "purchases_90d": purchases_now, "purchases_prev_90d": purchases_prev,
        "frequency": np.where(span > 0, rng.poisson(6.0, size=n) + 1, 0).astype(float),
        "purchase_span_days": span, "tenure_days": np.round(recency) + span,
        "spend_90d": rng.gamma(2.0, 40.0, size=n), "monetary_value": rng.gamma(3.0, 15.0, size=n),
        "refund_share": rng.beta(1, 12, size=n), "store_share": store,
        "categories_365d": rng.integers(1, 9, size=n), "email_opens_30d": opens_now,
        "email_opens_prev_30d": opens_before, "web_sessions_30d": rng.poisson(3.0, size=n),
        "web_sessions_prev_30d": rng.poisson(3.0, size=n), "churned": churned,
    })


@pytest.fixture(scope="module")
def fitted():
    model = churn.train(_examples(6000, seed=1), PURCHASES)
    return model, churn.evaluate(model, _examples(4000, seed=2))


def test_the_model_beats_both_baselines_on_a_later_cutoff_and_is_calibrated(fitted):
    model, figures = fitted
    assert model.calibration == "held-out slice"
    assert figures["roc_auc"] > 0.8
    assert figures["roc_auc"] > figures["recency_roc_auc"] + 0.03
    assert figures["roc_auc"] > figures["p_alive_roc_auc"] + 0.03
    assert figures["pr_auc"] > figures["recency_pr_auc"]
    assert 0 < figures["precision"] <= 1 and figures["f1"] > 0.6
    bins = figures["calibration"]
    assert sum(b["customers"] for b in bins) == 4000 and len(bins) >= 8
    assert figures["calibration_error"] < 0.05
    for b in bins:
        if b["customers"] >= 100:
            assert abs(b["predicted"] - b["observed"]) < 0.2, b
    assert [b["observed"] for b in bins][-1] > [b["observed"] for b in bins][0] + 0.5


def test_scores_carry_a_band_and_the_drivers_in_words(fitted):
    model, _ = fitted
    people = _examples(3, seed=9).drop(columns="churned")
    people.loc[0, ["recency_days", "email_opens_prev_30d", "email_opens_30d", "store_share"]] = [210, 5, 1, 0.05]
    people.loc[1, ["recency_days", "email_opens_prev_30d", "email_opens_30d", "store_share"]] = [3, 4, 6, 0.9]
    scored = model.score(people).set_index("customer_key")
    lapsing, loyal = scored.iloc[0], scored.iloc[1]
    assert lapsing["churn_probability"] > 0.6 > 0.3 > loyal["churn_probability"]
    assert lapsing["churn_risk_band"] == "high" and loyal["churn_risk_band"] == "low"
    drivers = lapsing["churn_drivers"]
    assert 1 <= len(drivers) <= 3
    assert "no purchase for 210 days" in drivers
    assert "email opens fell 80 %" in drivers
    assert all(not any(f in text for f in churn.FEATURES) for text in drivers)  # words, not column names
    words = {d.name: d.words for d in churn.DRIVERS}
    assert words["recency"](pd.Series({"recency_days": 1.0})) == "no purchase for 1 day"
    assert words["tenure"](pd.Series({"tenure_days": 44.0})) == "a customer for 44 days"


def test_the_model_survives_a_pickle_round_trip(fitted):
    import pickle

    model, _ = fitted
    people = _examples(50, seed=4).drop(columns="churned")
    again = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(again.score(people), model.score(people))


def test_a_small_base_is_calibrated_on_out_of_fold_scores():
    """Too few churners or stayers for a held-out slice: every customer calibrates once, out of fold."""
    small = _examples(300, seed=4)
    model = churn.train(small, PURCHASES)
    assert model.calibration == "cross-fitted"
    figures = churn.evaluate(model, _examples(2000, seed=5))
    assert figures["roc_auc"] > 0.7 and figures["calibration_error"] < 0.1
    # Three churners: three folds, each with a churner (a fold of stayers only would train a constant booster).
    assert churn._stratified_folds(np.arange(300) < 3, np.linspace(0, 1, 300), 3)[:3].tolist() == [0, 1, 2]
    # Three churners, the three who have not bought for longest: each out-of-fold booster learns that from the
    # other two. (Their keys hash into one fold of three: folds by hash alone would train constant boosters.)
    three = small.assign(churned=np.arange(300) < 3)
    three.loc[three.index[:3], "recency_days"] = [700.0, 750.0, 800.0]
    rare = churn.train(three, PURCHASES)
    assert rare.calibration == "cross-fitted"
    p = rare.probability(rare.check(three))
    assert p[three["churned"].to_numpy()].min() > np.median(p)
    # One churner: refused, with the counts.
    with pytest.raises(churn.ChurnError, match="1 churned and 299 not"):
        churn.train(small.assign(churned=np.arange(300) < 1), PURCHASES)


@pytest.mark.parametrize(("change", "message"), [
    (lambda e: e.drop(columns="recency_days"), "no column recency_days"),
    (lambda e: e.assign(spend_90d="x"), "churn feature spend_90d: 20 value"),
    (lambda e: e.assign(churned=True), "one class only"),
])
def test_examples_the_model_cannot_use_are_named(change, message):
    with pytest.raises(churn.ChurnError, match=message):
        churn.train(change(_examples(20, seed=3)), PURCHASES)


def test_the_churn_ceiling_knows_the_generated_persons_and_beats_recency(tmp_path):
    """The bench's oracle draws the very persons `generate` writes, and knowing them beats the days since a purchase."""
    import datetime as dt

    import pyarrow.parquet as pq

    from bench.churn_ceiling import ceiling, generated_persons
    from jobs.common.rates import VariationRates
    from jobs.generate.main import generate
    from jobs.generate.timeline import DAY

    start, rates = dt.date(2024, 10, 1), VariationRates()
    generate(tmp_path, 400, 400, 3, start, rates, log=lambda *_: None)
    truth = pq.read_table(tmp_path / "truth" / "persons").to_pandas().sort_values("person_id")
    people = generated_persons(rates, 400, 400, start, seed=3).people
    churn_day = [dt.date(1970, 1, 1) + dt.timedelta(days=int(ts // DAY)) if ts < 2**62 else None
                 for ts in people.churn_ts]
    assert [d if pd.notna(d) else None for d in truth["churn_date"]] == churn_day

    best = ceiling(rates, 1500, 310, 90, start, seed=3, reps=8)
    assert best["active_persons"] > 300
    assert 0.5 < best["recency_roc_auc"] < best["oracle_roc_auc"] < 1.0
