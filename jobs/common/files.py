"""Files beside the lake tables (reports, docs): written to a local folder or through Hadoop to a URI."""
from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession


def write_text(spark: SparkSession, target: str, text: str) -> None:
    """Write a UTF-8 file to a local path, or through Hadoop's file systems to a URI (s3a://, abfss://)."""
    if "://" not in target or target.startswith("file://"):
        path = Path(target.removeprefix("file://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(target)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    out = fs.create(hadoop_path, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()
