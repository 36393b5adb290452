"""The `run_report` stage (daily; also `c360 report --date D`): one HTML page per run day.

`<lake>/_reports/runs/<day>.html`, self-contained (plots inlined as PNG, styles inline:
it opens offline, from a mail attachment or a bucket). Sections, each from the lake's own
tables:

1. **Rows per layer**: landing (`ops.ingest_log`) -> bronze -> quarantine -> silver (the
   day's rows per source) -> gold (marts as of the day) -> serving (rows of the run_date);
2. **Quarantine**: the day's rejected rows per source and reason (`ops.quarantine`);
3. **Quality**: the gate's verdict per source, failed expectations (`ops.dq_results`);
4. **Stages**: every stage run for the day, its status and time (`ops.processing_log`);
5. **Identity**: the day's resolution (records, keys, merges, splits) and its trend
   (`ops.identity_runs`);
6. **RFM movements**: the transition matrix of RFM segments from the previous as-of day
   (`gold.customer_rfm_history`);
7. **Recommendations**: lists and rows per source, customers covered
   (`serving.recommendations`);
8. **Scores**: distributions of the 12-month value and the churn probability, churn bands
   (`serving.customer_scores`);
9. **Model metrics**: each training run's gate metric over time (MLflow);
10. **Drift**: the day's PSI per variable and its trend (`ops.drift`).

A section without data says why (e.g. no model trained yet) instead of a plot.
"""
from __future__ import annotations

import base64
import datetime as dt
import html
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import functions as F

from jobs.common import logs
from jobs.common.bronze import INGEST_LOG_TABLE, LOADED_OUTCOMES, QUARANTINE_TABLE
from jobs.common.files import write_text
from jobs.common.landing_contract import DAY_COLUMN, SOURCES
from jobs.common.runtime import Runtime
from jobs.common.stage import Days, StageReport

log = logging.getLogger(__name__)

DQ_RESULTS, PROCESSING_LOG, IDENTITY_RUNS, DRIFT = "ops.dq_results", "ops.processing_log", "ops.identity_runs", "ops.drift"
RFM_HISTORY = "gold.customer_rfm_history"
GOLD_SNAPSHOTS = ("gold.customer_360", "gold.customer_features", "gold.customer_rfm", "gold.product_features")
SERVING = ("serving.recommendations", "serving.customer_scores", "serving.customer_segments",
           "serving.customer_lookup", "serving.campaign_audiences")
# The metric each model's champion is chosen on, as its training runs log it.
GATE_METRICS = {"ndcg": "recommender NDCG@k (holdout)", "holdout_mae": "lifetime value holdout MAE",
                "pr_auc": "churn PR AUC (later cutoff)", "silhouette": "segments silhouette"}
SECTIONS = ("layers", "quarantine", "quality", "stages", "identity", "rfm", "recommendations", "scores", "models",
            "drift")


@dataclass
class Section:
    key: str
    title: str
    parts: list[str] = field(default_factory=list)  # HTML fragments: tables, images
    empty: str | None = None  # why there is nothing to show

    @property
    def has_data(self) -> bool:
        return bool(self.parts)


@dataclass(frozen=True)
class RunReport(StageReport):
    day: dt.date
    path: str
    sections_with_data: tuple[str, ...]
    sections_without_data: tuple[str, ...]
    images: int
    seconds: float


def run(rt: Runtime, days: Days) -> RunReport:
    """Write the run report of the last of `days`; returns where it is and which sections have data."""
    import time

    began = time.perf_counter()
    day = days.last
    sections = []
    for build in (_layers, _quarantine, _quality, _stages, _identity, _rfm, _recommendations, _scores, _models,
                  _drift):
        with logs.step("run_report", f"{day}: {build.__name__.strip('_')}"):
            sections.append(build(rt, day))
    path = report_path(rt.config.lake.reports, day)
    page = render(day, sections)
    write_text(rt.spark, path, page)
    logs.PROGRESS.info("run report: %s", path)
    return RunReport(day, path, tuple(s.key for s in sections if s.has_data),
                     tuple(s.key for s in sections if not s.has_data), page.count("<img "),
                     round(time.perf_counter() - began, 1))


def report_path(reports_dir: str, day: dt.date) -> str:
    return f"{reports_dir.rstrip('/')}/runs/{day.isoformat()}.html"


# -- sections ---------------------------------------------------------------------------


def _layers(rt: Runtime, day: dt.date) -> Section:
    lake = rt.lake
    section = Section("layers", "Rows per layer")
    per_source: dict[str, dict[str, int]] = {s.name: {} for s in SOURCES}
    if lake.exists(INGEST_LOG_TABLE):
        # Each file's latest load of the day: its rows, and those that reached bronze.
        loads = (lake.read(INGEST_LOG_TABLE).where((F.col("ds") == F.lit(day)) & F.col("outcome").isin(*LOADED_OUTCOMES))
                 .groupBy("source").agg(F.sum("rows_in_file").alias("landing"), F.sum("rows_loaded").alias("bronze")))
        for r in loads.collect():
            per_source.setdefault(r["source"], {}).update(landing=int(r["landing"] or 0), bronze=int(r["bronze"] or 0))
    if lake.exists(QUARANTINE_TABLE):
        for r in (lake.read(QUARANTINE_TABLE).where(F.col(DAY_COLUMN) == F.lit(day)).groupBy("source")
                  .count().collect()):
            per_source.setdefault(r["source"], {})["quarantine"] = int(r["count"])
    for s in SOURCES:
        table = f"silver.{s.name}"
        if lake.exists(table) and DAY_COLUMN in lake.read(table).columns:
            per_source[s.name]["silver"] = lake.read(table).where(F.col(DAY_COLUMN) == F.lit(day)).count()
    rows = [(name, *(counts.get(k, 0) for k in ("landing", "bronze", "quarantine", "silver")))
            for name, counts in per_source.items() if counts]
    if rows:
        section.parts.append("<p class='muted'>Landing: rows in the day's files as loaded; bronze: rows loaded; "
                             "quarantined: rows rejected by ingest or by silver's rules; silver: rows the day "
                             "added (a source kept as history adds only its changes).</p>")
        section.parts.append(_table(("source", "landing rows", "bronze", "quarantined", "silver"), rows))
        section.parts.append(_bar_image([r[0] for r in rows], {"landing": [r[1] for r in rows],
                                                               "silver": [r[4] for r in rows]},
                                        "rows of the day per source", horizontal=True))
    downstream = []
    for table in GOLD_SNAPSHOTS:
        if lake.exists(table):
            downstream.append((table, lake.read(table).count(), "as of the day"))
    if lake.exists(RFM_HISTORY):
        downstream.append((RFM_HISTORY, lake.read(RFM_HISTORY).where(F.col("as_of_date") == F.lit(day)).count(),
                           "rows of the day"))
    for table in SERVING:
        if lake.exists(table):
            downstream.append((table, lake.read(table).where(F.col("run_date") == F.lit(day)).count(),
                               "rows of the run_date"))
    if downstream:
        section.parts.append(_table(("table", "rows", ""), downstream))
    if not section.parts:
        section.empty = "nothing has been ingested yet"
    return section


def _quarantine(rt: Runtime, day: dt.date) -> Section:
    section = Section("quarantine", "Quarantine")
    if not rt.lake.exists(QUARANTINE_TABLE):
        section.empty = "ops.quarantine does not exist yet: nothing was ever rejected"
        return section
    found = (rt.lake.read(QUARANTINE_TABLE).where(F.col(DAY_COLUMN) == F.lit(day))
             .groupBy("source", "reason").count().orderBy(F.col("count").desc()).limit(30).collect())
    if not found:
        section.parts.append("<p>No row of the day was quarantined.</p>")
        return section
    section.parts.append(_table(("source", "reason", "rows"), [(r["source"], r["reason"], r["count"]) for r in found]))
    return section


def _quality(rt: Runtime, day: dt.date) -> Section:
    section = Section("quality", "Quality gate")
    if not rt.lake.exists(DQ_RESULTS):
        section.empty = "the quality gate has not run yet"
        return section
    results = rt.lake.read(DQ_RESULTS).where(F.col("run_date") == F.lit(day))
    failed = F.col("success") == F.lit(False)
    per_source = (results.groupBy("source").agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.when(failed & (F.col("severity") == "error"), 1).otherwise(0)).alias("errors"),
        F.sum(F.when(failed & (F.col("severity") == "warn"), 1).otherwise(0)).alias("warnings"),
        F.sum(F.when(F.col("success").isNull(), 1).otherwise(0)).alias("skipped"),
        F.max("rows_validated").alias("rows")).orderBy("source").collect())
    if not per_source:
        section.empty = f"the quality gate did not run for {day}"
        return section
    section.parts.append(_table(
        ("source", "rows", "expectations", "errors failed", "warnings failed", "skipped", "status"),
        [(r["source"], r["rows"], r["n"], r["errors"], r["warnings"], r["skipped"],
          "failed" if r["errors"] else "passed") for r in per_source]))
    failures = (results.where(failed).select("source", "severity", "expectation_type", "column", "observed_value")
                .orderBy("severity", "source").limit(40).collect())
    if failures:
        section.parts.append(_table(("source", "severity", "expectation", "column", "observed"),
                                    [tuple(r) for r in failures]))
    return section


def _stages(rt: Runtime, day: dt.date) -> Section:
    section = Section("stages", "Stages")
    if not rt.lake.exists(PROCESSING_LOG):
        section.empty = "no stage has recorded a run yet"
        return section
    found = (rt.lake.read(PROCESSING_LOG).where(F.col("ds") == F.lit(day))
             .select("stage", "status", "seconds", "started_at", "error").orderBy("started_at").collect())
    if not found:
        section.empty = f"no stage ran for {day}"
        return section
    section.parts.append(_table(("stage", "status", "seconds", "started (UTC)", "error"),
                                [(r["stage"], r["status"], r["seconds"], r["started_at"], r["error"] or "")
                                 for r in found]))
    return section


def _identity(rt: Runtime, day: dt.date) -> Section:
    section = Section("identity", "Identity resolution")
    if not rt.lake.exists(IDENTITY_RUNS):
        section.empty = "identity resolution has not run yet"
        return section
    first = day - dt.timedelta(days=rt.config.report.trend_days)
    runs = (rt.lake.read(IDENTITY_RUNS).where(F.col("ds").between(F.lit(first), F.lit(day)))
            .orderBy("ds", "run_at").toPandas())
    if runs.empty:
        section.empty = f"identity resolution did not run in the {rt.config.report.trend_days} days to {day}"
        return section
    latest = runs.drop_duplicates("ds", keep="last")
    today = latest[latest["ds"] == day]
    shown = today if not today.empty else latest.tail(1)
    columns = ("ds", "mode", "profile_records", "records", "customer_keys", "new_records", "keys_merged",
               "keys_split", "oversized_clusters", "seconds")
    section.parts.append(_table(columns, shown[list(columns)].itertuples(index=False)))
    if len(latest) > 1:
        section.parts.append(_line_image(latest["ds"], {"customer keys": latest["customer_keys"]},
                                         "customer keys per day"))
        section.parts.append(_bar_image([str(d) for d in latest["ds"]],
                                        {"merged": latest["keys_merged"], "split": latest["keys_split"]},
                                        "keys merged and split per day"))
    return section


def _rfm(rt: Runtime, day: dt.date) -> Section:
    section = Section("rfm", "RFM segment movements")
    if not rt.lake.exists(RFM_HISTORY):
        section.empty = "gold.customer_rfm_history does not exist yet (the feature build has not run)"
        return section
    history = rt.lake.read(RFM_HISTORY)
    previous = history.where(F.col("as_of_date") < F.lit(day)).agg(F.max("as_of_date")).first()[0]
    now = history.where(F.col("as_of_date") == F.lit(day))
    if previous is None:
        sizes = now.groupBy("rfm_segment").count().orderBy(F.col("count").desc()).collect()
        if not sizes:
            section.empty = f"no customer in the RFM base on {day}"
            return section
        section.parts.append(f"<p>{day} is the first RFM day on record: the segments' sizes, to move from "
                             "on the next run.</p>")
        section.parts.append(_table(("segment", "customers"), [(r["rfm_segment"], r["count"]) for r in sizes]))
        section.parts.append(_bar_image([r["rfm_segment"] for r in sizes], {"customers": [r["count"] for r in sizes]},
                                        f"RFM segments on {day}", horizontal=True))
        return section
    now = history.where(F.col("as_of_date") == F.lit(day)).select("customer_key", F.col("rfm_segment").alias("to"))
    before = history.where(F.col("as_of_date") == F.lit(previous)).select("customer_key",
                                                                          F.col("rfm_segment").alias("from"))
    moves = (before.join(now, "customer_key", "full")
             .select(F.coalesce("from", F.lit("(not in the base)")).alias("from"),
                     F.coalesce("to", F.lit("(left the base)")).alias("to"))
             .groupBy("from", "to").count().toPandas())
    if moves.empty:
        section.empty = f"no customer in the RFM base on {previous} or {day}"
        return section
    matrix = moves.pivot_table(index="from", columns="to", values="count", fill_value=0, aggfunc="sum")
    section.parts.append(f"<p>From {previous} (rows) to {day} (columns); customers who changed segment: "
                         f"{int(moves[moves['from'] != moves['to']]['count'].sum()):,} of "
                         f"{int(moves['count'].sum()):,}.</p>")
    section.parts.append(_table(("from \\ to", *matrix.columns),
                                [(idx, *(int(v) for v in row)) for idx, row in zip(matrix.index, matrix.values,
                                                                                   strict=True)]))
    section.parts.append(_heatmap_image(matrix, f"RFM segment transitions {previous} -> {day}"))
    return section


def _recommendations(rt: Runtime, day: dt.date) -> Section:
    section = Section("recommendations", "Recommendations")
    table = "serving.recommendations"
    if not rt.lake.exists(table):
        section.empty = "serving.recommendations does not exist yet"
        return section
    rows = rt.lake.read(table).where(F.col("run_date") == F.lit(day))
    per_source = rows.groupBy("source").agg(F.count(F.lit(1)).alias("rows"),
                                            F.countDistinct("customer_key").alias("customers")).collect()
    if not per_source:
        section.empty = f"no recommendations for {day}"
        return section
    covered = rows.select("customer_key").distinct().count()
    base = (rt.lake.read("gold.customer_360").count() if rt.lake.exists("gold.customer_360") else None)
    versions = [r[0] for r in rows.select("model_version").distinct().collect()]
    coverage = f"{covered:,} customers with a list" + (f" of {base:,} in gold.customer_360 ({covered / base:.1%})"
                                                       if base else "")
    section.parts.append(f"<p>{html.escape(coverage)}; model: "
                         f"{html.escape(', '.join(str(v) for v in versions if v) or 'none yet (content and popularity)')}"
                         "</p>")
    section.parts.append(_table(("source", "rows", "customers"), [(r["source"], r["rows"], r["customers"])
                                                                  for r in per_source]))
    section.parts.append(_bar_image([r["source"] for r in per_source], {"rows": [r["rows"] for r in per_source]},
                                    "recommended products per source"))
    return section


def _scores(rt: Runtime, day: dt.date) -> Section:
    section = Section("scores", "Scores and churn bands")
    table = "serving.customer_scores"
    if not rt.lake.exists(table):
        section.empty = "serving.customer_scores does not exist yet: no lifetime value or churn model has scored"
        return section
    scores = (rt.lake.read(table).where(F.col("run_date") == F.lit(day))
              .select("clv_12m", "churn_probability", "churn_risk_band").toPandas())
    if scores.empty:
        section.empty = f"no scores for {day}: no lifetime value or churn model has a champion yet"
        return section
    bands = scores["churn_risk_band"].fillna("(not active)").value_counts()
    section.parts.append(_table(("churn risk band", "customers"), list(bands.items())))
    section.parts.append(_hist_image({"clv_12m": scores["clv_12m"].dropna(),
                                      "churn_probability": scores["churn_probability"].dropna()},
                                     "score distributions"))
    return section


def _models(rt: Runtime, day: dt.date) -> Section:
    section = Section("models", "Model metrics over time")
    try:
        runs = _training_runs(rt, day)
    except Exception as exc:  # the report is written even when MLflow cannot be read
        section.empty = f"MLflow could not be read: {exc}"
        return section
    if not runs:
        section.empty = "no model has been trained yet (c360_train)"
        return section
    section.parts.append(_table(("metric", "runs", "latest", "best"),
                                [(GATE_METRICS[m], len(v), f"{v[-1][1]:.4f}",
                                  f"{(min if m == 'holdout_mae' else max)(x for _, x in v):.4f}")
                                 for m, v in runs.items()]))
    for metric, values in runs.items():
        section.parts.append(_line_image([t for t, _ in values], {GATE_METRICS[metric]: [x for _, x in values]},
                                         GATE_METRICS[metric], markers=True))
    return section


def _training_runs(rt: Runtime, day: dt.date) -> dict[str, list[tuple[Any, float]]]:
    import mlflow

    from jobs.common import models

    found: dict[str, list[tuple[Any, float]]] = {}
    for experiment in dict.fromkeys((rt.config.recommend.experiment, rt.config.customers.experiment)):
        experiment_id = models.connect(rt.config, experiment)
        runs = mlflow.search_runs([experiment_id], order_by=["attributes.start_time ASC"])
        for metric in GATE_METRICS:
            column = f"metrics.{metric}"
            if column not in runs.columns:
                continue
            for _, r in runs[runs[column].notna()].iterrows():
                found.setdefault(metric, []).append((r["start_time"], float(r[column])))
    return found


def _drift(rt: Runtime, day: dt.date) -> Section:
    section = Section("drift", "Drift (population stability index)")
    if not rt.lake.exists(DRIFT):
        section.empty = "ops.drift does not exist yet (monitor_drift has not run)"
        return section
    first = day - dt.timedelta(days=rt.config.report.trend_days)
    drift = rt.lake.read(DRIFT).where(F.col("run_date").between(F.lit(first), F.lit(day))).toPandas()
    today = drift[drift["run_date"] == day]
    if today.empty:
        section.empty = f"nothing measured for {day}: no model scored yet, or monitor_drift did not run"
        return section
    threshold = float(today["threshold"].iloc[0])
    section.parts.append(f"<p>Threshold {threshold:g}: above it a variable has drifted.</p>")
    section.parts.append(_table(("kind", "variable", "PSI", "reference day", "rows", "reference rows", "model",
                                 "drifted"),
                                today[["kind", "name", "psi", "reference_date", "rows", "reference_rows",
                                       "model_version", "drifted"]].itertuples(index=False)))
    section.parts.append(_bar_image(list(today["name"]), {"PSI": list(today["psi"])}, "PSI of the day",
                                    horizontal=True, threshold=threshold))
    if drift["run_date"].nunique() > 1:
        trend = drift.pivot_table(index="run_date", columns="name", values="psi", aggfunc="last").sort_index()
        section.parts.append(_line_image(list(trend.index), {c: list(trend[c]) for c in trend.columns},
                                         "PSI over time", threshold=threshold))
    return section


# -- rendering -----------------------------------------------------------------------------


def render(day: dt.date, sections: Sequence[Section]) -> str:
    """The page: a header, a table of contents, each section (or why it is empty)."""
    esc = html.escape
    toc = "".join(f"<li><a href='#{s.key}'>{esc(s.title)}</a>{'' if s.has_data else ' (no data)'}</li>"
                  for s in sections)
    body = []
    for s in sections:
        body.append(f"<section id='{s.key}'><h2>{esc(s.title)}</h2>")
        body += s.parts or [f"<p class='muted'>{esc(s.empty or 'no data')}</p>"]
        body.append("</section>")
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        "<!DOCTYPE html>",
        f"<html lang='en'><head><meta charset='utf-8'><title>c360 run report {day}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>c360 run report: {day}</h1>",
        f"<p class='muted'>Generated {generated} from the lake's tables.</p>",
        f"<nav><ol>{toc}</ol></nav>",
        *body,
        "</body></html>",
    ]) + "\n"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2.2rem; border-bottom: 2px solid #eee; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.85rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; margin: 0.4rem 0; border: 1px solid #eee; }
.muted { color: #777; } nav ol { columns: 2; }
"""


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, int):
        return f"<td class='num'>{value:,}</td>"
    if isinstance(value, float):
        return f"<td class='num'>{value:,.4g}</td>"
    if hasattr(value, "item"):  # numpy scalars
        return _cell(value.item())
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def _table(header: Sequence[str], rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure(width: float = 8, height: float = 3.2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=90)
    return plt, fig, ax


def _image(plt, fig, title: str) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f"<img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>"


def _bar_image(labels: Sequence[str], series: dict[str, Sequence[float]], title: str, horizontal: bool = False,
               threshold: float | None = None) -> str:
    import numpy as np

    plt, fig, ax = _figure(height=max(3.0, 0.28 * len(labels) + 1) if horizontal else 3.2)
    positions = np.arange(len(labels))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        offset = positions + i * width - 0.4 + width / 2
        (ax.barh if horizontal else ax.bar)(offset, list(values), width, label=name)
    if horizontal:
        ax.set_yticks(positions, labels)
        ax.invert_yaxis()
        if threshold is not None:
            ax.axvline(threshold, color="#c62828", linestyle="--", label="threshold")
    else:
        ax.set_xticks(positions, labels, rotation=30, ha="right")
    if len(series) > 1 or threshold is not None:
        ax.legend()
    ax.set_title(title)
    return _image(plt, fig, title)


def _line_image(x: Sequence[Any], series: dict[str, Sequence[float]], title: str, markers: bool = False,
                threshold: float | None = None) -> str:
    plt, fig, ax = _figure()
    for name, values in series.items():
        ax.plot(list(x), list(values), marker="o" if markers or len(x) < 3 else None, label=name)
    if threshold is not None:
        ax.axhline(threshold, color="#c62828", linestyle="--", label="threshold")
    ax.legend(fontsize="small")
    ax.set_title(title)
    fig.autofmt_xdate()
    return _image(plt, fig, title)


def _hist_image(series: dict[str, Any], title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(series), figsize=(8, 3), dpi=90)
    for ax, (name, values) in zip(list(getattr(axes, "flat", [axes])), series.items(), strict=True):
        if len(values):
            ax.hist(values, bins=30, color="#4c72b0")
        ax.set_title(f"{name} ({len(values):,})")
    fig.suptitle(title)
    return _image(plt, fig, title)


def _heatmap_image(matrix, title: str) -> str:
    plt, fig, ax = _figure(width=8, height=max(3.0, 0.4 * len(matrix.index) + 1.5))
    ax.imshow(matrix.values, cmap="Blues")
    ax.set_xticks(range(len(matrix.columns)), list(matrix.columns), rotation=35, ha="right", fontsize="small")
    ax.set_yticks(range(len(matrix.index)), list(matrix.index), fontsize="small")
    peak = matrix.values.max() or 1
    for i in range(len(matrix.index)):
        for j in range(len(matrix.columns)):
            value = int(matrix.values[i, j])
            if value:
                ax.text(j, i, f"{value:,}", ha="center", va="center", fontsize="x-small",
                        color="white" if value > peak / 2 else "black")
    ax.set_title(title)
    return _image(plt, fig, title)
