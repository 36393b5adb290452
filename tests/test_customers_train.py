"""Training and scoring the customer models: the MLflow stage on a lake of its own, and on the shared lake."""
from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from jobs.common import models
from jobs.common.stage import Days
from jobs.customers import clv
from jobs.customers.clv_model import LifetimeValueModel, ScoreParams
from jobs.customers.gold import HOLDOUT, CustomerModelError
from tests.support.runtime import runtime_for
from tests.test_monitor import check_drift_and_report_after_training

DAY = dt.date(2026, 6, 30)
HOLDOUT_DAYS = 60


def _purchase_history(customers: int, seed: int) -> pd.DataFrame:
    """A holdout table drawn from a buy-till-you-die process (gamma rates, geometric dropout) over 300 days."""
    rng = np.random.default_rng(seed)
    end = (DAY - dt.date(2025, 9, 3)).days  # 300 days of history
    calibration_days = end - HOLDOUT_DAYS
    rates = rng.gamma(0.8, 1 / 20, size=customers)  # purchases per day, mean 0.04
    dropout = rng.beta(1.0, 6.0, size=customers)  # chance of dropping out after a purchase
    first = rng.integers(0, calibration_days - 1, size=customers)
    rows = []
    for i in range(customers):
        days = [int(first[i])]
        day = days[0]
        while rng.random() >= dropout[i]:
            day += int(np.ceil(rng.exponential(1 / rates[i])))
            if day >= end:
                break
            days.append(day)
        cal = [d for d in days if d <= calibration_days]
        spend = rng.gamma(4.0, 10.0) * rng.gamma(6.0, 1 / 6.0, size=len(cal))
        rows.append({
            "customer_key": f"C{i:05d}", "calibration_end": DAY - dt.timedelta(days=HOLDOUT_DAYS), "as_of_date": DAY,
            "frequency": len(cal) - 1, "recency_days": cal[-1] - cal[0], "t_days": calibration_days - cal[0],
            "monetary_value": float(spend[1:].mean()) if len(cal) > 1 else 0.0,
            "holdout_purchases": len(set(days) - set(cal)), "holdout_value": 0.0,
        })
    return pd.DataFrame(rows)


HOLDOUT_DDL = ("customer_key string, calibration_end date, as_of_date date, frequency bigint, recency_days int, "
               "t_days int, monetary_value decimal(14,2), holdout_purchases bigint, holdout_value decimal(16,2)")


@pytest.fixture
def rt(spark, lake, config, tmp_path):
    """A lake holding a gold.customer_purchase_holdout of 1500 customers; MLflow in the test's folder."""
    frame = _purchase_history(1500, seed=3)
    types = dict(column.split(" ") for column in HOLDOUT_DDL.split(", "))
    rows = spark.createDataFrame(frame).select(*(F.col(c).cast(t) for c, t in types.items()))
    lake.overwrite(rows, HOLDOUT)
    mlflow = dataclasses.replace(config.mlflow, tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                                 artifact_root=str(tmp_path / "artifacts"))
    customers = dataclasses.replace(config.customers, clv_holdout_days=HOLDOUT_DAYS)
    return runtime_for(dataclasses.replace(config, mlflow=mlflow, customers=customers), lake)


def _train(rt):
    from jobs.customers.train_clv import run

    return run(rt, Days.of(DAY))


def test_train_clv_registers_a_pyfunc_that_beats_the_naive_baseline_and_gates_the_champion(rt):
    import mlflow
    from mlflow import MlflowClient

    first = _train(rt)
    assert first.promoted and first.model_version == "c360_clv/1" and first.champion_mae is None
    assert first.customers == first.fitted_customers == 1500
    assert first.holdout_mae < first.naive_mae
    assert abs(first.aggregate_error) < 0.15
    # The registered model is the pyfunc that serves: signature, input example, scores from gold's columns.
    info = mlflow.models.get_model_info("models:/c360_clv@champion")
    assert [c.name for c in info.signature.inputs.inputs] == ["customer_key", "frequency", "recency_days", "t_days",
                                                             "monetary_value"]
    assert {p.name for p in info.signature.params.params} == {"horizon_days", "clv_months", "annual_discount_rate"}
    served = mlflow.pyfunc.load_model("models:/c360_clv@champion")
    example = pd.DataFrame({"customer_key": ["a", "b"], "frequency": [3, 0], "recency_days": [100, 0],
                            "t_days": [120, 50], "monetary_value": [40.0, 0.0]})
    out = served.predict(example)
    assert list(out.columns) == ["customer_key", "expected_purchases", "p_alive", "expected_spend", "clv"]
    assert (out["clv"] > 0).all() and out.loc[0, "expected_purchases"] > out.loc[1, "expected_purchases"]
    longer = served.predict(example, params={"horizon_days": 180.0})
    assert (longer["expected_purchases"] > out["expected_purchases"]).all()
    client = MlflowClient()
    card = client.download_artifacts(first.run_id, "model_card.md")
    text = open(card).read()
    assert "Known limits" in text and "naive baseline" in text and str(DAY) in text
    run = client.get_run(first.run_id)
    assert run.data.params[f"input_version.{HOLDOUT}"] == str(rt.lake.version(HOLDOUT))
    assert run.data.metrics["holdout_mae"] == pytest.approx(first.holdout_mae)

    # The same data again: no better than the champion on the same holdout, so the alias stays.
    second = _train(rt)
    assert second.model_version == "c360_clv/2" and not second.promoted
    assert second.champion_mae == pytest.approx(first.holdout_mae)
    assert models.champion("c360_clv").version == "1"


def test_a_better_model_takes_the_champion_alias_from_a_worse_one(rt):
    import mlflow

    # A champion with parameters far from the data's: everyone predicted to buy daily.
    experiment = models.connect(rt.config, rt.config.customers.experiment)
    bad = LifetimeValueModel(clv.PurchaseModel(r=5.0, alpha=5.0, a=0.1, b=50.0, log_likelihood=0.0, customers=0,
                                               time_unit_days=1.0), clv.SpendModel(p=6.0, q=4.0, v=15.0, customers=0),
                             ScoreParams())
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.pyfunc.log_model(name="model", python_model=bad, registered_model_name="c360_clv",
                                       pip_requirements=["pymc-marketing"])
    models.promote(models.ModelRef("c360_clv", str(info.registered_model_version), "", {}), "a poor stand-in")
    report = _train(rt)
    assert report.promoted and report.model_version == "c360_clv/2"
    assert report.champion_mae > report.holdout_mae
    assert models.champion("c360_clv").version == "2"


def test_training_before_gold_is_built_says_which_command_to_run(rt):
    from jobs.customers.train_clv import run

    with pytest.raises(CustomerModelError,
                       match="not 2026-07-01: run `c360 build-training-features --date 2026-07-01`"):
        run(rt, Days.of(DAY + dt.timedelta(days=1)))
    rt.lake.drop(HOLDOUT)
    with pytest.raises(CustomerModelError, match="gold.customer_purchase_holdout does not exist"):
        run(rt, Days.of(DAY))


def test_a_large_base_fits_on_a_hash_chosen_sample(rt):
    from jobs.customers.gold import sample_customers

    holdout = rt.lake.read(HOLDOUT)
    sample = sample_customers(holdout, 600, seed=42)
    n = sample.count()
    assert 450 < n < 750
    assert sample.exceptAll(sample_customers(holdout, 600, seed=42)).count() == 0  # the same seed, the same customers
    assert sample_customers(holdout, 5000, seed=42).count() == 1500
    assert sample.where(F.col("customer_key").isNull()).count() == 0


def test_the_shared_lake_trains_the_customer_models_scores_every_customer_and_monitors_them(e2e):
    """The Airflow day scored RFM segments only (no model yet); after the three trainings every column is filled,
    drift is measured against the models' first day and the run report has data in every section."""
    from jobs.customers import score_main, train_churn, train_clv, train_segments
    from jobs.customers.gold import CHURN_FEATURES, RFM, SCORES, SEGMENTS, SUMMARY
    from jobs.features import training
    from tests.test_features import _identified_purchases_from_silver

    rt, day = e2e.rt, e2e.last
    lake = rt.lake
    assert e2e.airflow_tasks["score_customers"] == "success"
    segments = lake.read(SEGMENTS)
    assert {r.run_date for r in segments.select("run_date").distinct().collect()} == {day}
    assert segments.count() == lake.read(RFM).count() > 0
    assert segments.where("cluster_id is not null or rfm_segment is null").count() == 0
    assert not lake.exists(SCORES)

    # The holdout mart (built by the weekly stage): the summary as of the calibration end, and the purchase days
    # after it.
    training.run(rt, Days.of(day))
    holdout = lake.read(HOLDOUT)
    end = day - dt.timedelta(days=rt.config.customers.clv_holdout_days)
    assert {r.calibration_end for r in holdout.select("calibration_end").distinct().collect()} == {end}
    purchases = _identified_purchases_from_silver(rt, day).distinct()
    calibrated = purchases.where(F.col("day") <= F.lit(end)).select("customer_key").distinct()
    assert holdout.count() == calibrated.count()
    after = purchases.where(F.col("day") > F.lit(end)).join(calibrated, "customer_key").count()
    assert holdout.agg(F.sum("holdout_purchases")).first()[0] == after > 0

    trained = train_clv.run(rt, Days.of(day))
    assert trained.promoted and trained.customers == holdout.count()
    # Ten days of history judge nothing: the figures are checked on a real window above and by `c360 bench models`.
    assert trained.holdout_mae >= 0 and trained.predicted_purchases > 0
    churned = train_churn.run(rt, Days.of(day))
    assert churned.promoted and churned.train_cutoff == day - dt.timedelta(days=6)
    assert churned.train_customers > 0 and churned.test_customers > 0 and 0 < churned.churn_rate < 1
    report = score_main.run(rt, Days.of(day))
    assert (report.clv_model_version, report.churn_model_version) == (trained.model_version, churned.model_version)
    scores = lake.read(SCORES)
    assert report.scored_customers == scores.count() == lake.read(SUMMARY).count()
    assert scores.where("p_alive < 0 or p_alive > 1 or clv_12m < 0 or expected_purchases_90d < 0").count() == 0
    assert scores.where(F.col("clv_model_version") != trained.model_version).count() == 0
    # Churn scores for the customers active on the day (every customer of ten days), drivers in words.
    active = lake.read(CHURN_FEATURES).count()
    assert scores.where("churn_probability is not null").count() == active > 0
    assert scores.where("churn_risk_band not in ('low', 'medium', 'high') or size(churn_drivers) > 3").count() == 0
    assert scores.where("churn_probability is not null and churn_drivers is null").count() == 0
    # Words, not feature names (a model of a few hundred examples may find no driver worth naming).
    drivers = [r.d for r in scores.select(F.explode("churn_drivers").alias("d")).limit(50).collect()]
    assert not any("_" in d for d in drivers)
    # Segments: every identified customer with a purchase in a named cluster of the champion.
    segmented = train_segments.run(rt, Days.of(day))
    assert segmented.promoted and 3 <= segmented.k <= 5
    report = score_main.run(rt, Days.of(day))
    clustered = lake.read(SEGMENTS).where("cluster_id is not null")
    buyers = lake.read("gold.customer_features").where("orders > 0 and identified").select("customer_key")
    assert clustered.count() == lake.read(SEGMENTS).join(buyers, "customer_key").count() > 0
    assert clustered.where(F.col("segment_model_version") != segmented.model_version).count() == 0
    assert {r.cluster_name for r in clustered.select("cluster_name").distinct().collect()} == {
        key.split(" ", 1)[1] for key, size in segmented.clusters.items() if size}
    assert lake.read("gold.segment_profiles").count() == segmented.k
    # A rerun of the day rewrites it.
    again = score_main.run(rt, Days.of(day))
    assert again.scored_customers == report.scored_customers == lake.read(SCORES).count()
    assert lake.read(SEGMENTS).count() == segments.count()
    # Drift and the run report over the trained models (trained once here for both).
    check_drift_and_report_after_training(rt, day)


def test_train_churn_registers_a_calibrated_model_judged_on_a_later_cutoff(spark, lake, config, tmp_path):
    """Examples of two cutoffs drawn from a known process: trained on one, judged on the other, gated."""
    from jobs.customers import train_churn
    from jobs.customers.gold import CHURN_EXAMPLES
    from tests.test_customers_churn import _examples

    horizon = config.customers.churn.horizon_days
    parts = []
    for role, n, seed, horizons in (("train", 3000, 1, 2), ("test", 2000, 2, 1)):
        parts.append(_examples(n, seed).assign(cutoff_role=role, as_of_date=DAY,
                                               cutoff_date=DAY - dt.timedelta(days=horizons * horizon)))
    lake.overwrite(spark.createDataFrame(pd.concat(parts, ignore_index=True)), CHURN_EXAMPLES)
    mlflow = dataclasses.replace(config.mlflow, tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                                 artifact_root=str(tmp_path / "artifacts"))
    rt = runtime_for(dataclasses.replace(config, mlflow=mlflow), lake)

    first = train_churn.run(rt, Days.of(DAY))
    assert first.promoted and first.model_version == "c360_churn/1"
    assert (first.train_customers, first.test_customers) == (3000, 2000)
    assert first.roc_auc > 0.8 and first.roc_auc > max(first.recency_roc_auc, first.p_alive_roc_auc)
    assert first.calibration_error < 0.06
    import mlflow as mlflow_module

    served = mlflow_module.pyfunc.load_model("models:/c360_churn@champion")
    out = served.predict(_examples(20, 3).drop(columns=["churned"]))
    assert list(out.columns) == ["customer_key", "churn_probability", "churn_risk_band", "churn_drivers"]
    assert out["churn_risk_band"].isin(["low", "medium", "high"]).all()
    second = train_churn.run(rt, Days.of(DAY))
    assert not second.promoted and second.champion_pr_auc == pytest.approx(first.pr_auc)
    assert models.champion("c360_churn").version == "1"


def _behaviour_features(spark, day: dt.date, seed: int):
    """gold.customer_features-shaped rows: four kinds of customer, well apart, plus noise; 50 without a purchase."""
    rng = np.random.default_rng(seed)
    kinds = [  # recency, orders, spend, tenure, store share, top category
        (200, 2, 60, 500, 0.5, "Toys"), (10, 20, 2000, 700, 0.9, "Grocery"),
        (15, 6, 300, 40, 0.1, "Fashion"), (60, 8, 900, 600, 0.2, "Electronics")]
    rows = []
    for i in range(1200):
        recency, orders, spend, tenure, store, top = kinds[i % 4]
        shares = {top: 0.7, "Home": 0.3}
        rows.append((f"K{i:05d}", int(max(1, orders + rng.integers(-1, 2))), float(spend * rng.uniform(0.8, 1.2)),
                     int(recency * rng.uniform(0.8, 1.2)), int(tenure * rng.uniform(0.9, 1.1)),
                     float(np.clip(store + rng.normal(0, 0.05), 0, 1)), 0.0, float(rng.uniform(0.1, 0.3)),
                     int(rng.integers(0, 5)), shares, True, day))
    rows += [(f"N{i:03d}", 0, 0.0, None, 0, None, None, None, 0, None, True, day) for i in range(50)]
    # Unlinked till receipts: a purchase each, nobody's behaviour; segments leave them out.
    rows += [(f"R{i:03d}", 1, 20.0, 30, 30, 1.0, 0.0, 0.0, 0, {"Grocery": 1.0}, False, day) for i in range(40)]
    return spark.createDataFrame(rows, "customer_key string, orders bigint, net_spend double, "
                                       "days_since_last_purchase int, tenure_days int, channel_share_store double, "
                                       "channel_share_app double, email_open_rate_90d double, web_sessions_90d bigint, "
                                       "category_shares map<string,double>, identified boolean, as_of_date date")


def test_train_segments_names_profiles_and_keeps_cluster_ids_across_retrains(spark, lake, config, tmp_path):
    from jobs.customers import train_segments
    from jobs.customers.gold import FEATURES, SEGMENT_PROFILES

    mlflow = dataclasses.replace(config.mlflow, tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                                 artifact_root=str(tmp_path / "artifacts"))
    customers = dataclasses.replace(config.customers, segments=dataclasses.replace(
        config.customers.segments, k_min=3, k_max=5))
    rt = runtime_for(dataclasses.replace(config, mlflow=mlflow, customers=customers), lake)
    lake.overwrite(_behaviour_features(spark, DAY, seed=1), FEATURES)

    first = train_segments.run(rt, Days.of(DAY))
    assert first.promoted and first.k == 4 and first.customers == 1200 and not first.warm_start
    assert set(first.silhouette_by_k) == set(first.davies_bouldin_by_k) == {"3", "4", "5"}
    assert first.silhouette_by_k["4"] == max(first.silhouette_by_k.values())
    assert first.davies_bouldin_by_k["4"] == min(first.davies_bouldin_by_k.values())
    names = [key.split(" ", 1)[1] for key in first.clusters]
    assert len(set(names)) == 4 and all(n for n in names)
    assert any(n.startswith("Lapsed") for n in names) and any("grocery regulars" in n for n in names)
    profiles = lake.read(SEGMENT_PROFILES)
    assert profiles.count() == 4 and profiles.agg(F.sum("customers")).first()[0] == 1200
    assert profiles.where(F.col("top_categories")[0] == "Grocery").count() == 1

    # Next week: the same kinds of customer, new noise. The ids follow the clusters.
    week = DAY + dt.timedelta(days=7)
    lake.overwrite(_behaviour_features(spark, week, seed=2), FEATURES)
    second = train_segments.run(rt, Days.of(week))
    assert second.warm_start and second.k == 4  # from the champion's centroids; every k still reported
    assert set(second.silhouette_by_k) == {"3", "4", "5"}
    assert second.stability >= 0.8
    assert sorted(second.clusters) == sorted(first.clusters)  # the same ids with the same names
    before = models.champion("c360_segments").version
    third = train_segments.run(rt, Days.of(week))  # the same data again: no better, the alias stays
    assert not third.promoted and third.stability == pytest.approx(1.0)
    assert models.champion("c360_segments").version == before
