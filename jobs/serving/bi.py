"""`c360 bi`: Spark's Thrift JDBC/ODBC server over the lake, every table by its `<layer>.<name>`.

The server (HiveThriftServer2, shipped in the pyspark install) runs inside a SparkSession
built by the one factory (jobs/common/spark.py), so it has the lake's tables registered
and Delta's SQL extension and catalog. Its JDBC sessions load Delta's classes from the
driver's class path: the Delta jars go on `spark.driver.extraClassPath` (with `spark.jars`
alone every JDBC session fails with ClassNotFoundException: DeltaCatalog). Tables that
appear in the lake while it runs are registered every `serving.bi_refresh_seconds`.

Connect with any Hive JDBC/ODBC client: `jdbc:hive2://<host>:<port>/default`, no user or
password (bind it to loopback, the default, or put it behind something that authenticates).
"""
from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Callable

from jobs.common.config import Config
from jobs.common.lake import Lake
from jobs.common.spark import build_spark, delta_jars, splink_jars

log = logging.getLogger(__name__)


def bi_config(config: Config, host: str, port: int) -> Config:
    """`config` with the Thrift server's address and Delta on the driver's class path."""
    conf = {
        **config.spark.conf,
        "spark.hadoop.hive.server2.thrift.bind.host": host,
        "spark.hadoop.hive.server2.thrift.port": str(port),
    }
    if config.spark.jars_dir:
        conf["spark.driver.extraClassPath"] = ":".join([*delta_jars(config.spark.jars_dir), *splink_jars()])
    return dataclasses.replace(config, spark=dataclasses.replace(config.spark, conf=conf))


def run_bi(config: Config, host: str, port: int, ready: Callable[[str], None] = print) -> None:
    """Start the Thrift server on host:port and serve until SIGTERM or Ctrl-C."""
    began = time.perf_counter()
    spark = build_spark(bi_config(config, host, port), app_name="c360 bi", read_only=True)
    lake = Lake(spark, config.lake)
    server = spark._jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithContext(
        spark._jsparkSession.sqlContext())
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    ready(f"c360 bi: jdbc:hive2://{host}:{port}/default serves {len(lake.table_names())} lake tables of "
          f"{config.lake.root} by <layer>.<name> (ready in {time.perf_counter() - began:.0f} s; Ctrl-C stops it)")
    try:
        while not stop.wait(config.serving.bi_refresh_seconds):
            lake.register_all()  # tables created since the start
    finally:
        server.stop()
        spark.stop()
