"""One served day of the serving tables, read without a JVM (delta-rs into Arrow), indexed for lookups.

`latest_complete_day(root)` finds the newest `run_date` every table of the serving contract
marked `complete_day` holds; `load_day(root, day)` reads that day of each serving table
into memory and sorts it by its key; `ServedDay` answers by binary search over sorted
byte-string arrays (numpy), so a lookup costs microseconds and the index holds no Python
object per row.

A `ServedDay` never changes once built: the service swaps one for another, so a request
sees one day from start to end.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from jobs.common.serving_contract import (
    CUSTOMER_LOOKUP,
    CUSTOMER_SCORES,
    CUSTOMER_SEGMENTS,
    RECOMMENDATIONS,
    SERVING_TABLES,
    ServingTable,
)

# Columns of each table an answer shows (the rest is the key or the stamp).
SEGMENT_FIELDS = ("rfm_score", "rfm_segment", "cluster_id", "cluster_name", "segment_model_version")
SCORE_FIELDS = ("expected_purchases_90d", "p_alive", "clv_12m", "churn_probability", "churn_risk_band",
                "churn_drivers", "clv_model_version", "churn_model_version")
ITEM_FIELDS = ("rank", "product_id", "score", "source", "reason")


class LakeUnreadable(RuntimeError):
    """The serving tables could not be read (missing, or their Delta log unreadable)."""


def table_path(root: str, table: ServingTable) -> str:
    return f"{root.rstrip('/')}/serving/{table.short_name}"


def _open(root: str, table: ServingTable) -> DeltaTable | None:
    path = table_path(root, table)
    if "://" not in path and not os.path.isdir(os.path.join(path, "_delta_log")):
        return None
    try:
        return DeltaTable(path)
    except Exception as exc:  # delta-rs raises its own types (TableNotFoundError, DeltaError, OSError)
        if "no files in log segment" in str(exc).lower() or "not a delta table" in str(exc).lower():
            return None
        raise LakeUnreadable(f"{table.name} ({path}): {exc}") from exc


def _days(table: DeltaTable) -> set[dt.date]:
    return {dt.date.fromisoformat(p["run_date"]) for p in table.partitions() if p.get("run_date")}


def latest_complete_day(root: str) -> tuple[dt.date | None, dict[str, int]]:
    """The newest run_date every `complete_day` serving table holds, and each serving table's Delta version.

    Raises:
        LakeUnreadable: a serving table exists but cannot be read.
    """
    days: set[dt.date] | None = None
    versions: dict[str, int] = {}
    for table in SERVING_TABLES:
        delta = _open(root, table)
        if delta is not None:
            versions[table.name] = delta.version()
        if not table.complete_day:
            continue
        held = _days(delta) if delta is not None else set()
        days = held if days is None else days & held
    return (max(days) if days else None), versions


def _read_day(root: str, table: ServingTable, day: dt.date, columns: tuple[str, ...]) -> pa.Table | None:
    delta = _open(root, table)
    if delta is None:
        return None
    try:
        return delta.to_pyarrow_dataset().to_table(columns=list(columns),
                                                   filter=pc.field("run_date") == pa.scalar(day, pa.date32()))
    except Exception as exc:
        raise LakeUnreadable(f"{table.name} run_date {day}: {exc}") from exc


def _sorted_keys(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Arrow strings -> a numpy array of fixed-width byte strings (the same order)."""
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    width = max(1, pc.max(pc.binary_length(array)).as_py() or 1)
    return np.asarray(array.cast(pa.binary()).to_numpy(zero_copy_only=False), dtype=f"S{width}")


@dataclass(frozen=True)
class _Index:
    """Sorted byte-string keys -> row positions of a table."""

    keys: np.ndarray

    @classmethod
    def of(cls, column: pa.ChunkedArray) -> _Index:
        return cls(_sorted_keys(column))

    def find(self, key: str) -> int | None:
        encoded = key.encode()
        if len(encoded) > self.keys.dtype.itemsize:
            return None
        i = int(np.searchsorted(self.keys, encoded))
        return i if i < len(self.keys) and self.keys[i] == encoded else None

    def span(self, key: str) -> tuple[int, int]:
        """[start, end) of the rows holding `key` (empty when none)."""
        encoded = key.encode()
        if len(encoded) > self.keys.dtype.itemsize:
            return 0, 0
        return int(np.searchsorted(self.keys, encoded, "left")), int(np.searchsorted(self.keys, encoded, "right"))


def _by(table: pa.Table, *keys: str) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in keys]).combine_chunks()


@dataclass(frozen=True)
class Customer:
    customer_key: str | None
    candidates: int


@dataclass(frozen=True)
class ServedDay:
    """One complete serving day, in memory."""

    run_date: dt.date
    versions: dict[str, int]
    loaded_at: dt.datetime
    load_seconds: float
    rows: dict[str, int]
    _lookup: dict[str, tuple[_Index, pa.Table]] = field(repr=False)
    _segments: tuple[_Index, pa.Table] = field(repr=False)
    _scores: tuple[_Index, pa.Table] | None = field(repr=False)
    _recs: tuple[_Index, pa.Table] = field(repr=False)

    def resolve(self, id_type: str, id_: str) -> Customer | None:
        """The customer an id names (None: unknown id)."""
        index, table = self._lookup.get(id_type, (None, None))
        if index is None:
            return None
        row = index.find(id_)
        if row is None:
            return None
        return Customer(table["customer_key"][row].as_py(), table["candidates"][row].as_py())

    def profile(self, customer_key: str) -> dict[str, Any]:
        """Segments and scores of a customer (either is None when the day has no row for it)."""
        return {"segments": _row(self._segments, customer_key, SEGMENT_FIELDS),
                "scores": _row(self._scores, customer_key, SCORE_FIELDS) if self._scores else None}

    def profile_json(self, customer_key: str) -> tuple[str, str]:
        """`profile` as the JSON of its segments and of its scores (`null` when absent)."""
        return _row_json(self._segments, customer_key), _row_json(self._scores, customer_key)

    def recommendations(self, customer_key: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """The customer's first `limit` recommendations by rank, and the model version that made them."""
        index, table = self._recs
        start, end = index.span(customer_key)
        if start == end:
            return [], None
        rows = table.slice(start, min(end - start, limit))
        return rows.select(list(ITEM_FIELDS)).to_pylist(), rows["model_version"][0].as_py()

    def recommendations_json(self, customer_key: str, limit: int) -> tuple[str, str | None]:
        """`recommendations` as a JSON array, joined from each item's JSON written at load time."""
        index, table = self._recs
        start, end = index.span(customer_key)
        if start == end:
            return "[]", None
        rows = table.slice(start, min(end - start, limit))
        return "[" + ",".join(rows["_json"].to_pylist()) + "]", rows["model_version"][0].as_py()


def _json_string(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Strings as JSON string literals (null as null); values with control characters through `json`."""
    escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    literal = pc.binary_join_element_wise('"', escaped, '"', "")
    control = pc.fill_null(pc.match_substring_regex(values, r"[\x00-\x1f]"), False)
    if pc.any(control).as_py():
        exact = pa.array([json.dumps(v) if v is not None else None for v in values.to_pylist()], pa.string())
        literal = pc.if_else(control, exact, literal)
    return pc.fill_null(literal, "null")


def _json_number(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Numbers as JSON literals; null, NaN and infinities as null."""
    if pa.types.is_floating(values.type):
        values = pc.if_else(pc.is_finite(values), values, pa.scalar(None, values.type))
    return pc.fill_null(pc.cast(values, pa.string()), "null")


def _json_strings(values: pa.ChunkedArray) -> pa.Array:
    """Lists of strings as JSON arrays (null as null)."""
    lists = values.combine_chunks()
    if isinstance(lists, pa.ChunkedArray):
        lists = pa.concat_arrays(lists.chunks) if lists.num_chunks else pa.array([], values.type)
    offsets = pc.subtract(lists.offsets, lists.offsets[0])  # a slice's offsets start where its values do
    literals = _json_string(pa.chunked_array([lists.flatten()], pa.string())).combine_chunks()
    rebuilt = pa.ListArray.from_arrays(offsets, literals, mask=lists.is_null())
    joined = pc.binary_join_element_wise("[", pc.binary_join(rebuilt, ","), "]", "")
    return pc.fill_null(joined, "null")


def json_objects(table: pa.Table, fields: tuple[str, ...]) -> pa.ChunkedArray:
    """One JSON object per row of `table` with `fields` (strings, numbers, lists of strings), built in Arrow."""
    parts = []
    for n, name in enumerate(fields):
        column = table[name]
        if pa.types.is_string(column.type):
            literal = _json_string(column)
        elif pa.types.is_list(column.type):
            literal = _json_strings(column)
        else:
            literal = _json_number(column)
        parts += [("{" if n == 0 else ",") + json.dumps(name) + ":", literal]
    return pc.binary_join_element_wise(*parts, "}", "")


def _row_json(indexed: tuple[_Index, pa.Table] | None, key: str) -> str:
    if indexed is None:
        return "null"
    index, table = indexed
    row = index.find(key)
    return "null" if row is None else table["_json"][row].as_py()


def _row(indexed: tuple[_Index, pa.Table], key: str, fields: tuple[str, ...]) -> dict[str, Any] | None:
    index, table = indexed
    row = index.find(key)
    if row is None:
        return None
    return {name: table[name][row].as_py() for name in fields}


def load_day(root: str, day: dt.date, versions: dict[str, int]) -> ServedDay:
    """Read `day` of every serving table under `root` and index it.

    Raises:
        LakeUnreadable: a table of the day cannot be read.
    """
    began = time.perf_counter()
    lookup = _read_day(root, CUSTOMER_LOOKUP, day, ("id_type", "id", "customer_key", "candidates"))
    segments = _read_day(root, CUSTOMER_SEGMENTS, day, ("customer_key", *SEGMENT_FIELDS))
    scores = _read_day(root, CUSTOMER_SCORES, day, ("customer_key", *SCORE_FIELDS))
    recs = _read_day(root, RECOMMENDATIONS, day, ("customer_key", *ITEM_FIELDS, "model_version"))
    if lookup is None or segments is None or recs is None:
        raise LakeUnreadable(f"run_date {day} is no longer complete under {root}/serving")
    by_type: dict[str, tuple[_Index, pa.Table]] = {}
    for id_type in pc.unique(lookup["id_type"]).to_pylist():
        part = _by(lookup.filter(pc.equal(lookup["id_type"], id_type)), "id")
        by_type[id_type] = (_Index.of(part["id"]), part)
    segments = _by(segments, "customer_key")
    segments = segments.append_column("_json", json_objects(segments, SEGMENT_FIELDS))
    recs = _by(recs, "customer_key", "rank")
    recs = recs.append_column("_json", json_objects(recs, ITEM_FIELDS))
    indexed_scores = None
    if scores is not None and scores.num_rows:
        scores = _by(scores, "customer_key")
        scores = scores.append_column("_json", json_objects(scores, SCORE_FIELDS))
        indexed_scores = (_Index.of(scores["customer_key"]), scores)
    return ServedDay(
        run_date=day, versions=dict(versions), loaded_at=dt.datetime.now(dt.UTC),
        load_seconds=round(time.perf_counter() - began, 3),
        rows={CUSTOMER_LOOKUP.name: lookup.num_rows, CUSTOMER_SEGMENTS.name: segments.num_rows,
              CUSTOMER_SCORES.name: scores.num_rows if scores is not None else 0,
              RECOMMENDATIONS.name: recs.num_rows},
        _lookup=by_type, _segments=(_Index.of(segments["customer_key"]), segments), _scores=indexed_scores,
        _recs=(_Index.of(recs["customer_key"]), recs),
    )
