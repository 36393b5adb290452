"""c360 on a real Spark cluster: a standalone master and two workers on 127.0.0.1, the lake on S3 (moto).

`jobs.cluster.run_sample` is what `make cluster` runs: a generated sample's days through `c360 run`
on a local session, then through the cluster with the `cluster-local` profile (Spark at
spark://127.0.0.1:7077, executors in the workers' JVMs, the lake on s3a://, the landing area on
s3://, MLflow's artifacts on S3), and the two lakes compared table by table.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
import yaml

from jobs import cluster, pipeline
from jobs.common.config import CONF_DIR, load_config
from jobs.common.lake import Lake
from tests.conftest import TEST_PROFILE, reset_catalog

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

PERSONS, DAYS = 40, 2


def test_profile_cluster_local_points_spark_at_the_standalone_master_and_every_store_at_the_s3_server():
    config = load_config(cluster.PROFILE)
    endpoints = cluster.Endpoints.of(config)
    assert endpoints.master == "spark://127.0.0.1:7077"
    assert endpoints.s3 == config.spark.conf["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:5055"
    assert config.lake.root.startswith("s3a://") and config.landing.uri.startswith("s3://")
    assert config.mlflow.artifact_root.startswith("s3://")
    assert set(endpoints.buckets) == {"c360-lake", "c360-landing"}
    assert config.identity.model_dir.startswith(config.lake.root)  # Splink's model beside the tables, on S3


def test_differing_tables_names_a_table_whose_rows_differ_and_one_only_one_lake_has(spark, config, tmp_path):
    from pyspark.sql import functions as F

    lakes = [Lake(spark, dataclasses.replace(config.lake, root=str(tmp_path / name))) for name in ("a", "b")]
    rows = spark.createDataFrame([(1, "x", 0.1 + 0.2), (2, "y", 1.0)], "id INT, name STRING, value DOUBLE")
    entries = [F.struct(F.lit("shoes"), F.lit(0.25)), F.struct(F.lit("bags"), F.lit(0.75))]
    for lake, order in zip(lakes, (entries, entries[::-1]), strict=True):
        # Run stamps are ignored; a map is the same whatever order its entries were collected in.
        lake.overwrite(rows.withColumn("run_id", F.lit(lake.root)).withColumn("shares", F.map_from_entries(
            F.array(*order))), "gold.same")
        lake.overwrite(rows, "gold.changed")
    lakes[1].overwrite(rows.withColumn("name", F.when(F.col("id") == 2, "z").otherwise(F.col("name"))),
                       "gold.changed")
    lakes[1].overwrite(rows, "serving.extra")
    differ = cluster.differing_tables(lakes[0].root, lakes[1].root)
    assert set(differ) == {"gold.changed", "serving.extra"}
    assert differ["gold.changed"] == "2 vs 2 rows; 1 only in the first, 1 only in the second"
    assert differ["serving.extra"] == f"only in {lakes[1].root}"


def test_a_sample_run_on_the_standalone_cluster_with_the_lake_on_s3_leaves_the_tables_of_the_local_run(
        spark, tmp_path):
    # The test session's settings (models, identity sampling) in both runs; Spark, lake, landing and MLflow
    # as the cluster-local profile has them, with this test's own tracking database.
    test_settings = yaml.safe_load(TEST_PROFILE)
    local_profile = tmp_path / "local.yaml"
    local_profile.write_text(TEST_PROFILE)
    cluster_settings = yaml.safe_load((CONF_DIR / f"{cluster.PROFILE}.yaml").read_text())
    cluster_settings.update({k: v for k, v in test_settings.items() if k not in ("spark", "privacy")})
    # Spark as the test session has it (tiny data: no code generation), at the cluster's master and stores.
    cluster_settings["spark"]["conf"] = {**test_settings["spark"]["conf"], **cluster_settings["spark"]["conf"]}
    cluster_settings["spark"]["shuffle_partitions"] = 2
    cluster_settings["mlflow"]["tracking_uri"] = f"sqlite:///{tmp_path}/mlflow.db"
    cluster_profile = tmp_path / "cluster-local.yaml"
    cluster_profile.write_text(yaml.safe_dump(cluster_settings))

    def run_local(first, last, landing, lake_root, env):  # in this process, on the test session
        from jobs.cli import main

        with pytest.MonkeyPatch.context() as patch:
            for name, value in {**env, "C360_LAKE_ROOT": lake_root}.items():
                patch.setenv(name, value)
            started = time.perf_counter()
            assert main(["--profile", str(local_profile), "run", "--date", first.isoformat(), "--until",
                         last.isoformat(), "--landing", landing]) == 0
            reset_catalog(spark)
            return time.perf_counter() - started

    run = cluster.run_sample(tmp_path / "work", persons=PERSONS, days=DAYS, cluster_profile=str(cluster_profile),
                             run_local=run_local, log=print)

    assert run.differ == {}, "\n".join(f"{t}: {why}" for t, why in run.differ.items())
    assert run.cluster_root.startswith("s3a://")
    assert {"bronze.orders", "ops.ingest_log", "ops.dq_results", "silver.customers", "silver.identity_links",
            "gold.customer_360", "gold.customer_rfm", "serving.customer_lookup", "serving.recommendations",
            "serving.customer_segments"} <= set(run.tables)
    # Every daily stage ran, on executors in the workers' own JVMs, not in the driver.
    log = (tmp_path / "work" / "cluster-run.log").read_text()
    for name in pipeline.DAILY_NAMES:
        assert f"\n{name} " in log, name
    executors = list(Path(tmp_path / "work" / "cluster").glob("worker-*/app-*/*/stderr"))
    assert {p.parts[-4] for p in executors} == {"worker-1", "worker-2"}
    print(f"local run {run.local_seconds:.1f} s, cluster run {run.cluster_seconds:.1f} s")
