"""The Spark session factory: Delta on the session, clear set-up errors."""
from __future__ import annotations

import pytest

from jobs.common.errors import SetupError
from jobs.common.spark import delta_jars, expected_delta_jar


def test_session_has_delta_utc_and_the_in_memory_catalog(spark):
    assert "DeltaSparkSessionExtension" in spark.conf.get("spark.sql.extensions")
    assert spark.conf.get("spark.sql.catalog.spark_catalog").endswith("DeltaCatalog")
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.conf.get("spark.sql.catalogImplementation") == "in-memory"


def test_jar_name_follows_the_spark_minor_and_delta_version():
    import pyspark

    minor = ".".join(pyspark.__version__.split(".")[:2])
    assert expected_delta_jar() == f"delta-spark_{minor}_2.13-4.4.0.jar"


def test_missing_jar_folder_says_to_run_make_install(tmp_path):
    with pytest.raises(SetupError, match=r"jars folder .*/nowhere is missing: run `make install`"):
        delta_jars(str(tmp_path / "nowhere"))


def test_wrong_delta_jar_is_named(tmp_path):
    (tmp_path / "delta-spark_4.0_2.13-4.0.0.jar").write_bytes(b"")
    with pytest.raises(SetupError, match=r"has no delta-spark_.*found: delta-spark_4\.0_2\.13-4\.0\.0\.jar.*make install"):
        delta_jars(str(tmp_path))
