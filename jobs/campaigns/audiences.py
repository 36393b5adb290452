"""Campaign audiences as DataFrame transforms: who a campaign selects, caps, variants, offers.

- The audience frame: one row per customer of `gold.customer_360` as of the day, with the
  day's `serving.customer_scores` and `serving.customer_segments` columns beside it; a
  campaign's rule is a Spark SQL condition over it.
- Only customers who gave the channel's consent (`CONSENT`) and have asked for no erasure
  are selected.
- Frequency caps: a campaign with `frequency_cap` N reaches a customer only if fewer than N
  campaigns of higher priority on the same channel select them.
- Variants: `holdout` when the first 32 bits of SHA-256 of `<campaign_id>:<customer_key>`,
  as a share of 2^32, fall below the holdout share; `treatment` otherwise. A customer
  keeps their variant for the life of a campaign, on every rerun, and anyone holding the
  two ids can recompute it.
"""
from __future__ import annotations

import datetime as dt
import math

from pyspark.errors import AnalysisException, ParseException
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType

from jobs.common.campaigns import Campaign, CampaignError

# The consent flag (gold.customer_360) each channel needs.
CONSENT = {"email": "consent_email_marketing", "sms": "consent_sms_marketing", "web": "consent_personalization"}
HOLDOUT, TREATMENT = "holdout", "treatment"
SELECTION_DDL = "campaign_id STRING, customer_key STRING, channel STRING, priority INT, frequency_cap INT"


def audience_frame(customers: DataFrame, scores: DataFrame, segments: DataFrame) -> DataFrame:
    """`customers` (gold.customer_360) with the scores' and segments' columns (stamps and repeats dropped)."""
    def beside(frame: DataFrame) -> DataFrame:
        keep = [c for c in frame.columns if c == "customer_key" or (
            c not in customers.columns and c not in ("run_date", "generated_at"))]
        return frame.select(*keep)

    return customers.join(beside(scores), "customer_key", "left").join(beside(segments), "customer_key", "left")


def check_rules(campaigns: tuple[Campaign, ...], frame: DataFrame) -> None:
    """Every campaign's rule names only columns of `frame` and is a condition; else a CampaignError."""
    for campaign in campaigns:
        where = f"{campaign.source}: key 'rule' ({campaign.rule!r})"
        try:
            kind = frame.select(F.expr(campaign.rule).alias("_rule")).schema["_rule"].dataType
        except (AnalysisException, ParseException) as exc:
            first = str(exc).strip().splitlines()[0]
            raise CampaignError(f"{where}: {first}. Columns a rule may use: {', '.join(sorted(frame.columns))}") from None
        if not isinstance(kind, BooleanType):
            raise CampaignError(f"{where}: must be a condition (true or false), but it gives {kind.simpleString()}")


def selections(frame: DataFrame, campaign: Campaign) -> DataFrame:
    """The customers `campaign`'s rule selects among those with the channel's consent (SELECTION_DDL)."""
    consent = F.coalesce(F.col(CONSENT[campaign.channel]), F.lit(False))
    erasure = F.coalesce(F.col("erasure_requested"), F.lit(False))
    return frame.where(consent & ~erasure & F.coalesce(F.expr(campaign.rule), F.lit(False))).select(
        F.lit(campaign.id).alias("campaign_id"), "customer_key", F.lit(campaign.channel).alias("channel"),
        F.lit(campaign.priority).cast("int").alias("priority"),
        F.lit(campaign.frequency_cap).cast("int").alias("frequency_cap"),
    )


def capped(selected: DataFrame) -> DataFrame:
    """`selected` without the rows a frequency cap stops: fewer than `frequency_cap` campaigns of higher
    priority (then lower id) on the channel may select the customer."""
    order = Window.partitionBy("customer_key", "channel").orderBy("priority", "campaign_id")
    ahead = selected.withColumn("_ahead", F.row_number().over(order) - 1)
    return ahead.where(F.col("frequency_cap").isNull() | (F.col("_ahead") < F.col("frequency_cap"))).drop("_ahead")


def bucket(campaign_id: Column, customer_key: Column) -> Column:
    """A share in [0, 1): the first 32 bits of SHA-256 of `<campaign_id>:<customer_key>` over 2^32."""
    digest = F.sha2(F.concat_ws(":", campaign_id, customer_key), 256)
    return F.conv(F.substring(digest, 1, 8), 16, 10).cast("bigint") / F.lit(2 ** 32)


def variant(campaign_id: Column, customer_key: Column, holdout_share: Column) -> Column:
    return F.when(bucket(campaign_id, customer_key) < holdout_share, F.lit(HOLDOUT)).otherwise(F.lit(TREATMENT))


def best_in_category(recommendations: DataFrame, products: DataFrame, category: str) -> DataFrame:
    """customer_key -> product_id of the customer's best-ranked recommendation in `category`."""
    in_category = products.where(F.col("category") == category).select(F.col("sku").alias("product_id"))
    ranked = recommendations.join(in_category, "product_id").select("customer_key", "rank", "product_id")
    best = Window.partitionBy("customer_key").orderBy("rank")
    return ranked.withColumn("_n", F.row_number().over(best)).where("_n = 1").select("customer_key", "product_id")


def first_assigned(rows: DataFrame, previous: DataFrame | None, day: dt.date) -> DataFrame:
    """`rows` with `assigned_at`: the first run day a customer was in the campaign's audience (else `day`)."""
    if previous is None:
        return rows.withColumn("assigned_at", F.lit(day))
    earliest = previous.groupBy("campaign_id", "customer_key").agg(F.min("assigned_at").alias("_first"))
    return (rows.join(earliest, ["campaign_id", "customer_key"], "left")
            .withColumn("assigned_at", F.coalesce("_first", F.lit(day))).drop("_first"))


def sample_ratio(holdout: int, treatment: int, holdout_share: float) -> tuple[float, float]:
    """Chi-square statistic and p-value (one degree of freedom) of the split against the configured share."""
    total = holdout + treatment
    if total == 0:
        return 0.0, 1.0
    expected = (total * holdout_share, total * (1 - holdout_share))
    chi2 = sum((o - e) ** 2 / e for o, e in zip((holdout, treatment), expected, strict=True))
    return chi2, math.erfc(math.sqrt(chi2 / 2))
