"""The `monitor_drift` stage (daily): how far the day's features and scores moved from their models' start.

For each variable below, the population stability index (PSI) of the day's values against a
reference day's:

| kind | variable | table | reference day |
|---|---|---|---|
| score | expected_purchases_90d, p_alive, clv_12m | serving.customer_scores | first day the current `clv_model_version` scored |
| score | churn_probability | serving.customer_scores | first day the current `churn_model_version` scored |
| score | top recommendation's score | serving.recommendations (rank 1) | first day the current `model_version` scored |
| score | cluster_id (categories) | serving.customer_segments | first day the current `segment_model_version` scored |
| feature | recency_days, frequency, monetary, rfm_segment | gold.customer_rfm_history | the churn model's (see below) |

A feature's reference day is the churn model's, else the lifetime value model's, else the
first day on record. The first day a model scores is the end of its training window: the population it was
trained on. A variable whose model has no champion yet, or without values on either day, is
left out.

PSI = sum over bins of (p_day - p_ref) * ln(p_day / p_ref), shares floored at 0.0001. A
numeric variable's bins are the reference's quantiles (`drift.bins`, fewer where values
repeat); a categorical one's are its values. Nulls are left out (a churn probability is null
for a customer not active).

Output: `ops.drift`, one row per variable per run_date (a rerun replaces the day): psi,
reference_date, rows on each day, the model version, threshold and `drifted`
(psi > `drift.psi_threshold`). Drift is a warning in the run's output, never an error.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common import logs
from jobs.common.lake import Lake
from jobs.common.runtime import Runtime
from jobs.common.stage import Days, StageReport

log = logging.getLogger(__name__)

DRIFT = "ops.drift"
DRIFT_DDL = ("run_date DATE, kind STRING, name STRING, source_table STRING, model_version STRING, "
             "reference_date DATE, psi DOUBLE, rows BIGINT, reference_rows BIGINT, bins INT, threshold DOUBLE, "
             "drifted BOOLEAN, computed_at TIMESTAMP")
FLOOR = 1e-4
SCORES, RECOMMENDATIONS, SEGMENTS = "serving.customer_scores", "serving.recommendations", "serving.customer_segments"
RFM_HISTORY = "gold.customer_rfm_history"


@dataclass(frozen=True)
class Variable:
    """One monitored variable: where it lives and which model's start is its reference."""

    kind: str  # feature | score
    name: str
    table: str
    column: str
    day_column: str
    version_column: str | None = None
    categorical: bool = False
    where: str | None = None  # rows of the table that hold the variable, e.g. "rank = 1"


SCORE_VARIABLES = (
    Variable("score", "expected_purchases_90d", SCORES, "expected_purchases_90d", "run_date", "clv_model_version"),
    Variable("score", "p_alive", SCORES, "p_alive", "run_date", "clv_model_version"),
    Variable("score", "clv_12m", SCORES, "clv_12m", "run_date", "clv_model_version"),
    Variable("score", "churn_probability", SCORES, "churn_probability", "run_date", "churn_model_version"),
    Variable("score", "recommendation_top_score", RECOMMENDATIONS, "score", "run_date", "model_version",
             where="rank = 1"),
    Variable("score", "cluster_id", SEGMENTS, "cluster_id", "run_date", "segment_model_version", categorical=True),
)
FEATURE_VARIABLES = (
    Variable("feature", "recency_days", RFM_HISTORY, "recency_days", "as_of_date"),
    Variable("feature", "frequency", RFM_HISTORY, "frequency", "as_of_date"),
    Variable("feature", "monetary", RFM_HISTORY, "monetary", "as_of_date"),
    Variable("feature", "rfm_segment", RFM_HISTORY, "rfm_segment", "as_of_date", categorical=True),
)


@dataclass(frozen=True)
class DriftRow:
    kind: str
    name: str
    source_table: str
    model_version: str | None
    reference_date: dt.date
    psi: float
    rows: int
    reference_rows: int
    bins: int


@dataclass(frozen=True)
class DriftReport(StageReport):
    day: dt.date
    monitored: int
    drifted: tuple[str, ...]
    highest: str | None
    skipped: tuple[str, ...]


def run(rt: Runtime, days: Days) -> DriftReport:
    """PSI of every monitored variable on the last of `days` against its reference day -> ops.drift."""
    lake, day, dc = rt.lake, days.last, rt.config.drift
    rows: list[DriftRow] = []
    skipped: list[str] = []

    def measure_all(variables: Sequence[Variable], reference: dt.date | None) -> None:
        for variable in variables:
            with logs.step("monitor_drift", f"{day}: {variable.name}") as step:
                found = _measure(lake, variable, day, dc.bins, reference)
                if found is None:
                    skipped.append(variable.name)
                    continue
                rows.append(found)
                step.rows, step.note = found.rows, f"PSI {found.psi:.3f} vs {found.reference_date}"

    measure_all(SCORE_VARIABLES, None)
    # The features' reference: the churn model's first day, else the lifetime value model's.
    firsts = {r.name: r.reference_date for r in rows}
    measure_all(FEATURE_VARIABLES, firsts.get("churn_probability") or firsts.get("clv_12m"))
    computed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    out = rt.spark.createDataFrame(
        [(day, r.kind, r.name, r.source_table, r.model_version, r.reference_date, r.psi, r.rows, r.reference_rows,
          r.bins, dc.psi_threshold, r.psi > dc.psi_threshold, computed_at) for r in rows], DRIFT_DDL)
    if not lake.exists(DRIFT):
        lake.overwrite(out.limit(0), DRIFT)
    lake.replace_where(out, DRIFT, f"run_date = DATE'{day.isoformat()}'", metadata=f"drift {day}")
    drifted = tuple(r.name for r in rows if r.psi > dc.psi_threshold)
    for r in rows:
        if r.psi > dc.psi_threshold:
            log.warning("drift %s: %s %s has PSI %.3f against %s (threshold %.2f)%s", day, r.kind, r.name, r.psi,
                        r.reference_date, dc.psi_threshold,
                        "; c360_train will be asked for" if dc.retrain_on_drift else
                        "; set drift.retrain_on_drift to retrain on drift")
    top = max(rows, key=lambda r: r.psi, default=None)
    return DriftReport(day, len(rows), drifted, None if top is None else f"{top.name} {top.psi:.3f}", tuple(skipped))


def drifted_on(lake: Lake, day: dt.date) -> list[str]:
    """The variables ops.drift found drifted on `day` (empty before any drift run)."""
    if not lake.exists(DRIFT):
        return []
    return [r["name"] for r in lake.read(DRIFT).where((F.col("run_date") == F.lit(day)) & F.col("drifted"))
            .select("name").collect()]


def _measure(lake: Lake, v: Variable, day: dt.date, bins: int, reference: dt.date | None) -> DriftRow | None:
    """The variable's PSI on `day`, or None when it cannot be measured (no table, no model, no values)."""
    if not lake.exists(v.table):
        return None
    table = lake.read(v.table)
    if v.where:
        table = table.where(v.where)
    day_col = F.col(v.day_column)
    current = table.where(day_col == F.lit(day))
    version = None
    if v.version_column is not None:
        found = (current.where(F.col(v.version_column).isNotNull()).groupBy(v.version_column).count()
                 .orderBy(F.col("count").desc()).first())
        if found is None:
            return None
        version = found[0]
        current = current.where(F.col(v.version_column) == F.lit(version))
        reference = table.where(F.col(v.version_column) == F.lit(version)).agg(F.min(day_col)).first()[0]
    elif reference is None:
        reference = table.where(day_col <= F.lit(day)).agg(F.min(day_col)).first()[0]
    else:
        # The latest day on record up to the reference (the feature table may have skipped it).
        reference = table.where(day_col <= F.lit(reference)).agg(F.max(day_col)).first()[0] or reference
    if reference is None:
        return None
    base = table.where(day_col == F.lit(reference))
    if version is not None:
        base = base.where(F.col(v.version_column) == F.lit(version))
    value, base_value = current.select(F.col(v.column).alias("v")), base.select(F.col(v.column).alias("v"))
    value, base_value = value.where(F.col("v").isNotNull()), base_value.where(F.col("v").isNotNull())
    measured = psi(base_value, value, bins, v.categorical)
    if measured is None:
        return None
    index, n_bins, n_ref, n_day = measured
    return DriftRow(v.kind, v.name, v.table, version, reference, index, n_day, n_ref, n_bins)


def psi(reference: DataFrame, current: DataFrame, bins: int, categorical: bool) -> tuple[float, int, int, int] | None:
    """PSI of column `v` of `current` against `reference`: (psi, bins, reference rows, current rows); None when
    either has no rows."""
    if categorical:
        ref_counts = _counts(reference, F.col("v").cast("string"))
        day_counts = _counts(current, F.col("v").cast("string"))
    else:
        edges = _edges(reference, bins)
        if edges is None:
            return None
        bucket = sum((F.when(F.col("v") > F.lit(e), 1).otherwise(0) for e in edges), F.lit(0))
        ref_counts, day_counts = _counts(reference, bucket), _counts(current, bucket)
    n_ref, n_day = sum(ref_counts.values()), sum(day_counts.values())
    if not n_ref or not n_day:
        return None
    keys = sorted(set(ref_counts) | set(day_counts), key=str)
    return stability_index([ref_counts.get(k, 0) / n_ref for k in keys],
                           [day_counts.get(k, 0) / n_day for k in keys]), len(keys), n_ref, n_day


def stability_index(expected: Sequence[float], actual: Sequence[float]) -> float:
    """sum (a - e) * ln(a / e) over bins, shares floored at 0.0001 (an empty bin would be infinite)."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, FLOOR), max(a, FLOOR)
        total += (a - e) * math.log(a / e)
    return round(total, 6)


def _edges(reference: DataFrame, bins: int) -> list[float] | None:
    quantiles = [i / bins for i in range(1, bins)]
    found = reference.select(F.col("v").cast("double").alias("v")).approxQuantile("v", quantiles, 0.001)
    if not found:
        return None
    return sorted(set(found))


def _counts(df: DataFrame, key) -> dict:
    return {r["k"]: r["n"] for r in df.groupBy(key.alias("k")).agg(F.count(F.lit(1)).alias("n")).collect()}
