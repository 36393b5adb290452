"""Comparing DataFrames as multisets of rows."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def comparable(df: DataFrame) -> DataFrame:
    """Map columns as sorted entry arrays: Spark's set operations refuse maps."""
    return df.select(*[
        F.array_sort(F.map_entries(f.name)).alias(f.name) if f.dataType.typeName() == "map" else F.col(f.name)
        for f in df.schema.fields
    ])


def same_rows(a: DataFrame, b: DataFrame) -> bool:
    """The same rows, each as often, in any order."""
    a, b = comparable(a), comparable(b)
    return a.count() == b.count() and a.exceptAll(b).count() == 0 and b.exceptAll(a).count() == 0
