"""Shared fixtures: one SparkSession per test process, a fresh lake per test, one end-to-end lake.

Markers are set from the fixtures a test uses (`pytest -m unit`, `-m spark`, `-m e2e`):
- `e2e`: reads the shared end-to-end lake (`e2e` fixture), built once per run;
- `spark`: needs the SparkSession (tiny DataFrames, small lakes of its own);
- `unit`: neither (pure Python).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# An xdist worker's `__main__` has neither a spec nor a file, which `pyspark.sql.connect`
# (imported by Great Expectations and MLflow) takes for a doctest run, and exits.
_MAIN = sys.modules["__main__"]
if getattr(_MAIN, "__spec__", None) is None and not hasattr(_MAIN, "__file__"):
    _MAIN.__file__ = "<pytest-xdist worker>"

from jobs.common.config import Config, LakeConfig, load_config  # noqa: E402
from jobs.common.lake import LAYERS, Lake  # noqa: E402
from jobs.common.runtime import Runtime  # noqa: E402

CHECKOUT = Path(__file__).resolve().parents[1]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
# Airflow reads its home, database and DAG folder when first imported: one home per test process,
# set before any test imports Airflow (the shared lake runs its Airflow day in this process).
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="c360-airflow-"))
AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(_AIRFLOW_HOME),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
    "AIRFLOW__CORE__DAGS_FOLDER": str(CHECKOUT / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
}
os.environ.update(AIRFLOW_ENV)


def pytest_unconfigure(config) -> None:
    """Airflow's log handlers keep the streams pytest closes at exit; a late log line (py4j's, while the
    interpreter shuts down) is dropped instead of printing a logging error."""
    import logging

    logging.raiseExceptions = False


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by the fixtures it uses; the end-to-end tests first, as one group.

    With two test processes (`-n 2 --dist loadgroup`, pytest.ini), the `e2e` group goes to one
    process, which builds the shared lake and runs every test reading it, while the other
    process takes the remaining tests; whichever finishes first takes what is left.
    """
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "e2e" in names:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.xdist_group("e2e"))
        elif "spark" in names:
            item.add_marker(pytest.mark.spark)
        else:
            item.add_marker(pytest.mark.unit)
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)  # stable: the order within each part stays


# Test data is tiny: compiling code for each query costs more CPU than running it interpreted,
# adaptive re-planning finds nothing to coalesce, and a throughput GC suits a 2-core machine.
TINY_DATA_CONF = {
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.driver.extraJavaOptions": "-XX:+UseParallelGC",
}


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
            **TINY_DATA_CONF,
        },
    )
    customers = dataclasses.replace(base.customers, clv_holdout_days=E2E_CLV_HOLDOUT_DAYS,
                                    churn=dataclasses.replace(base.customers.churn,
                                                              horizon_days=E2E_CHURN_HORIZON_DAYS),
                                    segments=dataclasses.replace(base.customers.segments, k_max=E2E_SEGMENTS_K_MAX))
    identity = dataclasses.replace(base.identity, u_max_pairs=E2E_U_MAX_PAIRS)
    return dataclasses.replace(base, spark=spark, customers=customers, identity=identity)


@pytest.fixture(scope="session")
def spark(config):
    from jobs.common.spark import build_spark

    session = build_spark(config, app_name="c360-tests", register_tables=False)
    yield session
    session.stop()


# The lake whose tables the session catalog holds when it is the shared end-to-end lake.
_CATALOG: dict[str, str | None] = {"root": None}


# dbt's own schemas (dbt_project.yml): a lake's staging views and intermediate tables, registered by a feature build.
DBT_SCHEMAS = ("staging", "intermediate")


def reset_catalog(spark) -> None:
    """Forget every lake table and temporary view the session has seen (earlier tests' lakes).

    Dropping a database deletes its folder, and a layer's database lives in a lake's layer
    folder: each is first pointed at an empty scratch folder, so no lake loses a file.
    """
    _CATALOG["root"] = None
    existing = {db.name for db in spark.catalog.listDatabases()}
    for db in (*LAYERS, *DBT_SCHEMAS):
        if db in existing:
            spark.sql(f"ALTER DATABASE {db} SET LOCATION '{tempfile.mkdtemp(prefix=f'c360-catalog-{db}-')}'")
            spark.sql(f"DROP DATABASE {db} CASCADE")
    for view in spark.sql("SHOW TABLES").where("isTemporary").collect():
        spark.catalog.dropTempView(view.tableName)


@pytest.fixture
def lake(spark, config, tmp_path) -> Lake:
    """A fresh, empty lake for one test; the session catalog forgets earlier tests' tables."""
    reset_catalog(spark)
    root = tmp_path / "lake"
    return Lake(spark, dataclasses.replace(config.lake, root=str(root)))


# -- the shared end-to-end lake ---------------------------------------------------------------

E2E_PERSONS = 900  # enough profile records (> identity.min_training_records) to train the match model
E2E_FIRST = dt.date(2026, 10, 1)
E2E_LAST = dt.date(2026, 10, 10)  # ten days: returns come back inside the window
# The lake's reports folder (`LakeConfig.reports`): the run reports, dbt's docs, the Data Docs.
REPORTS = Path(LakeConfig(root="/lake").reports).name
E2E_SEED = 7
# The lifetime value models' holdout in tests: the last 3 of the shared lake's 10 days.
E2E_CLV_HOLDOUT_DAYS = 3
# Churn in tests: no purchase in the 3 days after a cutoff (train at day 4, judge at day 7, score day 10).
E2E_CHURN_HORIZON_DAYS = 3
# Identity in tests: the u probabilities from a sample of record pairs, not every pair of a small lake.
E2E_U_MAX_PAIRS = 300_000
# Segments in tests: k from 3 to 5 (a few hundred customers).
E2E_SEGMENTS_K_MAX = 5
# The Spark settings of the test session as a profile file: for the Airflow process, and for
# commands run in this process (which would otherwise set the local profile's SQL settings).
TEST_PROFILE = """
spark:
  master: local[2]
  shuffle_partitions: 1
  driver_memory: 3g
  conf:
    spark.ui.enabled: "false"
    spark.databricks.delta.snapshotPartitions: "1"
    spark.sql.sources.parallelPartitionDiscovery.parallelism: "2"
""" + "".join(f'    {k}: "{v}"\n' for k, v in TINY_DATA_CONF.items()) + f"""
privacy:
  pseudonym_key_file: ${{lake.root}}/_secrets/pseudonym.key
  create_key_file: true
customers:
  clv_holdout_days: {E2E_CLV_HOLDOUT_DAYS}
  churn:
    horizon_days: {E2E_CHURN_HORIZON_DAYS}
  segments:
    k_max: {E2E_SEGMENTS_K_MAX}
identity:
  u_max_pairs: {E2E_U_MAX_PAIRS}
"""


@pytest.fixture(scope="session")
def test_profile(tmp_path_factory) -> str:
    """A profile file with the test session's Spark settings, for `c360 --profile` in this process."""
    path = tmp_path_factory.mktemp("profile") / "tests.yaml"
    path.write_text(TEST_PROFILE)
    return str(path)


@dataclass(frozen=True)
class EndToEnd:
    """The shared lake: what was generated, how it was built, and what the Airflow run printed."""

    rt: Runtime
    sample: Path  # the generator's output: landing/ and truth/
    first: dt.date
    last: dt.date  # the day run through Airflow; days before it are the history
    airflow_tasks: dict[str, str]  # the Airflow day's tasks and their states
    before_day: dict[str, object]  # facts recorded between the history and the Airflow day
    as_built: Path  # a copy of the lake's table folders as the build left them

    @property
    def history_last(self) -> dt.date:
        return self.last - dt.timedelta(days=1)


def airflow_day(logical_date: dt.datetime, lake_root: str, profile: str, landing: Path) -> dict[str, str]:
    """`airflow dags test c360_daily <logical_date> -c '{"landing": ...}'`, in this process: every task of the
    DAG run for real by Airflow (the sensor, the stages through the registry) on this process's
    SparkSession; the task ids and their states. Airflow's database must be migrated."""
    import logging

    # Importing Airflow logs every library at INFO through its own handler; the tests after it need not.
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    from airflow.dag_processing.dagbag import DagBag

    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("C360_LAKE_ROOT", lake_root)
            env.setenv("C360_PROFILE", profile)
            bag = DagBag(dag_folder=str(CHECKOUT / "dags"))
            assert bag.import_errors == {}, bag.import_errors
            run = bag.get_dag("c360_daily").test(logical_date=logical_date, run_conf={"landing": str(landing)})
            return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers


@pytest.fixture(scope="session")
def _e2e_lake(spark, config, tmp_path_factory) -> EndToEnd:
    """Built once: a generated sample, its history in this process, its last day through Airflow.

    1. `c360 generate` equivalent: E2E_PERSONS persons x 10 days (default rates, seed 7);
    2. the history (days 1-9): ingest, silver and identity resolution, each stage once over
       the range, in this process (what `make demo` does);
    3. day 10: `airflow dags test c360_daily 2026-10-11` in this process (`airflow_day`): a run
       at the end of day 10 processes day 10, every task of the DAG for real (the sensor, ingest,
       quality gate, silver, identities, dbt features, scores, recommendations).
    """
    from pyspark.sql import functions as F

    from jobs import pipeline
    from jobs.common.stage import Days
    from jobs.generate.main import generate
    from tests.support.runtime import runtime_for

    root = tmp_path_factory.mktemp("e2e")
    sample = root / "sample"
    generate(sample, customers=E2E_PERSONS, days=(E2E_LAST - E2E_FIRST).days + 1, seed=E2E_SEED, start=E2E_FIRST,
             log=lambda *_: None)
    reset_catalog(spark)
    lake = Lake(spark, dataclasses.replace(config.lake, root=str(root / "lake")))
    rt = runtime_for(config, lake, sample / "landing")
    profile = root / "airflow_profile.yaml"
    profile.write_text(TEST_PROFILE)
    # Airflow's database is migrated in its own process while the history loads.
    migrate_log = root / "airflow_db_migrate.log"
    with migrate_log.open("w") as out:
        migrate = subprocess.Popen([AIRFLOW, "db", "migrate"], env={**os.environ, **AIRFLOW_ENV}, stdout=out,
                                   stderr=subprocess.STDOUT)
    history = Days.of(E2E_FIRST, E2E_LAST - dt.timedelta(days=1))
    pipeline.run(rt, history, ("ingest", "silver", "resolve_identities"), log=lambda *_: None)
    before_day = {
        "silver_versions": {t: lake.version(t) for t in lake.table_names() if t.startswith("silver.")},
        "ingest_batches": {r["batch_id"] for r in lake.read("ops.ingest_log").select("batch_id").distinct().collect()},
        "silver_web_events_per_day": {r["_ds"]: r["n"] for r in lake.read("silver.web_events").groupBy("_ds")
                                      .agg(F.count("*").alias("n")).collect()},
    }

    assert migrate.wait(timeout=300) == 0, migrate_log.read_text()[-3000:]
    logical_date = dt.datetime.combine(E2E_LAST + dt.timedelta(days=1), dt.time(), dt.UTC)
    tasks = airflow_day(logical_date, lake.root, str(profile), sample / "landing")
    reset_catalog(spark)  # the tasks registered the lake's tables in this process's catalog
    as_built = root / "lake_as_built"
    for table in lake.table_names():
        layer, name = table.split(".")
        shutil.copytree(Path(lake.root) / layer / name, as_built / layer / name)
    shutil.copytree(Path(lake.root) / REPORTS, as_built / REPORTS)  # the Airflow day's report, dbt docs, Data Docs
    return EndToEnd(rt, sample, E2E_FIRST, E2E_LAST, tasks, before_day, as_built)


@pytest.fixture
def e2e(_e2e_lake: EndToEnd) -> Iterator[EndToEnd]:
    """The shared end-to-end lake; whatever a test changes in it is put back afterwards.

    The lake's tables and its reports were copied aside once built (`<root>/lake_as_built`).
    After a test, each table whose Delta log differs from the copy's gets its folder back from
    the copy, a table the test created is dropped, the reports folder comes back if a file in
    it changed, and Delta's cached logs are cleared: every test sees the lake as the build left
    it, without a RESTORE commit per table.
    """
    lake = _e2e_lake.rt.lake
    if _CATALOG["root"] != lake.root:
        reset_catalog(lake.spark)
        lake.register_all()
        _CATALOG["root"] = lake.root
    yield _e2e_lake
    _put_back(lake, _e2e_lake.as_built)


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """Each file under `folder` (relative path) with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file()}


def _delta_log(table_dir: Path) -> list[str]:
    log = table_dir / "_delta_log"
    return sorted(os.listdir(log)) if log.is_dir() else []


def _put_back(lake: Lake, as_built: Path) -> None:
    """Give every table of `lake` the folder it had in `as_built`; drop tables that were not there."""
    root = Path(lake.root)
    changed = False
    for table in lake.table_names():
        layer, name = table.split(".")
        now, before = root / layer / name, as_built / layer / name
        if not before.is_dir():
            lake.drop(table)
            changed = True
        elif _delta_log(now) != _delta_log(before):
            shutil.rmtree(now)
            shutil.copytree(before, now)
            changed = True
    reports, reports_before = root / REPORTS, as_built / REPORTS
    if _files(reports) != _files(reports_before):  # copytree keeps the times
        shutil.rmtree(reports, ignore_errors=True)
        shutil.copytree(reports_before, reports)
    if changed:
        # Delta caches each table's log; the folders changed under it.
        lake.spark.sparkContext._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
