"""Landing lines -> typed rows, each row either loadable or carrying the reason it is not.

Spark reads every file as text so that each row keeps its file, its line number
and its raw text; CSV lines are split by the file's own header, JSON lines by the
contract's keys; then every column is typed (`try_cast`) and checked against the
contract (required, type, rule). A row's `_reason` is the first problem found, or
null for a good row.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.common.landing_contract import Source

# A CSV field in quotes, with "" as an escaped quote: removed before counting commas.
_QUOTED_FIELD = r'"([^"]|"")*"'


def numbered_lines(spark: SparkSession, paths: Sequence[str]) -> DataFrame:
    """Every line of every file: `_file_idx` (index into `paths`), `_line` (1-based), `value`.

    Spark keeps a file's splits in file order, so ordering by a monotonically
    increasing id within a file gives its line order.
    """
    scans = [spark.read.text(p).withColumn("_file_idx", F.lit(i)) for i, p in enumerate(paths)]
    lines = reduce(DataFrame.unionAll, scans).withColumn("_mid", F.monotonically_increasing_id())
    order = Window.partitionBy("_file_idx").orderBy("_mid")
    return lines.withColumn("_line", F.row_number().over(order)).drop("_mid")


def split_csv(lines: DataFrame, header: Sequence[str], source: Source) -> DataFrame:
    """CSV data lines (header dropped) -> one string column per contract column + `_format_error`.

    Contract columns absent from the header come out null; extra columns are ignored.
    """
    data = lines.where(F.col("_line") > 1).withColumn("_line", F.col("_line") - 1)
    schema = ", ".join(f"`_h{i}` STRING" for i in range(len(header)))
    fields = F.from_csv(F.col("value"), schema, {"mode": "PERMISSIVE", "nullValue": ""})
    count = F.size(F.split(F.regexp_replace(F.col("value"), _QUOTED_FIELD, ""), ",", -1))
    position = {name: i for i, name in enumerate(header)}
    columns = [
        (F.col("_fields")[f"_h{position[c.name]}"] if c.name in position else F.lit(None).cast("string")).alias(c.name)
        for c in source.columns
    ]
    error = (
        F.when(F.trim(F.col("value")) == "", F.lit("empty line"))
        .when(count != len(header), F.format_string(f"expected {len(header)} fields, found %d", count))
    )
    return data.withColumn("_fields", fields).select(
        "_file_idx", "_line", "value", *columns, error.alias("_format_error")
    )


def split_json(lines: DataFrame, source: Source) -> DataFrame:
    """JSON lines -> one string column per contract column + `_format_error`."""
    schema = ", ".join(f"`{c.name}` STRING" for c in source.columns)
    parsed = F.from_json(F.col("value"), schema, {"mode": "PERMISSIVE"})
    error = (
        F.when(F.trim(F.col("value")) == "", F.lit("empty line"))
        .when(F.json_object_keys(F.col("value")).isNull(), F.lit("not a valid JSON object (truncated or malformed line)"))
    )
    return lines.withColumn("_parsed", parsed).select(
        "_file_idx", "_line", "value",
        *[F.col("_parsed")[c.name].alias(c.name) for c in source.columns],
        error.alias("_format_error"),
    )


def typed(split: DataFrame, source: Source) -> DataFrame:
    """Type every contract column and attach `_reason` (null when the row is good)."""
    reasons: list[Column] = [F.col("_format_error")]
    values: list[Column] = []
    for c in source.columns:
        raw = F.col(c.name)
        blank = raw.isNull() | (F.trim(raw) == "")
        value = F.when(~blank, raw if c.type == "string" else F.trim(raw).try_cast(c.type))
        values.append(value)
        if c.required:
            reasons.append(F.when(blank, F.lit(f"required column {c.name} is empty")))
        if c.type != "string":
            bad = F.format_string(f"column {c.name}: '%s' is not a valid {c.type}", raw)
            reasons.append(F.when(~blank & value.isNull(), bad))
        if c.check:
            rule = F.expr(c.check.replace(c.name, f"`__value_{c.name}`"))
            broken = F.format_string(f"column {c.name}: '%s' breaks the rule {c.check}", raw)
            reasons.append(F.when(F.col(f"__value_{c.name}").isNotNull() & ~rule, broken))
    with_values = split.select("*", *[v.alias(f"__value_{c.name}") for v, c in zip(values, source.columns, strict=True)])
    return with_values.select(
        "_file_idx", "_line", "value",
        *[F.col(f"__value_{c.name}").alias(c.name) for c in source.columns],
        F.coalesce(*reasons).alias("_reason"),
    )
