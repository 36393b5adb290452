"""Campaign audiences for one day: the active campaigns' rules over gold and serving -> serving.campaign_audiences.

Tables written (all Delta, by `jobs.common.lake`):

| table | grain | write |
|---|---|---|
| serving.campaign_audiences | one row per campaign and customer per run_date | replace the run_date, drop days past retention |
| ops.campaign_assignments | one row per active campaign per run_date: sizes and the sample-ratio check | replace the run_date |

Campaigns are declared in YAML (jobs/common/campaigns.py); every definition, active
or not, is checked before anything is written: a bad one stops the run naming its file
and key. A campaign is active from its `start` to its `end` day. The audience of a day
reads gold.customer_360 (consent, RFM, behaviour) as of the day and that day's
serving.customer_scores and serving.customer_segments (their columns are null when a
table does not hold the day: no model trained yet). Who is selected, capped and held
out is jobs/campaigns/audiences.py. `assigned_at` is the first run day a customer was in
the campaign's audience, read from the table's earlier days, so a rerun of a day gives
the same rows. The sample-ratio check compares each campaign's holdout and treatment
counts with its holdout share (chi-square, one degree of freedom); a p-value below
`campaigns.sample_ratio_alpha` is flagged in ops.campaign_assignments and logged.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.campaigns import audiences
from jobs.common import campaigns as definitions
from jobs.common.errors import C360Error
from jobs.common.gold import require_built
from jobs.common.lake import Lake
from jobs.common.runtime import Runtime
from jobs.common.serving_contract import CAMPAIGN_AUDIENCES, CUSTOMER_SCORES, CUSTOMER_SEGMENTS, ServingTable
from jobs.common.stage import Days, StageReport

log = logging.getLogger(__name__)

CUSTOMERS = "gold.customer_360"
PRODUCTS = "gold.product_features"
RECOMMENDATIONS = "serving.recommendations"
ASSIGNMENTS = "ops.campaign_assignments"
ASSIGNMENTS_DDL = ("run_date DATE, campaign_id STRING, channel STRING, selected BIGINT, capped BIGINT, "
                   "without_offer BIGINT, audience BIGINT, holdout BIGINT, treatment BIGINT, holdout_share DOUBLE, "
                   "srm_chi2 DOUBLE, srm_p_value DOUBLE, sample_ratio_mismatch BOOLEAN, generated_at TIMESTAMP")


class AudienceError(C360Error):
    """Audiences cannot be built: gold is missing or not as of the day."""


@dataclass(frozen=True)
class AudienceReport(StageReport):
    ds: dt.date
    campaigns: int
    active: int
    rows: int
    sample_ratio_mismatches: tuple[str, ...]
    seconds: float


def _serving_day(lake: Lake, table: ServingTable, day: dt.date) -> DataFrame:
    """`table`'s rows of run_date `day`, or none with the contract's columns."""
    if lake.exists(table.name):
        return lake.read(table.name).where(F.col("run_date") == F.lit(day))
    log.warning("build_audiences %s: %s does not exist; its columns are null in every audience rule", day, table.name)
    return lake.spark.createDataFrame([], table.ddl())


def _offers(lake: Lake, rows: DataFrame, campaigns: tuple[definitions.Campaign, ...], day: dt.date) -> DataFrame:
    """`rows` with `offer`: the best recommendation in the campaign's category, else its text; rows without
    either are dropped (nothing to offer them)."""
    wanted = [c for c in campaigns if c.recommendation_category]
    rows = rows.withColumn("product_id", F.lit(None).cast("string"))
    if wanted and lake.exists(RECOMMENDATIONS) and lake.exists(PRODUCTS):
        recommended = lake.read(RECOMMENDATIONS).where(F.col("run_date") == F.lit(day))
        products = lake.read(PRODUCTS)
        best = reduce(DataFrame.unionByName, [
            audiences.best_in_category(recommended, products, c.recommendation_category)
            .withColumn("campaign_id", F.lit(c.id)) for c in wanted])
        rows = rows.drop("product_id").join(best, ["campaign_id", "customer_key"], "left")
    return rows.withColumn("offer", F.coalesce("product_id", "offer_text")).where(F.col("offer").isNotNull())


def run(rt: Runtime, days: Days, *, generated_at: dt.datetime | None = None) -> AudienceReport:
    """serving.campaign_audiences for the last of `days`: every active campaign's audience.

    Args:
        rt: the runtime.
        days: the days run; a range builds once, as of its last day (run_date = `days.last`).
        generated_at: the `generated_at` stamped on the rows (default: now).
    """
    spark, lake, config, day = rt.spark, rt.lake, rt.config, days.last
    began = time.perf_counter()
    generated_at = generated_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    campaigns = definitions.load(config.campaigns.dir)
    if not campaigns:
        log.warning("build_audiences %s: no campaign is declared in %s (campaigns.dir)", day, config.campaigns.dir)
    require_built(lake, day, (CUSTOMERS,), AudienceError)
    frame = audiences.audience_frame(lake.read(CUSTOMERS), _serving_day(lake, CUSTOMER_SCORES, day),
                                     _serving_day(lake, CUSTOMER_SEGMENTS, day))
    audiences.check_rules(campaigns, frame)
    active = tuple(c for c in campaigns if c.active_on(day))
    frame = frame.localCheckpoint()
    selected = reduce(DataFrame.unionByName, [audiences.selections(frame, c) for c in active],
                      spark.createDataFrame([], audiences.SELECTION_DDL)).localCheckpoint()
    settings = spark.createDataFrame(
        [(c.id, c.holdout_share, c.offer_text) for c in active] or [("", 0.5, None)],
        "campaign_id STRING, holdout_share DOUBLE, offer_text STRING")
    kept = audiences.capped(selected).join(settings, "campaign_id")
    offered = _offers(lake, kept, active, day).withColumn(
        "variant", audiences.variant(F.col("campaign_id"), F.col("customer_key"), F.col("holdout_share")))
    previous = (lake.read(CAMPAIGN_AUDIENCES.name).where(F.col("run_date") < F.lit(day))
                if lake.exists(CAMPAIGN_AUDIENCES.name) else None)
    rows = audiences.first_assigned(offered, previous, day).select(
        *CAMPAIGN_AUDIENCES.column_names[:-2], F.lit(generated_at).cast("timestamp").alias("generated_at"),
        F.lit(day).alias("run_date"),
    ).orderBy("campaign_id", "customer_key").localCheckpoint()

    assignments = _assignments(spark, active, selected, kept, rows, day, generated_at, config.campaigns.sample_ratio_alpha)
    lake.replace_run_date(rows, CAMPAIGN_AUDIENCES.name, day, config.campaigns.retention_days,
                          metadata=f"build_audiences {day}")
    if not lake.exists(ASSIGNMENTS):
        lake.overwrite(spark.createDataFrame([], ASSIGNMENTS_DDL), ASSIGNMENTS)
    lake.replace_where(assignments, ASSIGNMENTS, f"run_date = '{day}'", metadata=f"build_audiences {day}")
    flagged = tuple(r["campaign_id"] for r in assignments.where("sample_ratio_mismatch").collect())
    for campaign_id in flagged:
        log.warning("build_audiences %s: campaign %s: the holdout/treatment split drifts from its holdout share "
                    "(sample-ratio check, p < %s); see %s", day, campaign_id, config.campaigns.sample_ratio_alpha,
                    ASSIGNMENTS)
    report = AudienceReport(ds=day, campaigns=len(campaigns), active=len(active), rows=rows.count(),
                            sample_ratio_mismatches=flagged, seconds=round(time.perf_counter() - began, 1))
    log.info("build_audiences %s: %s", day, report.as_dict())
    return report


def _assignments(spark, active, selected: DataFrame, kept: DataFrame, rows: DataFrame, day: dt.date,
                 generated_at: dt.datetime, alpha: float) -> DataFrame:
    """One ops.campaign_assignments row per active campaign: sizes at each step and the sample-ratio check."""
    def counts(frame: DataFrame, *by: str) -> dict:
        return {tuple(r[:-1]): r[-1] for r in frame.groupBy(*by).count().collect()}

    chosen, after_cap = counts(selected, "campaign_id"), counts(kept, "campaign_id")
    split = counts(rows, "campaign_id", "variant")
    out = []
    for c in active:
        holdout, treatment = split.get((c.id, audiences.HOLDOUT), 0), split.get((c.id, audiences.TREATMENT), 0)
        n_selected, n_kept = chosen.get((c.id,), 0), after_cap.get((c.id,), 0)
        chi2, p = audiences.sample_ratio(holdout, treatment, c.holdout_share)
        out.append((day, c.id, c.channel, n_selected, n_selected - n_kept, n_kept - holdout - treatment,
                    holdout + treatment, holdout, treatment, c.holdout_share, chi2, p, p < alpha, generated_at))
    return spark.createDataFrame(out, ASSIGNMENTS_DDL)
