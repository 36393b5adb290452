"""Shared fixtures: one SparkSession for the whole run, a fresh lake per test."""
from __future__ import annotations

import dataclasses
import os

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from jobs.common.config import Config, load_config  # noqa: E402
from jobs.common.lake import LAYERS, Lake  # noqa: E402


@pytest.fixture(scope="session")
def config(tmp_path_factory) -> Config:
    """The local profile, with the lake in a temporary folder and Spark sized for tests."""
    root = tmp_path_factory.mktemp("lake")
    base = load_config("local", env={"C360_LAKE_ROOT": str(root)})
    spark = dataclasses.replace(
        base.spark,
        # Two threads: enough to exercise parallelism, matches a 2-core CI machine.
        master="local[2]",
        # Test data is tiny; one shuffle partition avoids hundreds of empty tasks.
        shuffle_partitions=1,
        driver_memory="3g",
        conf={
            **base.spark.conf,
            # No UI: tests must not bind ports or race for 4040.
            "spark.ui.enabled": "false",
            # Delta's snapshot rebuild and VACUUM fan-out: one task each on tiny tables.
            "spark.databricks.delta.snapshotPartitions": "1",
            "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
            # Tests vacuum with zero retention to prove files are removed.
            "spark.databricks.delta.retentionDurationCheck.enabled": "false",
        },
    )
    return dataclasses.replace(base, spark=spark)


@pytest.fixture(scope="session")
def spark(config):
    from jobs.common.spark import build_spark

    session = build_spark(config, app_name="c360-tests", register_tables=False)
    yield session
    session.stop()


@pytest.fixture
def lake(spark, config, tmp_path) -> Lake:
    """A fresh, empty lake for one test; the session catalog forgets earlier tests' tables."""
    for db in LAYERS:
        spark.sql(f"DROP DATABASE IF EXISTS {db} CASCADE")
    for view in spark.catalog.listTables():
        if view.isTemporary:
            spark.catalog.dropTempView(view.name)
    root = tmp_path / "lake"
    return Lake(spark, dataclasses.replace(config.lake, root=str(root)))
