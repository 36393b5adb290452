"""Drift monitoring (the population stability index) and the run report."""
from __future__ import annotations

import base64
import datetime as dt
import math
import re
from pathlib import Path

import numpy as np
import pytest

from jobs.common.stage import Days
from jobs.monitor import drift, report


def test_the_stability_index_is_zero_for_equal_shares_and_matches_a_hand_computed_shift():
    assert drift.stability_index([0.25] * 4, [0.25] * 4) == 0
    expected, actual = [0.5, 0.3, 0.2], [0.3, 0.3, 0.4]
    by_hand = (0.3 - 0.5) * math.log(0.3 / 0.5) + (0.4 - 0.2) * math.log(0.4 / 0.2)
    assert drift.stability_index(expected, actual) == pytest.approx(by_hand, abs=1e-6)
    # An empty bin is floored, not infinite.
    assert 0 < drift.stability_index([0.5, 0.5, 0.0], [0.4, 0.4, 0.2]) < 10


def test_psi_of_the_same_population_is_small_and_of_a_shifted_one_large(spark):
    rng = np.random.default_rng(5)
    base = spark.createDataFrame([(float(v),) for v in rng.gamma(2.0, 10.0, 4000)], "v double")
    same = spark.createDataFrame([(float(v),) for v in rng.gamma(2.0, 10.0, 4000)], "v double")
    shifted = spark.createDataFrame([(float(v),) for v in rng.gamma(2.0, 16.0, 4000)], "v double")
    psi_same, bins, n_ref, n_day = drift.psi(base, same, 10, categorical=False)
    assert psi_same < 0.05 and bins == 10 and n_ref == n_day == 4000
    psi_shifted = drift.psi(base, shifted, 10, categorical=False)[0]
    assert psi_shifted > 0.25
    # Categories: a segment that doubles is drift; the bins are the categories of both days.
    before = spark.createDataFrame([("a",)] * 50 + [("b",)] * 50, "v string")
    after = spark.createDataFrame([("a",)] * 20 + [("b",)] * 50 + [("c",)] * 30, "v string")
    psi_cat, cat_bins, _, _ = drift.psi(before, after, 10, categorical=True)
    assert cat_bins == 3 and psi_cat > 0.25
    assert drift.psi(base, base.limit(0), 10, categorical=False) is None


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r"src='data:image/png;base64,([^']+)'", page)]


@pytest.mark.e2e
def test_the_airflow_day_wrote_drift_and_a_report_whose_empty_sections_say_why(e2e):
    """The Airflow day ran before any model was trained: its report has the data sections and says what is missing."""
    rt, day = e2e.rt, e2e.last
    assert e2e.airflow_tasks["monitor_drift"] == "success"
    assert e2e.airflow_tasks["run_report"] == "success"
    page = Path(report.report_path(rt.config.lake.reports, day)).read_text()
    for key in report.SECTIONS:
        assert f"<section id='{key}'>" in page
    assert "no model has been trained yet" in page  # the models section, before c360_train
    assert all(image.startswith(b"\x89PNG") for image in _images(page)) and len(_images(page)) >= 3
    assert not re.search(r"""(?:src|href)=["']https?://""", page) and "<script" not in page  # opens offline


def check_drift_and_report_after_training(rt, day: dt.date) -> None:
    """Drift measured against the models' first day, then a day whose scores moved, and a report with data in
    every section: on a lake whose customer models were trained and scored as of `day`.

    The end of the shared lake's training test (tests/test_customers_train.py), which trains them once for both.
    """
    from pyspark.sql import functions as F

    lake = rt.lake
    first = drift.run(rt, Days.of(day))
    # The models' first day is this day: every score and feature measured against itself.
    rows = lake.read(drift.DRIFT).where(F.col("run_date") == F.lit(day)).collect()
    assert {r["name"] for r in rows} >= {"clv_12m", "churn_probability", "p_alive", "recency_days", "rfm_segment"}
    assert all(r["reference_date"] == day and r["psi"] == 0 and not r["drifted"] for r in rows)
    assert first.monitored == len(rows) and first.drifted == ()

    # The next day's scores moved: the same model version, every customer's value tripled.
    later = day + dt.timedelta(days=1)
    scores = lake.read(drift.SCORES)
    shifted = (scores.where(F.col("run_date") == F.lit(day)).withColumn("run_date", F.lit(later))
               .withColumn("clv_12m", F.col("clv_12m") * 3 + 50))
    lake.append(shifted, drift.SCORES)
    moved = drift.run(rt, Days.of(later))
    clv_row = lake.read(drift.DRIFT).where((F.col("run_date") == F.lit(later)) & (F.col("name") == "clv_12m")).first()
    assert clv_row["reference_date"] == day and clv_row["psi"] > rt.config.drift.psi_threshold and clv_row["drifted"]
    assert "clv_12m" in moved.drifted and "churn_probability" not in moved.drifted
    assert drift.drifted_on(lake, later) == list(moved.drifted)

    written = report.run(rt, Days.of(day))
    assert written.sections_without_data == ()
    page = Path(written.path).read_text()
    assert written.images == len(_images(page)) >= 8
    assert "lifetime value holdout MAE" in page and "churn PR AUC" in page
