"""The gold and serving tables the customer models read and write, the check that gold is built, the fitting sample."""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common.errors import C360Error
from jobs.common.gold import require_built
from jobs.common.lake import Lake

SUMMARY = "gold.customer_purchase_summary"
HOLDOUT = "gold.customer_purchase_holdout"
CHURN_EXAMPLES = "gold.customer_churn_examples"
CHURN_FEATURES = "gold.customer_churn_features"
# Built by the weekly `build_training_features` (dbt tag `training`), not by the daily build.
TRAINING_MARTS = (HOLDOUT, CHURN_EXAMPLES)
FEATURES = "gold.customer_features"
SEGMENT_PROFILES = "gold.segment_profiles"
RFM = "gold.customer_rfm"
SCORES = "serving.customer_scores"
SEGMENTS = "serving.customer_segments"


class CustomerModelError(C360Error):
    """The customer models cannot train or score: missing gold, or data they cannot use."""


def require_gold(lake: Lake, day: dt.date, tables: tuple[str, ...]) -> None:
    """Each of `tables` exists and is built as of `day` (its `as_of_date`).

    Raises:
        CustomerModelError: naming the table and the command that builds it.
    """
    daily = tuple(t for t in tables if t not in TRAINING_MARTS)
    require_built(lake, day, daily, CustomerModelError)
    require_built(lake, day, tuple(t for t in tables if t in TRAINING_MARTS), CustomerModelError,
                  command="build-training-features", dag="c360_train")


def sample_customers(rows: DataFrame, limit: int, seed: int) -> DataFrame:
    """`rows` (one per customer_key), or a hash-chosen sample of about `limit` of them when there are more.

    The same seed chooses the same customers: the models fit on the driver on this sample.
    """
    total = rows.count()
    if total <= limit:
        return rows
    share = limit / total
    bucket = F.abs(F.xxhash64("customer_key", F.lit(seed))) % F.lit(1_000_000)
    return rows.where(bucket < F.lit(int(share * 1_000_000)))
