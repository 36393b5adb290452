"""Writing landing files exactly as the landing contract declares them, dirty rows included.

Rows arrive per chunk as typed numpy arrays (timestamps as epoch seconds, dates as
epoch days, decimals as pence) plus `_day` (the file's window day) and `_sort`.
They are formatted with Arrow compute kernels into CSV or JSON-lines text and
appended to `<landing>/<source>/ds=<day>/<source>_<yyyymmdd>.<ext>`; the writer
counts lines per file so every dirty row it plants can be named by file and line.
Rows a builder wrote wrong itself (a break only other tables reveal, such as a
refund above its line's value) carry `_planted` (the kind, else None) and
`_planted_column`; the writer plants nothing more in them and lists them too.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.common.landing_contract import SOURCES, Source
from jobs.generate.catalog import UNKNOWN_SKU_BASE
from jobs.generate.timeline import Window

NULL_DATE = np.iinfo(np.int64).min  # marks an empty date in an epoch-day array
BAD_DATE, NEGATIVE_QUANTITY, UNKNOWN_SKU, TRUNCATED_LINE, DUPLICATE_FILE = (
    "bad_date", "negative_quantity", "unknown_sku", "truncated_line", "duplicate_file"
)
ROW_KINDS = (BAD_DATE, NEGATIVE_QUANTITY, UNKNOWN_SKU, TRUNCATED_LINE)


@dataclass(frozen=True)
class DirtyRow:
    source: str
    file: str  # path below the landing folder
    line_no: int  # 1-based data line (header excluded)
    kind: str
    column: str | None


def row_kinds(source: Source) -> tuple[str, ...]:
    """The kinds of broken row that make sense for a source."""
    names = source.column_names
    kinds = []
    if date_column(source):
        kinds.append(BAD_DATE)
    if "quantity" in names:
        kinds.append(NEGATIVE_QUANTITY)
    if "sku" in names and source.name != "products":
        kinds.append(UNKNOWN_SKU)
    kinds.append(TRUNCATED_LINE)
    return tuple(kinds)


def date_column(source: Source) -> str | None:
    """The column a bad date is planted in: the first required timestamp or date."""
    for c in source.columns:
        if c.required and c.type in ("timestamp", "date"):
            return c.name
    return None


def _strings(values) -> pa.Array:
    if isinstance(values, pa.Array):
        return values
    return pa.array(values, type=pa.string())


def to_text(values, type_: str) -> pa.Array:
    """Contract text of one column: ISO timestamps with Z, ISO dates, 2-decimal amounts, true/false."""
    if type_ == "string":
        return _strings(values)
    if type_ == "timestamp":
        ts = pa.array(np.asarray(values, dtype=np.int64)).cast(pa.timestamp("s")).cast(pa.string())
        return pc.binary_join_element_wise(pc.replace_substring(ts, " ", "T"), "Z", "")
    if type_ == "date":
        days = np.asarray(values, dtype=np.int64)
        missing = days == NULL_DATE
        arr = pa.array(np.where(missing, 0, days).astype(np.int32), mask=missing).cast(pa.date32())
        return arr.cast(pa.string())
    if type_ == "int":
        return pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())
    if type_ == "boolean":
        return pc.if_else(pa.array(np.asarray(values, dtype=bool)), "true", "false")
    if type_.startswith("decimal"):
        pence = np.asarray(values, dtype=np.int64)
        whole = pa.array(pence // 100).cast(pa.string())
        cents = pc.utf8_lpad(pa.array(pence % 100).cast(pa.string()), 2, "0")
        return pc.binary_join_element_wise(whole, cents, ".")
    raise ValueError(f"no text format for contract type '{type_}'")


def _csv_field(text: pa.Array) -> pa.Array:
    needs = pc.match_substring_regex(text, r'[",\r\n]')
    if not pc.any(needs).as_py():
        return text
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, text)


def _json_value(text: pa.Array, quoted: bool) -> pa.Array:
    if quoted:
        if pc.any(pc.match_substring_regex(text, r'["\\]')).as_py():
            text = pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), '"', '\\"')
        text = pc.binary_join_element_wise('"', text, '"', "")
    return pc.fill_null(text, "null")


def encode(source: Source, texts: list[pa.Array]) -> tuple[pa.Array, list[pa.Array]]:
    """Lines (without newline) of a source, and each column's encoded field text."""
    if source.format == "csv":
        fields = [pc.fill_null(_csv_field(t) if c.type == "string" else t, "")
                  for c, t in zip(source.columns, texts, strict=True)]
        return pc.binary_join_element_wise(*fields, ","), fields
    fields = []
    for i, (c, t) in enumerate(zip(source.columns, texts, strict=True)):
        value = _json_value(t, c.type in ("string", "timestamp", "date"))
        prefix = ("{" if i == 0 else ",") + f'"{c.name}":'
        fields.append(pc.binary_join_element_wise(prefix, value, ""))
    return pc.binary_join_element_wise(*fields, "}", ""), fields


class LandingWriter:
    """Appends chunks of rows to the day files of every source under `<out>/landing`."""

    def __init__(self, landing: Path, window: Window) -> None:
        self.landing = landing
        self.window = window
        self.lines: dict[tuple[str, int], int] = {}

    @classmethod
    def reopen(cls, landing: Path, window: Window) -> LandingWriter:
        """A writer that appends to the day files already under `landing` (lines counted), e.g. after a run."""
        writer = cls(landing, window)
        for source in SOURCES:
            for day in range(window.days):
                path = writer.path(source, day)
                lines = path.read_bytes().count(b"\n") if path.is_file() else 0
                header = 1 if source.format == "csv" and lines else 0
                writer.lines[(source.name, day)] = lines - header
        return writer

    def relative(self, source: Source, day: int, suffix: str = "") -> str:
        label = self.window.label(day)
        return f"{source.day_folder(label)}/{source.file_name(label, suffix)}"

    def path(self, source: Source, day: int, suffix: str = "") -> Path:
        return self.landing / self.relative(source, day, suffix)

    def create_files(self) -> int:
        """Every (source, day) file, empty but for the CSV header; returns the number of files."""
        for source in SOURCES:
            for day in range(self.window.days):
                path = self.path(source, day)
                path.parent.mkdir(parents=True, exist_ok=True)
                header = ",".join(source.column_names) + "\n" if source.format == "csv" else ""
                path.write_bytes(header.encode("utf-8"))
                self.lines[(source.name, day)] = 0
        return len(SOURCES) * self.window.days

    def remove_empty_files(self) -> int:
        """Delete JSON lines files that got no rows (a system exports no file for a quiet day).

        CSV files keep their header: a header-only CSV is a valid export of zero rows.
        Returns the number of files removed.
        """
        removed = 0
        for source in SOURCES:
            if source.format != "jsonl":
                continue
            for day in range(self.window.days):
                path = self.path(source, day)
                if path.is_file() and path.stat().st_size == 0:
                    path.unlink()
                    if not any(path.parent.iterdir()):
                        path.parent.rmdir()
                    removed += 1
        return removed

    def append(
        self,
        source: Source,
        rows: dict[str, np.ndarray],
        rng: np.random.Generator,
        dirty_rate: float,
        force_each_kind: bool,
    ) -> list[DirtyRow]:
        """Sort a chunk's rows by (day, `_sort`), plant dirty rows, format, append; returns the dirty rows."""
        day = np.asarray(rows["_day"])
        n = len(day)
        if n == 0:
            return []
        order = np.lexsort((np.asarray(rows["_sort"]), day))
        day = day[order]
        pre_kind = np.asarray(rows["_planted"], dtype=object)[order] if "_planted" in rows else np.full(n, None)
        pre_column = np.asarray(rows["_planted_column"], dtype=object)[order] if "_planted" in rows else pre_kind
        pre = pre_kind != None  # noqa: E711 - elementwise on an object array
        # An optional contract column the generator does not model (tax_id) is exported empty.
        texts = [to_text(_take(rows[c.name], order), c.type) if c.name in rows else pa.nulls(n, pa.string())
                 for c in source.columns]

        kinds = row_kinds(source)
        names = list(source.column_names)
        planted = np.full(n, -1)  # index into `kinds`, -1 for a clean row
        hit = np.flatnonzero(rng.random(n) < dirty_rate)
        planted[hit] = rng.integers(0, len(kinds), size=len(hit))
        planted[pre] = -1  # one break per row: the builder's own stays alone
        # A file of nothing but a cut line is an unreadable file, not a dirty row: a cut line
        # is planted only where its day's file has other rows.
        _, per_day = np.unique(day, return_counts=True)
        alone = np.repeat(per_day, per_day) < 2
        cuttable = ~alone
        if TRUNCATED_LINE in kinds:
            planted[(planted == kinds.index(TRUNCATED_LINE)) & alone] = -1
        if force_each_kind:
            for j in range(len(kinds)):
                if not (planted == j).any():
                    free = np.flatnonzero((planted < 0) & ~pre & (cuttable if kinds[j] == TRUNCATED_LINE else True))
                    if len(free):
                        planted[free[int(rng.integers(0, len(free)))]] = j
        if UNKNOWN_SKU in kinds:
            # A search event has no SKU to corrupt: cut its line instead.
            j = kinds.index(UNKNOWN_SKU)
            no_sku = (planted == j) & ~pc.is_valid(texts[names.index("sku")]).to_numpy(zero_copy_only=False)
            planted[no_sku] = kinds.index(TRUNCATED_LINE)

        columns: list[str | None] = [None] * n
        for j, kind in enumerate(kinds):
            idx = np.flatnonzero(planted == j)
            if len(idx) == 0 or kind == TRUNCATED_LINE:
                continue
            mask = np.zeros(n, dtype=bool)
            mask[idx] = True
            if kind == BAD_DATE:
                col = date_column(source)
                typ = source.columns[names.index(col)].type
                year = self.window.start.year
                bad = [f"{year}-13-45" if typ == "date" else f"{year}-13-45T{h:02d}:30:00Z"
                       for h in rng.integers(0, 24, size=len(idx)).tolist()]
            elif kind == NEGATIVE_QUANTITY:
                col = "quantity"
                current = texts[names.index(col)].take(pa.array(idx)).to_pylist()
                bad = [f"-{q}" for q in current]
            else:
                col = "sku"
                bad = [f"SKU-{UNKNOWN_SKU_BASE + x:06d}" for x in rng.integers(0, 99_999, size=len(idx)).tolist()]
            c = names.index(col)
            texts[c] = pc.replace_with_mask(texts[c], pa.array(mask), pa.array(bad, type=pa.string()))
            for i in idx:
                columns[i] = col

        lines, fields = encode(source, texts)
        cut = np.flatnonzero(planted == kinds.index(TRUNCATED_LINE))
        if len(cut):
            mask = np.zeros(n, dtype=bool)
            mask[cut] = True
            if source.format == "csv":
                keep = max(1, len(names) // 2)
                heads = [f.take(pa.array(cut)).to_pylist() for f in fields[:keep]]
                short = [",".join(parts) for parts in zip(*heads, strict=True)]
            else:
                short = [line[: len(line) // 2] for line in lines.take(pa.array(cut)).to_pylist()]
            lines = pc.replace_with_mask(lines, pa.array(mask), pa.array(short, type=pa.string()))

        data, offsets = _newline_joined(lines)
        bounds = np.searchsorted(day, np.arange(self.window.days + 1))
        dirty: list[DirtyRow] = []
        planted_rows = np.flatnonzero((planted >= 0) | pre)
        for d in np.unique(day).tolist():
            a, b = int(bounds[d]), int(bounds[d + 1])
            before = self.lines[(source.name, d)]
            path = self.path(source, d)
            if not path.exists():  # a quiet day's JSON lines file is not written
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes((",".join(names) + "\n").encode("utf-8") if source.format == "csv" else b"")
            with open(path, "ab") as fh:
                fh.write(data[offsets[a]: offsets[b]])
            self.lines[(source.name, d)] = before + (b - a)
            rel = self.relative(source, d)
            for i in planted_rows[(planted_rows >= a) & (planted_rows < b)].tolist():
                kind, column = (pre_kind[i], pre_column[i]) if pre[i] else (kinds[planted[i]], columns[i])
                dirty.append(DirtyRow(source.name, rel, before + (i - a) + 1, kind, column))
        return dirty


def _take(values, order: np.ndarray):
    if isinstance(values, pa.Array):
        return values.take(pa.array(order))
    return np.asarray(values)[order]


def _newline_joined(lines: pa.Array) -> tuple[memoryview, np.ndarray]:
    """The bytes of all lines, each ending in a newline, and the byte offset of each line."""
    with_nl = pc.binary_join_element_wise(lines, "", "\n").cast(pa.large_string())
    if isinstance(with_nl, pa.ChunkedArray):
        with_nl = with_nl.combine_chunks()
    n = len(with_nl)
    offsets = np.frombuffer(with_nl.buffers()[1], dtype=np.int64)[with_nl.offset: with_nl.offset + n + 1]
    return memoryview(with_nl.buffers()[2]), offsets
