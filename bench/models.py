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
2. Generator truth: 20 k persons over two years plus 90 days the pipeline never sees.
   The two years go through the landing contract like a user's files (ingest, silver,
   identities, features); the three models train as of a week before the last day and
   as of the last day (`train_clv`, `train_churn`, `train_segments`, each judged by its
   own held-out figures), and `score_customers` scores as of the last day. The scores
   are then judged on the generator's truth of the next 90 days (`truth/purchases`, the
   purchases the pipeline can attribute: orders, and till receipts with a loyalty card or
   an email; an unlinked receipt is nobody's purchase to the pipeline):
   expected purchases against each person's actual purchase days and the naive rate
   baseline, churn probability against "no purchase in those 90 days" with the two
   baselines (days since the last purchase; 1 - P(alive)), and with the ceiling of
   `bench/churn_ceiling.py`: the ROC AUC of an oracle that knows each person's rates
   and churn date (no model can beat it; purchases are random even for the oracle).
   Segment stability is the adjusted Rand index between the two weekly retrains on the
   same customers.
3. Scale: the gold tables of step 2 copied to 1 M customers in a second lake (each customer repeated under new keys), then the
   three models trained (seconds and peak memory of the driver and of the Spark JVM per
   model) and every customer scored (`score_customers`: lifetime value, churn with
   drivers and segments), timed end to end.

`--scale N` sets the persons of step 2 (default 20 000); step 3 always scores 1 M customers.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from jobs.common.bench import Figures, peak_rss_mb, reset_peak_rss
from jobs.common.config import Config, load_config
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


TRUTH_PERSONS = 20_000
TRUTH_START = dt.date(2024, 10, 1)
HISTORY_DAYS = 730
TRUTH_SEED = 11
FUTURE_DAYS = 90
SCALE_CUSTOMERS = 1_000_000  # step 3's customers, whatever the persons of step 2
MODEL_STAGES = ("train_clv", "train_churn", "train_segments")
SCALED_TABLES = ("gold.customer_purchase_summary", "gold.customer_purchase_holdout", "gold.customer_churn_examples",
                 "gold.customer_churn_features", "gold.customer_features", "gold.customer_rfm")


def _lake_config(base: Config, root: Path, landing: Path | None = None) -> Config:
    """`base` with its lake (and MLflow inside it) at `root`."""
    config = dataclasses.replace(
        base, lake=dataclasses.replace(base.lake, root=str(root)),
        identity=dataclasses.replace(base.identity, model_dir=str(root / "_models" / "identity")),
        mlflow=dataclasses.replace(base.mlflow, tracking_uri=f"sqlite:///{root}/_mlflow/mlflow.db", registry_uri="",
                                   artifact_root=str(root / "_mlflow" / "artifacts")),
    )
    if landing is not None:
        config = dataclasses.replace(config, landing=dataclasses.replace(base.landing, uri=str(landing)))
    return config


def _jvm_pid(rt) -> int:
    return int(rt.spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())


def _train_all(rt, day: dt.date, figures: Figures, tag: str, log) -> dict:
    """The three training stages as of `day`; their reports by stage name, seconds and peak memory in `figures`."""
    from jobs import pipeline
    from jobs.common.stage import Days

    reports = {}
    jvm = _jvm_pid(rt)
    for name in MODEL_STAGES:
        reset_peak_rss()
        reset_peak_rss(jvm)
        began = time.perf_counter()
        reports[name] = pipeline.stage(name).run(rt, Days.of(day))
        figures[f"{tag}_{name}_s"] = round(time.perf_counter() - began, 1)
        figures[f"{tag}_{name}_peak_rss_mb_python"] = round(peak_rss_mb())
        figures[f"{tag}_{name}_peak_rss_mb_spark_jvm"] = round(peak_rss_mb(jvm))
        log(f"{tag}: {name} as of {day} in {figures[f'{tag}_{name}_s']} s")
    return reports


def generator_truth(base: Config, scratch: Path, persons: int = TRUTH_PERSONS, log=print):
    """Figures of step 2, and the runtime and last day (step 3 copies its gold tables)."""
    from pyspark.sql import functions as F
    from sklearn.metrics import average_precision_score, roc_auc_score

    from bench import churn_ceiling
    from bench.features import key_persons
    from bench.identity import _truth
    from jobs import pipeline
    from jobs.common import runtime
    from jobs.common.stage import Days
    from jobs.customers.gold import CHURN_FEATURES, SCORES, SUMMARY
    from jobs.generate.main import generate
    from jobs.identity.main import MAP

    out = scratch / "gen"
    last = TRUTH_START + dt.timedelta(days=HISTORY_DAYS - 1)
    began = time.perf_counter()
    generate(out, persons, HISTORY_DAYS + FUTURE_DAYS, seed=TRUTH_SEED, start=TRUTH_START,
             rates=base.generator.rates("default"), log=lambda *_: None)
    figures: Figures = {"truth_persons": persons, "truth_history_days": HISTORY_DAYS,
                        "truth_generate_s": round(time.perf_counter() - began, 1)}
    log(f"truth: generated {persons:,} persons x {HISTORY_DAYS + FUTURE_DAYS} days "
        f"({figures['truth_generate_s']} s); the pipeline reads {TRUTH_START} .. {last}")
    config = _lake_config(base, scratch / "lake", out / "landing")
    rt = runtime.start(config=config, app_name="c360 bench models")
    began = time.perf_counter()
    for name in ("ingest", "silver"):
        pipeline.stage(name).run(rt, Days.of(TRUTH_START, last))
    pipeline.stage("resolve_identities").run(rt, Days.of(last))
    figures["truth_load_s"] = round(time.perf_counter() - began, 1)
    log(f"truth: ingest, silver and identities in {figures['truth_load_s']} s")

    week_before = last - dt.timedelta(days=7)
    for day in (week_before, last):
        began = time.perf_counter()
        pipeline.stage("build_features").run(rt, Days.of(day), docs=False)
        pipeline.stage("build_training_features").run(rt, Days.of(day))
        log(f"truth: features and training marts as of {day} in {time.perf_counter() - began:.0f} s")
        reports = _train_all(rt, day, figures, "truth", log)
    pipeline.stage("score_customers").run(rt, Days.of(last))

    clv_r, churn_r, seg_r = (reports[n] for n in MODEL_STAGES)
    figures.update({
        "truth_clv_customers": clv_r.customers, "truth_clv_holdout_mae": round(clv_r.holdout_mae, 4),
        "truth_clv_holdout_naive_mae": round(clv_r.naive_mae, 4),
        "truth_clv_holdout_aggregate_error_pct": round(100 * (clv_r.aggregate_error or 0.0), 2),
        "truth_churn_test_customers": churn_r.test_customers, "truth_churn_test_rate": round(churn_r.churn_rate, 4),
        "truth_churn_test_roc_auc": round(churn_r.roc_auc, 4), "truth_churn_test_pr_auc": round(churn_r.pr_auc, 4),
        "truth_churn_test_f1": round(churn_r.f1, 4), "truth_churn_test_threshold": round(churn_r.threshold, 4),
        "truth_churn_test_calibration_error": round(churn_r.calibration_error, 4),
        "truth_churn_test_recency_roc_auc": round(churn_r.recency_roc_auc, 4),
        "truth_churn_test_p_alive_roc_auc": round(churn_r.p_alive_roc_auc, 4),
        "truth_churn_test_calibration_table": [{k: round(v, 4) if isinstance(v, float) else v for k, v in b.items()}
                                               for b in churn_r.calibration],
        "truth_segments_customers": seg_r.customers, "truth_segments_k": seg_r.k,
        **{f"truth_segments_silhouette_k{k}": round(v, 4) for k, v in seg_r.silhouette_by_k.items()},
        **{f"truth_segments_davies_bouldin_k{k}": round(v, 4) for k, v in seg_r.davies_bouldin_by_k.items()},
        "truth_segments_weekly_ari": None if seg_r.stability is None else round(seg_r.stability, 4),
        "truth_segments_clusters": seg_r.clusters,
    })
    log(f"truth: churn on the test cutoff ({churn_r.test_customers:,} customers): ROC AUC {churn_r.roc_auc:.4f} "
        f"(days since the last purchase {churn_r.recency_roc_auc:.4f}, 1 - P(alive) {churn_r.p_alive_roc_auc:.4f}), "
        f"PR AUC {churn_r.pr_auc:.4f}, F1 {churn_r.f1:.4f} at {churn_r.threshold:.4f}; calibration:")
    log("probability  customers  predicted  observed")
    for b in churn_r.calibration:
        log(f"{b['probability']:>11}  {b['customers']:>9}  {b['predicted']:>9.3f}  {b['observed']:>8.3f}")

    # The next 90 days, which the pipeline never read: each person's purchase days.
    truth, _ = _truth(rt.spark, out / "truth")
    owner = key_persons(rt.lake.read(MAP), truth)
    future_end = last + dt.timedelta(days=FUTURE_DAYS)
    # What the pipeline will be able to attribute: every order (it carries an email or an account),
    # and the till receipts that carry a loyalty card or an email (read from the future's files).
    days_after = [last + dt.timedelta(days=n) for n in range(1, FUTURE_DAYS + 1)]
    receipts = (rt.spark.read.option("header", True)
                .csv([str(out / "landing" / "pos_transactions" / f"ds={d}") for d in days_after])
                .where(F.col("loyalty_id").isNotNull() | F.col("receipt_email").isNotNull())
                .select(F.col("transaction_id").alias("purchase_id")).distinct())
    purchases = rt.spark.read.parquet(str(out / "truth" / "purchases")).where(
        (F.col("purchase_date") > F.lit(last)) & (F.col("purchase_date") <= F.lit(future_end)))
    attributable = purchases.where(F.col("channel") != "store").unionByName(
        purchases.join(receipts, "purchase_id", "left_semi"))
    future = attributable.groupBy("person_id").agg(F.countDistinct("purchase_date").alias("actual"))
    summary = rt.lake.read(SUMMARY).select(
        "customer_key", (F.when(F.col("t_days") > 0, F.col("frequency") / F.col("t_days")).otherwise(0.0)
                         * F.lit(float(FUTURE_DAYS))).alias("naive"))
    current = rt.lake.read(CHURN_FEATURES).select("customer_key", "recency_days")
    scored = (rt.lake.read(SCORES).where(F.col("run_date") == F.lit(last))
              .select("customer_key", "expected_purchases_90d", "p_alive", "churn_probability")
              .join(summary, "customer_key").join(owner, "customer_key"))
    per_person = (scored.groupBy("person_id").agg(F.sum("expected_purchases_90d").alias("predicted"),
                                                  F.sum("naive").alias("naive"))
                  .join(future, "person_id", "left").fillna({"actual": 0}).toPandas())
    actual = per_person["actual"].to_numpy(dtype=float)
    predicted = per_person["predicted"].to_numpy(dtype=float)
    figures.update({
        "truth_future_persons": len(per_person), "truth_future_actual": int(actual.sum()),
        "truth_future_predicted": round(float(predicted.sum()), 1),
        "truth_future_aggregate_error_pct": round(100 * (predicted.sum() / actual.sum() - 1), 2),
        "truth_future_mae_bgnbd": round(float(np.abs(predicted - actual).mean()), 4),
        "truth_future_mae_naive_rate": round(float(np.abs(per_person["naive"].to_numpy() - actual).mean()), 4),
    })
    churn = (scored.join(current, "customer_key").where(F.col("churn_probability").isNotNull())
             .join(owner.join(future, "person_id", "left"), ["customer_key", "person_id"])
             .select("churn_probability", "p_alive", "recency_days", F.col("actual").isNull().alias("churned"))
             .toPandas())
    y = churn["churned"].to_numpy(dtype=int)
    for name, score in (("model", churn["churn_probability"]), ("recency", churn["recency_days"]),
                        ("p_alive", 1.0 - churn["p_alive"])):
        figures[f"truth_future_churn_{name}_roc_auc"] = round(float(roc_auc_score(y, score)), 4)
        figures[f"truth_future_churn_{name}_pr_auc"] = round(float(average_precision_score(y, score)), 4)
    figures["truth_future_churn_customers"] = len(churn)
    figures["truth_future_churn_rate"] = round(float(y.mean()), 4)
    # What a model knowing each person's rates and churn date would reach on the same persons.
    best = churn_ceiling.ceiling(base.generator.rates("default"), persons, HISTORY_DAYS, FUTURE_DAYS,
                                 TRUTH_START, seed=TRUTH_SEED)
    figures["truth_future_churn_ceiling_roc_auc"] = round(best["oracle_roc_auc"], 4)
    figures["truth_future_churn_ceiling_recency_roc_auc"] = round(best["recency_roc_auc"], 4)
    log(f"truth: next {FUTURE_DAYS} days: {figures['truth_future_actual']} purchase days, predicted "
        f"{figures['truth_future_predicted']}; churn ROC AUC {figures['truth_future_churn_model_roc_auc']} "
        f"(an oracle knowing each person: {figures['truth_future_churn_ceiling_roc_auc']})")
    return figures, rt, last


def scale_figures(base: Config, scratch: Path, source, day: dt.date, customers: int, log=print) -> Figures:
    """Step 3: the gold tables of `source` (a runtime) copied to `customers` customers; train and score."""
    from pyspark.sql import functions as F

    from jobs import pipeline
    from jobs.common import runtime
    from jobs.common.lake import Lake
    from jobs.common.stage import Days

    base_customers = source.lake.read(SCALED_TABLES[0]).count()
    copies = max(1, math.ceil(customers / base_customers))
    frames = {}
    for table in SCALED_TABLES:
        rows = source.lake.read(table).crossJoin(source.spark.range(copies).withColumnRenamed("id", "_copy"))
        key = F.when(F.col("_copy") == 0, F.col("customer_key")).otherwise(
            F.concat_ws("-", "customer_key", F.col("_copy").cast("string")))
        frames[table] = rows.withColumn("customer_key", key).drop("_copy")
    tag = f"scale_{customers // 1000}k"
    config = _lake_config(base, scratch / "scale_lake")
    target = Lake(source.spark, config.lake)
    began = time.perf_counter()
    for table, rows in frames.items():
        target.overwrite(rows, table, metadata="bench models")
    figures: Figures = {f"{tag}_customers": target.read(SCALED_TABLES[0]).count(),
                        f"{tag}_copy_s": round(time.perf_counter() - began, 1)}
    source.spark.stop()
    rt = runtime.start(config=config, app_name="c360 bench models (scale)")
    _train_all(rt, day, figures, tag, log)
    jvm = _jvm_pid(rt)
    reset_peak_rss()
    reset_peak_rss(jvm)
    began = time.perf_counter()
    report = pipeline.stage("score_customers").run(rt, Days.of(day))
    figures[f"{tag}_score_customers_s"] = round(time.perf_counter() - began, 1)
    figures[f"{tag}_scored_customers"] = report.scored_customers
    figures[f"{tag}_segmented_customers"] = report.segmented_customers
    figures[f"{tag}_score_peak_rss_mb_python"] = round(peak_rss_mb())
    figures[f"{tag}_score_peak_rss_mb_spark_jvm"] = round(peak_rss_mb(jvm))
    log(f"{tag}: scored {report.scored_customers:,} customers in {figures[f'{tag}_score_customers_s']} s")
    rt.spark.stop()
    return figures


def run(scale: int | None = None, profile: str | None = None) -> Figures:
    figures = cdnow()
    base = load_config(profile)
    scratch = Path(tempfile.mkdtemp(prefix="c360-bench-models-"))
    try:
        persons = scale or TRUTH_PERSONS
        truth, rt, last = generator_truth(base, scratch, persons)
        figures.update(truth)
        print(json.dumps(truth), flush=True)  # step 2's figures, before the long step 3
        figures.update(scale_figures(base, scratch, rt, last, SCALE_CUSTOMERS))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return figures
