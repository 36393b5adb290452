"""`c360 bench recs [--scale N]`: the recommender on a temporal holdout, against its baselines.

It generates N persons (default 20 k) x 60 days of the default setting, loads them
(ingest -> silver), resolves identities and builds the feature layer as of the last
day D (and as of D-7 and D-14, the cutoffs, so RFM segments are known at each), then
trains as `c360 train-recommender --date D` does: the search on the validation week,
the final model up to D-7, and every method scored on the holdout week (D-7, D]:

- `hybrid`: what is served (ALS fold-in, content and segment fallbacks, business rules);
- `als`: Spark ALS's own top 10 for the customers it was trained on;
- `popular`: the ten most popular sellable products, for everyone;
- `implicit`: the `implicit` library's ALS, its own pick of the same grid on the same
  validation week, ranking every product.

It prints precision, recall, NDCG, MAP at 10 and catalog coverage per method, the
cold-start share of the holdout's buyers, training and search times, then times
`score-recommendations` for every customer as of D. MLflow runs go to a scratch store.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

from bench.identity import _config, _load
from jobs import pipeline
from jobs.common import runtime
from jobs.common.bench import Figures, peak_rss_mb
from jobs.common.config import load_config
from jobs.common.stage import Days
from jobs.generate.main import generate

DEFAULT_SCALE = 20_000
DAYS = 60
START = dt.date(2026, 9, 1)
METHODS = ("hybrid", "als", "popular", "implicit")


def run(scale: int | None = None, profile: str | None = None) -> Figures:
    import mlflow

    base = load_config(profile)
    persons = scale or DEFAULT_SCALE
    scratch = Path(tempfile.mkdtemp(prefix="c360-bench-recs-"))
    last = START + dt.timedelta(days=DAYS - 1)
    tag = f"{persons // 1000}k"
    try:
        out = scratch / "gen"
        generate(out, persons, DAYS, seed=7, start=START, rates=base.generator.rates("default"), log=lambda *_: None)
        config = _config(base, scratch / "lake", out / "landing")
        config = dataclasses.replace(config, mlflow=dataclasses.replace(
            config.mlflow, tracking_uri=f"sqlite:///{scratch}/mlflow/mlflow.db",
            artifact_root=str(scratch / "mlflow" / "artifacts")))
        rt = runtime.start(config=config, app_name="c360 bench recs")
        began = time.perf_counter()
        _load(rt, config, START, last)
        pipeline.stage("resolve_identities").run(rt, Days.of(last))
        holdout = config.recommend.holdout_days
        for back in (2 * holdout, holdout, 0):
            pipeline.stage("build_features").run(rt, Days.of(last - dt.timedelta(days=back)), docs=False)
        figures: Figures = {f"{tag}_prepare_s": round(time.perf_counter() - began, 1)}

        began = time.perf_counter()
        report = pipeline.stage("train_recommender").run(rt, Days.of(last), compare_implicit=True)
        figures[f"{tag}_train_recommender_s"] = round(time.perf_counter() - began, 1)
        metrics = mlflow.get_run(report.run_id).data.metrics
        k = config.recommend.eval_k
        for method in METHODS:
            for name in ("precision", "recall", "ndcg", "map"):
                figures[f"{method}_{name}_at_{k}"] = round(metrics[f"{method}_{name}_at_{k}"], 4)
            figures[f"{method}_coverage"] = round(metrics[f"{method}_coverage"], 3)
        figures["hybrid_ndcg_lift_over_popular"] = round(
            metrics[f"hybrid_ndcg_at_{k}"] / metrics[f"popular_ndcg_at_{k}"] - 1, 3)
        figures["hybrid_ndcg_over_implicit"] = round(metrics[f"hybrid_ndcg_at_{k}"] / metrics[f"implicit_ndcg_at_{k}"], 3)
        figures["holdout_customers"] = int(metrics["holdout_customers"])
        figures["cold_start_user_share"] = round(metrics["cold_start_user_share"], 3)
        figures["train_interactions"] = int(metrics["train_interactions"])
        figures["chosen_rank_reg_alpha"] = f"{report.rank} / {report.reg_param} / {report.alpha}"
        for name in ("search", "als_train", "implicit_search", "implicit_train", "popular_train", "hybrid_score"):
            figures[f"{name}_s"] = round(metrics[f"seconds_{name}"], 1)

        began = time.perf_counter()
        scored = pipeline.stage("score_recommendations").run(rt, Days.of(last))
        figures[f"{tag}_score_s"] = round(time.perf_counter() - began, 1)
        figures["scored_customers"] = scored.customers
        figures["scored_rows"] = scored.rows
        for source, n in sorted(scored.by_source.items()):
            figures[f"rows_{source}"] = n
        figures["peak_rss_mb_python"] = round(peak_rss_mb())
        jvm_pid = int(rt.spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
        figures["peak_rss_mb_spark_jvm"] = round(peak_rss_mb(jvm_pid))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return figures
