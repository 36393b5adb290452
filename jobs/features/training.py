"""The `build_training_features` stage (weekly): the training marts as of the day, before the models train.

`dbt build --select tag:training` as of the day: gold.customer_purchase_holdout (the lifetime
value models' calibration and holdout) and gold.customer_churn_examples (the churn model's
labelled examples at two past cutoffs), with their tests, and the intermediate event tables
they read (an incremental day leaves those holding the touched customers only); `build_features`
must have built the day first. The daily build leaves
these marts out: nothing daily reads them. A failure restores gold as the daily build's does.
"""
from __future__ import annotations

from jobs.common.runtime import Runtime
from jobs.common.stage import Days
from jobs.features import main
from jobs.features.main import FeaturesReport


def run(rt: Runtime, days: Days) -> FeaturesReport:
    """Build the training marts as of the last of `days` (see `jobs.features.main.run`, `training=True`).

    Raises:
        FeatureBuildError: the day's features are not built as of the day, or the build failed.
    """
    return main.run(rt, days, docs=False, training=True)
