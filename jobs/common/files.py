"""Files beside the lake tables (reports, docs): written to a local folder or through Hadoop to a URI."""
from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession


def is_local(target: str) -> bool:
    """A path on this machine's disk (no scheme, or file://), not a URI of a store Hadoop reaches."""
    return "://" not in target or target.startswith("file://")


def write_text(spark: SparkSession | None, target: str, text: str) -> None:
    """Write a UTF-8 file to a local path, or through Hadoop's file systems to a URI (s3a://, abfss://).

    A local file is written to a temporary name and renamed (a reader sees the old file or the new
    one); an object store's PUT is atomic by itself.
    """
    if is_local(target):
        path = Path(target.removeprefix("file://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        return
    if spark is None:
        raise ValueError(f"writing {target} needs a SparkSession (Hadoop's file systems)")
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(target)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    out = fs.create(hadoop_path, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()


def read_text(spark: SparkSession | None, target: str) -> str | None:
    """A UTF-8 file's text from a local path or a URI (through Hadoop); None when there is no such file."""
    if is_local(target):
        path = Path(target.removeprefix("file://"))
        return path.read_text(encoding="utf-8") if path.is_file() else None
    if spark is None:
        raise ValueError(f"reading {target} needs a SparkSession (Hadoop's file systems)")
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(target)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(hadoop_path):
        return None
    stream = fs.open(hadoop_path)
    try:
        return bytes(jvm.org.apache.commons.io.IOUtils.toByteArray(stream)).decode("utf-8")
    finally:
        stream.close()
