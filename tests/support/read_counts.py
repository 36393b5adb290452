"""Second-process reader for the lake concurrency test.

Usage: python -m tests.support.read_counts <layer.table> <times>
Starts its own SparkSession through the factory (which registers the lake's
tables by name), counts the table `times` times, prints the counts as JSON.
"""
import json
import sys
import time

from jobs.common.config import load_config
from jobs.common.spark import build_spark


def main(table: str, times: int) -> None:
    spark = build_spark(load_config(), app_name="c360-test-reader")
    counts = []
    for _ in range(times):
        counts.append(spark.sql(f"SELECT count(*) AS n FROM {table}").first()["n"])
        time.sleep(0.5)
    print(json.dumps(counts))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
