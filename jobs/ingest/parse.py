"""Landing lines -> typed rows, each row either loadable or carrying the reason it is not.

Spark reads every file as text so that each row keeps its file, its line number
and its raw text. A CSV record may span lines when a quoted field holds a line
break (RFC 4180): `csv_records` joins those lines into one record, numbered by its
first line. CSV records are split by the file's own header (names matched ignoring
case), JSON lines by the contract's keys; then every column is typed (`try_cast`)
and checked against the contract (required, type, rule, no decimal places lost).
A row's `_reason` is the first problem found, or null for a good row.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.common.landing_contract import Source

# A staged file's name: its index in the batch (jobs/ingest/main.py `_spark_path`).
_INDEXED_NAME = re.compile(r"\d+\.txt(\.gz)?")
# A CSV field in quotes, with "" as an escaped quote: removed before counting commas.
_QUOTED_FIELD = r'"([^"]|"")*"'


def numbered_lines(spark: SparkSession, paths: Sequence[str], only: Sequence[int] | None = None) -> DataFrame:
    """Every line of every file (of those indexed by `only`): `_file_idx` (index into `paths`), `_line` (1-based), `value`.

    Spark keeps a file's splits in file order, so ordering by a monotonically
    increasing id within a file gives its line order. Files named by their index
    (`00042.txt`, as ingest stages them) are read in one scan, the index taken from
    the name, so a backfill of hundreds of days stays one small plan; other paths
    are scanned one by one.
    """
    chosen = list(range(len(paths)) if only is None else only)
    if all(_INDEXED_NAME.fullmatch(paths[i].rsplit("/", 1)[-1]) and _index_of(paths[i]) == i for i in chosen):
        lines = spark.read.text([paths[i] for i in chosen]).withColumn(
            "_file_idx", F.regexp_extract(F.col("_metadata.file_path"), r"/(\d+)\.txt(\.gz)?$", 1).cast("int"))
    else:
        scans = [spark.read.text(paths[i]).withColumn("_file_idx", F.lit(i)) for i in chosen]
        lines = reduce(DataFrame.unionAll, scans)
    lines = lines.withColumn("_mid", F.monotonically_increasing_id())
    order = Window.partitionBy("_file_idx").orderBy("_mid")
    return lines.withColumn("_line", F.row_number().over(order)).drop("_mid")


def _index_of(path: str) -> int:
    return int(path.rsplit("/", 1)[-1].split(".", 1)[0])


def csv_records(lines: DataFrame) -> DataFrame:
    """CSV lines -> records: lines inside a quoted field joined (with "\\n") to the line that opened it.

    A line with an odd number of double quotes opens (or closes) a quoted field; a line
    continues the record before it when an odd number of such lines precede it in the file
    and one follows to close it. A quote that never closes joins nothing: its line stays a
    record of its own (and fails its field count). Output: `_file_idx`, `_line` (first
    line of the record), `_last_line`, `value`.
    """
    by_line = Window.partitionBy("_file_idx").orderBy("_line")
    before = by_line.rowsBetween(Window.unboundedPreceding, -1)
    odd_before = F.coalesce(F.sum("_odd").over(before), F.lit(0))
    # Lines of a record share a number: the count of lines so far that start a record.
    record = F.sum(F.when(F.col("_continues"), 0).otherwise(1)).over(
        by_line.rowsBetween(Window.unboundedPreceding, Window.currentRow))
    whole = Window.partitionBy("_file_idx", "_record").orderBy("_line").rowsBetween(
        Window.unboundedPreceding, Window.unboundedFollowing)
    return (
        lines.withColumn("_odd", (F.length("value") - F.length(F.translate("value", '"', ""))) % 2)
        .withColumn("_odd_in_file", F.sum("_odd").over(Window.partitionBy("_file_idx")))
        .withColumn("_continues", (odd_before % 2 == 1) & (odd_before < F.col("_odd_in_file")))
        .withColumn("_record", record)
        .withColumn("_last_line", F.max("_line").over(whole))
        .withColumn("_joined", F.array_join(F.collect_list("value").over(whole), "\n"))
        .where(~F.col("_continues"))
        .select("_file_idx", "_line", "_last_line", F.col("_joined").alias("value"))
    )


def split_csv(lines: DataFrame, header: Sequence[str], source: Source) -> DataFrame:
    """CSV records or lines (header dropped) -> one string column per contract column + `_format_error`.

    `header` holds the file's column names lower-cased; contract columns absent from it come
    out null; extra columns are ignored. Line numbers become data line numbers (header excluded).
    """
    if "_last_line" not in lines.columns:  # lines, not records: each its own record
        lines = lines.withColumn("_last_line", F.col("_line"))
    data = (lines.where(F.col("_line") > 1)
            .withColumn("_line", F.col("_line") - 1).withColumn("_last_line", F.col("_last_line") - 1))
    schema = ", ".join(f"`_h{i}` STRING" for i in range(len(header)))
    fields = F.from_csv(F.col("value"), schema, {"mode": "PERMISSIVE", "nullValue": ""})
    count = F.size(F.split(F.regexp_replace(F.col("value"), _QUOTED_FIELD, ""), ",", -1))
    position = {name: i for i, name in enumerate(header)}
    columns = [
        (F.col("_fields")[f"_h{position[c.name.lower()]}"] if c.name.lower() in position
         else F.lit(None).cast("string")).alias(c.name)
        for c in source.columns
    ]
    error = (
        F.when(F.trim(F.col("value")) == "", F.lit("empty line"))
        .when(count != len(header), F.format_string(f"expected {len(header)} fields, found %d", count))
    )
    return data.withColumn("_fields", fields).select(
        "_file_idx", "_line", "_last_line", "value", *columns, error.alias("_format_error")
    )


def split_json(lines: DataFrame, source: Source) -> DataFrame:
    """JSON lines -> one string column per contract column + `_format_error`.

    A line must hold exactly one JSON object: text after it (a second object, stray
    characters) is an error, not silently dropped.
    """
    schema = ", ".join(f"`{c.name}` STRING" for c in source.columns)
    value = F.col("value")
    parsed = F.from_json(value, schema, {"mode": "PERMISSIVE"})
    # One JSON value, nothing after it, and that value an object.
    one_object = (
        F.ltrim(value).startswith("{") & F.rtrim(value).endswith("}")
        & (F.json_array_length(F.concat(F.lit("["), value, F.lit("]"))) == 1)
    )
    error = (
        F.when(F.trim(value) == "", F.lit("empty line"))
        .when(F.coalesce(one_object, F.lit(False)), F.lit(None))
        .when(F.json_object_keys(value).isNotNull(), F.lit("text after the JSON object: one object per line"))
        .otherwise(F.lit("not a valid JSON object (truncated or malformed line)"))
    )
    return lines.withColumn("_parsed", parsed).select(
        "_file_idx", "_line", F.col("_line").alias("_last_line"), "value",
        *[F.col("_parsed")[c.name].alias(c.name) for c in source.columns],
        error.alias("_format_error"),
    )


def _on_typed_values(check: str, source: Source) -> str:
    """A column rule over the typed values: every contract column it names (its own, or others of the row)."""
    names = "|".join(re.escape(c.name) for c in sorted(source.columns, key=lambda c: -len(c.name)))
    return re.sub(rf"\b({names})\b", lambda m: f"`__value_{m.group(1)}`", check)


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
        if c.type.startswith("decimal"):
            # try_cast rounds to the column's scale: a value that would change is refused, not rounded.
            exact = F.trim(raw).try_cast("decimal(38,18)")
            rounded = F.format_string(f"column {c.name}: '%s' has more decimal places than {c.type} keeps", raw)
            reasons.append(F.when(value.isNotNull() & (exact != value), rounded))
        if c.check:
            rule = F.expr(_on_typed_values(c.check, source))
            broken = F.format_string(f"column {c.name}: '%s' breaks the rule {c.check}", raw)
            reasons.append(F.when(F.col(f"__value_{c.name}").isNotNull() & ~rule, broken))
    with_values = split.select("*", *[v.alias(f"__value_{c.name}") for v, c in zip(values, source.columns, strict=True)])
    return with_values.select(
        "_file_idx", "_line", "_last_line", "value",
        *[F.col(f"__value_{c.name}").alias(c.name) for c in source.columns],
        F.coalesce(*reasons).alias("_reason"),
    )
