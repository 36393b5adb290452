"""The one place a SparkSession is built.

Delta Lake comes from the jars `make install` fetched into `<checkout>/jars`
(`jvm/pom.xml`), or on a cluster from `spark.jars.packages` or the platform.
The catalog is in memory and filled from the lake folder at start
(`Lake.register_all`): the lake, not a metastore, is the source of truth, so every
process sees every table by its `<layer>.<name>` while others write.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from pyspark.sql import SparkSession

from jobs.common.config import Config
from jobs.common.errors import SetupError
from jobs.common.logs import spark_java_options

SCALA_BINARY = "2.13"


def expected_delta_jar() -> str:
    """File name of the Delta jar matching the installed pyspark and delta-spark."""
    from importlib.metadata import version

    import pyspark

    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"delta-spark_{spark_minor}_{SCALA_BINARY}-{version('delta-spark')}.jar"


def delta_jars(jars_dir: str) -> list[str]:
    """The jars to put on spark.jars, after checking the Delta jar is the right one.

    Raises:
        SetupError: the folder or the matching Delta jar is missing.
    """
    folder = Path(jars_dir)
    wanted = expected_delta_jar()
    if not folder.is_dir():
        raise SetupError(f"Delta Lake jars folder {folder} is missing: run `make install` (fetches them with Maven)")
    jars = sorted(str(p) for p in folder.glob("*.jar"))
    if not (folder / wanted).is_file():
        found = [Path(j).name for j in jars if Path(j).name.startswith("delta-spark")]
        raise SetupError(
            f"{folder} has no {wanted} (found: {', '.join(found) or 'none'}); "
            "run `make install` to fetch the jars matching the installed pyspark and delta-spark"
        )
    return jars


def splink_jars() -> list[str]:
    """Splink's similarity functions (jaro_winkler, ...) as a Spark jar; it ships inside the splink wheel."""
    try:
        from splink.backends.spark import similarity_jar_location
    except ImportError:  # identity resolution is not installed in this environment
        return []
    return [similarity_jar_location()]


def _check_java() -> None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return
    if shutil.which("java") is None:
        raise SetupError("Java is not installed or not on PATH: install Java 17 (e.g. `apt-get install openjdk-17-jdk-headless`)")


def build_spark(config: Config, app_name: str | None = None, register_tables: bool = True,
                read_only: bool = False) -> SparkSession:
    """Build (or return the running) SparkSession for a profile.

    Args:
        config: the loaded profile.
        app_name: overrides `spark.app_name` (shown in the Spark UI and logs).
        register_tables: register every lake table in the session catalog.
        read_only: a session that only reads the lake (`c360 sql`, `c360 tables`, `c360 bi`): it
            writes nothing under the lake root (no checkpoint or warehouse folder there), so a user
            who may only read the lake can run it.
    """
    _check_java()
    # Python workers (pandas UDFs) must run this interpreter, not whatever python3 is first on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    sc = config.spark
    builder = (
        SparkSession.builder.master(sc.master)
        .appName(app_name or sc.app_name)
        .config("spark.driver.memory", sc.driver_memory)
        .config("spark.sql.shuffle.partitions", str(sc.shuffle_partitions))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.catalogImplementation", "in-memory")
        .config("spark.sql.warehouse.dir", tempfile.mkdtemp(prefix="c360-warehouse-") if read_only
                else f"{config.lake.root}/_warehouse")
        .config("spark.sql.session.timeZone", "UTC")
    )
    if sc.jars_dir:
        builder = builder.config("spark.jars", ",".join([*delta_jars(sc.jars_dir), *splink_jars()]))
    if sc.packages:
        builder = builder.config("spark.jars.packages", ",".join(sc.packages))
    logging_options = spark_java_options(config.lake.root, read_only)
    java_options = " ".join(o for o in (sc.conf.get("spark.driver.extraJavaOptions"), logging_options) if o)
    for key, value in {**sc.conf, "spark.driver.extraJavaOptions": java_options}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    # dbt's CREATE OR REPLACE gives a Delta table a new id, which Delta reports with the
    # whole old and new snapshot at WARN on every replace.
    configurator = spark.sparkContext._jvm.org.apache.logging.log4j.core.config.Configurator
    error = spark.sparkContext._jvm.org.apache.logging.log4j.Level.ERROR
    for logger in ("org.apache.spark.sql.delta.DeltaLog", "org.apache.spark.sql.delta.OptimisticTransaction"):
        configurator.setLevel(logger, error)
    if not read_only:  # iterative jobs (identity clustering) cut their lineage here
        spark.sparkContext.setCheckpointDir(f"{config.lake.root}/_checkpoints")
    if register_tables:
        from jobs.common.lake import Lake

        Lake(spark, config.lake).register_all()
    return spark
