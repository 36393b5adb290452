"""The identity match model on disk: one JSON file of Splink's settings with its parameters.

`jobs.identity.model` trains and reads it; the erasure stage (`jobs.privacy`) takes out
of it the names no record holds any more (`forget_names`). Its key `TERM_FREQUENCIES`
holds, per name column, each name's share of the profile records counted at training.
"""
from __future__ import annotations

import json
from collections.abc import Mapping

from pyspark.sql import SparkSession

from jobs.common.files import read_text, write_text

MODEL_FILE = "splink_model.json"
TERM_FREQUENCIES = "c360_term_frequencies"  # the model's key holding {column: {value: share of records}}


def save(model: dict, model_dir: str, spark: SparkSession | None = None) -> str:
    """Write the model (atomically: a reader sees the old file or the new one) to a folder or, through
    `spark`'s Hadoop file systems, under a URI (`s3a://`: a lake on an object store)."""
    path = f"{model_dir.rstrip('/')}/{MODEL_FILE}"
    write_text(spark, path, json.dumps(model, indent=1))
    return path


def load(model_dir: str, spark: SparkSession | None = None) -> dict | None:
    """The model in `model_dir` (a folder, or a URI read through `spark`); None before the first training."""
    text = read_text(spark, f"{model_dir.rstrip('/')}/{MODEL_FILE}")
    return json.loads(text) if text is not None else None


def forget_names(model: dict, held: Mapping[str, set[str]]) -> tuple[dict, int]:
    """The model without the term-frequency entries of names that no record holds (`held`: per column, the
    names the records still hold); and how many entries went.

    A name nobody has any more weighs nothing in a comparison; the other names keep the shares they
    were trained with.
    """
    tables = model.get(TERM_FREQUENCIES) or {}
    kept = {column: {name: share for name, share in table.items() if name in held.get(column, set())}
            for column, table in tables.items()}
    gone = sum(len(table) - len(kept[column]) for column, table in tables.items())
    return ({**model, TERM_FREQUENCIES: kept} if tables else model), gone
