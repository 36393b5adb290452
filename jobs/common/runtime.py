"""A job's runtime: the profile's config, its SparkSession and its lake."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from pyspark.sql import SparkSession

from jobs.common.config import Config, load_config
from jobs.common.lake import Lake


@dataclass(frozen=True)
class Runtime:
    config: Config
    spark: SparkSession
    lake: Lake

    def with_landing(self, uri: str | None) -> Runtime:
        """This runtime reading landing files from `uri` instead of the profile's (None: unchanged)."""
        if not uri:
            return self
        landing = dataclasses.replace(self.config.landing, uri=uri)
        return dataclasses.replace(self, config=dataclasses.replace(self.config, landing=landing))


def start(profile: str | None = None, app_name: str = "c360", config: Config | None = None) -> Runtime:
    """Load the profile (unless `config` is given), build the SparkSession, bind the lake."""
    from jobs.common.spark import build_spark

    config = config or load_config(profile)
    spark = build_spark(config, app_name=app_name)
    return Runtime(config, spark, Lake(spark, config.lake))
