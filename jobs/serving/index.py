"""One served day of the serving tables, read without a JVM (delta-rs into Arrow), indexed for lookups.

`latest_complete_day(root)` finds the newest `run_date` every table of the serving contract
marked `complete_day` holds; `load_day(root, day)` reads that day of each serving table
into memory, sorts it by its key and writes each answer's JSON in Arrow (one object per
segment, score and recommendation row); `ServedDay` finds a row by binary search over
sorted byte-string arrays (numpy) and joins the JSON it holds, so a lookup costs
microseconds and the index holds no Python object per row.

A `ServedDay` never changes once built: the service swaps one for another, so a request
sees one day from start to end.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import dataclass, field

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


def _files_by_day(table: DeltaTable) -> dict[dt.date, tuple[str, ...]]:
    """The data files of each run_date in the table's current version (from its log, no data read)."""
    actions = pa.table(table.get_add_actions(flatten=True))
    by_day: dict[dt.date, list[str]] = {}
    for day, path in zip(actions.column("partition.run_date").to_pylist(), actions.column("path").to_pylist(),
                         strict=True):
        if day is not None:
            by_day.setdefault(day if isinstance(day, dt.date) else dt.date.fromisoformat(day), []).append(path)
    return {day: tuple(sorted(paths)) for day, paths in by_day.items()}


def latest_complete_day(root: str) -> tuple[dt.date | None, dict[str, int], tuple]:
    """The newest run_date every `complete_day` serving table holds, each serving table's Delta version,
    and the day's fingerprint: the files holding that day in each table (it changes when the day is
    rewritten, not when another day is written).

    Raises:
        LakeUnreadable: a serving table exists but cannot be read.
    """
    days: set[dt.date] | None = None
    versions: dict[str, int] = {}
    files: dict[str, dict[dt.date, tuple[str, ...]]] = {}
    for table in SERVING_TABLES:
        delta = _open(root, table)
        if delta is not None:
            versions[table.name] = delta.version()
            try:
                files[table.name] = _files_by_day(delta)
            except Exception as exc:
                raise LakeUnreadable(f"{table.name}: {exc}") from exc
        if not table.complete_day:
            continue
        held = set(files.get(table.name, {}))
        days = held if days is None else days & held
    day = max(days) if days else None
    fingerprint = tuple((name, by_day.get(day, ())) for name, by_day in sorted(files.items())) if day else ()
    return day, versions, fingerprint


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
    lengths = pc.min_max(pc.binary_length(array)).as_py()
    width = max(1, lengths["max"] or 1)
    if array.null_count == 0 and lengths["min"] == width and array.type == pa.string():
        # every key as long as the widest (customer keys): the string data is the array already
        first = int(np.frombuffer(array.buffers()[1], dtype=np.int32, count=1, offset=array.offset * 4)[0])
        return np.frombuffer(array.buffers()[2], dtype=f"S{width}", count=len(array), offset=first).copy()
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


# Rows per chunk of an indexed table: a string column of one chunk holds at most 2 GiB, and the
# JSON of 20 M recommendations is more than that.
CHUNK_ROWS = 1_000_000


def _by(table: pa.Table, *keys: str) -> pa.Table:
    ordered = table.sort_by([(k, "ascending") for k in keys])
    return pa.Table.from_batches(ordered.to_batches(max_chunksize=CHUNK_ROWS), ordered.schema)


@dataclass(frozen=True)
class Customer:
    customer_key: str | None
    candidates: int


@dataclass(frozen=True)
class _Rows:
    """A table sorted by key: the index, each row's JSON text in one buffer (row i is
    `data[offsets[i]:offsets[i + 1]]`, so the rows of one key are one slice), and kept columns."""

    index: _Index
    offsets: np.ndarray
    data: np.ndarray
    kept: dict[str, pa.Array]

    @classmethod
    def of(cls, index: _Index, answers: pa.LargeStringArray, kept: dict[str, pa.Array]) -> _Rows:
        if len(answers) == 0:
            return cls(index, np.zeros(1, np.int64), np.zeros(0, np.uint8), kept)
        _, offsets, data = answers.buffers()
        offsets = np.frombuffer(offsets, dtype=np.int64, count=len(answers) + 1, offset=answers.offset * 8)
        return cls(index, offsets, np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8),
                   kept)

    def text(self, start: int, end: int) -> bytes:
        return self.data[self.offsets[start]:self.offsets[end]].tobytes()


@dataclass(frozen=True)
class ServedDay:
    """One complete serving day, in memory."""

    run_date: dt.date
    versions: dict[str, int]
    fingerprint: tuple
    loaded_at: dt.datetime
    load_seconds: float
    rows: dict[str, int]
    _lookup: dict[str, tuple[_Index, pa.Array, pa.Array]] = field(repr=False)
    _segments: _Rows = field(repr=False)
    _scores: _Rows | None = field(repr=False)
    _recs: _Rows = field(repr=False)

    def resolve(self, id_type: str, id_: str) -> Customer | None:
        """The customer an id names (None: unknown id)."""
        index, keys, candidates = self._lookup.get(id_type, (None, None, None))
        if index is None:
            return None
        row = index.find(id_)
        if row is None:
            return None
        return Customer(keys[row].as_py(), candidates[row].as_py())

    def profile_json(self, customer_key: str) -> tuple[bytes, bytes]:
        """The JSON of a customer's segments and of its scores (`null` when the day has no row for it)."""
        return _row_json(self._segments, customer_key), _row_json(self._scores, customer_key)

    def recommendations_json(self, customer_key: str, limit: int) -> tuple[bytes, str | None]:
        """The customer's first `limit` recommendations by rank as a JSON array (one slice of the
        items' JSON written at load time, each followed by a comma), and the model version that made them."""
        recs = self._recs
        start, end = recs.index.span(customer_key)
        if start == end:
            return b"[]", None
        items = recs.text(start, start + min(end - start, limit))
        return b"[" + items[:-1] + b"]", recs.kept["model_version"][start].as_py()


def _json_string(values: pa.Array) -> pa.Array:
    """Strings as JSON string literals (null as null); values with control characters through `json`."""
    escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    literal = pc.binary_join_element_wise('"', escaped, '"', "")
    control = pc.fill_null(pc.match_substring_regex(values, r"[\x00-\x1f]"), False)
    if pc.any(control).as_py():
        exact = pa.array([json.dumps(v) if v is not None else None for v in values.to_pylist()], pa.string())
        literal = pc.if_else(control, exact, literal)
    return pc.fill_null(literal, "null")


def _json_number(values: pa.Array) -> pa.Array:
    """Numbers as JSON literals; null, NaN and infinities as null."""
    if pa.types.is_floating(values.type):
        values = pc.if_else(pc.is_finite(values), values, pa.scalar(None, values.type))
    return pc.fill_null(pc.cast(values, pa.string()), "null")


def _json_strings(values: pa.Array) -> pa.Array:
    """Lists of strings as JSON arrays (null as null)."""
    offsets = pc.subtract(values.offsets, values.offsets[0])  # a slice's offsets start where its values do
    literals = _json_string(values.flatten())
    rebuilt = pa.ListArray.from_arrays(offsets, literals, mask=values.is_null())
    return pc.fill_null(pc.binary_join_element_wise("[", pc.binary_join(rebuilt, ","), "]", ""), "null")


def _json_batch(batch: pa.RecordBatch, fields: tuple[str, ...], end: str = "}") -> pa.Array:
    parts = []
    for n, name in enumerate(fields):
        column = batch.column(name)
        if pa.types.is_string(column.type):
            literal = _json_string(column)
        elif pa.types.is_list(column.type):
            literal = _json_strings(column)
        else:
            literal = _json_number(column)
        parts += [("{" if n == 0 else ",") + json.dumps(name) + ":", literal]
    return pc.binary_join_element_wise(*parts, end, "")


def json_objects(table: pa.Table, fields: tuple[str, ...]) -> pa.ChunkedArray:
    """One JSON object per row of `table` with `fields` (strings, numbers, lists of strings), built in
    Arrow `CHUNK_ROWS` rows at a time."""
    return pa.chunked_array([_json_batch(b, fields) for b in table.to_batches(max_chunksize=CHUNK_ROWS)],
                            pa.string())


def _row_json(rows: _Rows | None, key: str) -> bytes:
    if rows is None:
        return b"null"
    row = rows.index.find(key)
    return b"null" if row is None else rows.text(row, row + 1)


def _indexed(table: pa.Table, keys: tuple[str, ...], fields: tuple[str, ...], keep: tuple[str, ...] = (),
             end: str = "}") -> _Rows:
    """`table` sorted by `keys`: the first key to the numpy index, `fields` to one JSON object per row
    (closed by `end`)."""
    ordered = _by(table, *keys)
    del table  # the read: only its sorted copy is needed from here
    kept = {name: pc.dictionary_encode(ordered[name]).combine_chunks() for name in keep}
    # One array of 64-bit offsets (large_string): a slice of one customer's rows costs the same
    # wherever they are, where a chunked column is searched chunk by chunk.
    # Each batch's JSON is cast as soon as it is built, so the 32-bit copy of only one batch is alive at a time.
    answers = pa.concat_arrays([_json_batch(b, fields, end).cast(pa.large_string())
                                for b in ordered.to_batches(max_chunksize=CHUNK_ROWS)])
    return _Rows.of(_Index.of(ordered[keys[0]]), answers, kept)


def load_day(root: str, day: dt.date, versions: dict[str, int], fingerprint: tuple = ()) -> ServedDay:
    """Read `day` of every serving table under `root` and index it.

    The tables are read and indexed one after the other, each read dropped once indexed, and
    the memory Arrow freed goes back to the system: the peak stays near one table's read.

    Raises:
        LakeUnreadable: a table of the day cannot be read.
    """
    began = time.perf_counter()
    rows: dict[str, int] = {}

    def read(table: ServingTable, columns: tuple[str, ...], required: bool = True) -> pa.Table | None:
        got = _read_day(root, table, day, columns)
        if got is None and required:
            raise LakeUnreadable(f"run_date {day} is no longer complete under {root}/serving ({table.name} is gone)")
        rows[table.name] = got.num_rows if got is not None else 0
        return got

    lookup = read(CUSTOMER_LOOKUP, ("id_type", "id", "customer_key", "candidates"))
    by_type: dict[str, tuple[_Index, pa.Array, pa.Array]] = {}
    for id_type in pc.unique(lookup["id_type"]).to_pylist():
        part = _by(lookup.filter(pc.equal(lookup["id_type"], id_type)), "id")
        by_type[id_type] = (_Index.of(part["id"]), part["customer_key"].combine_chunks(),
                            part["candidates"].combine_chunks())
    del lookup, part
    segments = _indexed(read(CUSTOMER_SEGMENTS, ("customer_key", *SEGMENT_FIELDS)), ("customer_key",),
                        SEGMENT_FIELDS)
    scores = read(CUSTOMER_SCORES, ("customer_key", *SCORE_FIELDS), required=False)
    scores = _indexed(scores, ("customer_key",), SCORE_FIELDS) if scores is not None and scores.num_rows else None
    recs = _indexed(read(RECOMMENDATIONS, ("customer_key", *ITEM_FIELDS, "model_version")), ("customer_key", "rank"),
                    ITEM_FIELDS, keep=("model_version",), end="},")
    pa.default_memory_pool().release_unused()
    return ServedDay(
        run_date=day, versions=dict(versions), fingerprint=fingerprint, loaded_at=dt.datetime.now(dt.UTC),
        load_seconds=round(time.perf_counter() - began, 3), rows=rows,
        _lookup=by_type, _segments=segments, _scores=scores, _recs=recs,
    )
