"""`c360 bench lake`: Delta write / read / merge / to-Arrow throughput against a pyarrow floor.

For each size (default 1 M and 5 M rows of 6 columns) it builds the rows in Spark,
then times, through `jobs.common.lake`:
- write: a new Delta table (`Lake.overwrite`);
- read: a full scan of every column (`noop` sink, nothing collected);
- to_arrow: the round trip back to the driver as one Arrow table (`toArrow`),
  at the local profile's memory settings;
- floor: `pyarrow.parquet.write_table` of that same Arrow table (no Spark, no Delta);
- merge: an upsert of n/10 rows, half updates and half inserts (`Lake.merge`).
Peak RSS is reported for the Python process and the Spark JVM. A 100 k-row pass
first warms the JVM and is not reported.
"""
from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.bench import Figures, peak_rss_mb
from jobs.common.config import load_config
from jobs.common.lake import Lake
from jobs.common.spark import build_spark

TABLE = "ops.bench_orders"


def rows(spark: SparkSession, n: int, start: int = 0) -> DataFrame:
    """n deterministic order-like rows: 6 columns of mixed types."""
    ids = spark.range(start, start + n, numPartitions=max(2, n // 500_000))
    return ids.select(
        F.col("id"),
        F.concat(F.lit("C"), F.lpad((F.col("id") % 1_000_003).cast("string"), 8, "0")).alias("customer_key"),
        F.concat(F.lit("SKU-"), F.lpad((F.abs(F.hash("id")) % 2000).cast("string"), 6, "0")).alias("sku"),
        (F.abs(F.hash(F.col("id") + 1)) % 5 + 1).cast("int").alias("quantity"),
        (F.abs(F.hash(F.col("id") + 2)) % 100_000 / 100).cast("decimal(12,2)").alias("amount"),
        (F.lit(1790812800) + F.col("id") % (86400 * 30)).cast("timestamp").alias("order_ts"),
    )


def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def measure(spark: SparkSession, lake: Lake, n: int, scratch: Path) -> Figures:
    source = rows(spark, n).cache()
    source.count()
    write_s, _ = _timed(lambda: lake.overwrite(source, TABLE))
    source.unpersist()
    read_s, _ = _timed(lambda: lake.read(TABLE).write.format("noop").mode("overwrite").save())
    arrow_s, arrow = _timed(lambda: lake.read(TABLE).toArrow())
    assert arrow.num_rows == n, f"round trip lost rows: {arrow.num_rows} of {n}"
    floor_s, _ = _timed(lambda: pq.write_table(arrow, scratch / f"floor_{n}.parquet"))
    arrow = None  # free the driver copy before the merge
    changes = rows(spark, n // 10, start=n - n // 20).withColumn("amount", (F.col("amount") + 1).cast("decimal(12,2)")).cache()
    changes.count()
    merge_s, _ = _timed(lambda: lake.merge(changes, TABLE, keys=["id"]))
    changes.unpersist()
    after = lake.read(TABLE).count()
    assert after == n + n // 20, f"merge gave {after} rows, expected {n + n // 20}"
    tag = f"{n // 1_000_000}m" if n % 1_000_000 == 0 else str(n)
    return {
        f"rows_{tag}": n,
        f"delta_write_rows_per_s_{tag}": round(n / write_s),
        f"delta_read_rows_per_s_{tag}": round(n / read_s),
        f"delta_to_arrow_rows_per_s_{tag}": round(n / arrow_s),
        f"pyarrow_write_rows_per_s_{tag}": round(n / floor_s),
        f"delta_merge_rows_per_s_{tag}": round((n // 10) / merge_s),
        f"delta_write_vs_pyarrow_{tag}": round(floor_s / write_s, 3),
        f"delta_write_s_{tag}": round(write_s, 2),
        f"delta_read_s_{tag}": round(read_s, 2),
        f"delta_to_arrow_s_{tag}": round(arrow_s, 2),
        f"pyarrow_write_s_{tag}": round(floor_s, 2),
        f"delta_merge_s_{tag}": round(merge_s, 2),
    }


def run(scale: int | None = None, profile: str | None = None) -> Figures:
    sizes = [scale] if scale else [1_000_000, 5_000_000]
    scratch = Path(tempfile.mkdtemp(prefix="c360-bench-lake-"))
    base = load_config(profile)
    config = dataclasses.replace(base, lake=dataclasses.replace(base.lake, root=str(scratch / "lake")))
    spark = build_spark(config, app_name="c360 bench lake", register_tables=False)
    figures: Figures = {"spark_master": config.spark.master, "driver_memory": config.spark.driver_memory}
    try:
        lake = Lake(spark, config.lake)
        # Warm the JVM (class loading, JIT) so the first size is not charged for it.
        measure(spark, lake, 100_000, scratch)
        for n in sizes:
            figures.update(measure(spark, lake, n, scratch))
        jvm_pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
        figures["peak_rss_mb_python"] = round(peak_rss_mb())
        figures["peak_rss_mb_spark_jvm"] = round(peak_rss_mb(int(jvm_pid)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return figures
