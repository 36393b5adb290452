"""File-level checks before any row is read: can this file be ingested at all?

One streaming pass on the driver gives the checksum, the line count and proof of
UTF-8; the first lines give the header (CSV) or the keys (JSON lines). A file that
fails here stops its source with one message naming the file and the problem.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from jobs.common.errors import C360Error
from jobs.common.landing_contract import Source

_BLOCK = 1 << 20
_OTHER_DELIMITERS = (";", "\t", "|")
_JSON_PROBE_LINES = 50


class UnreadableFileError(C360Error):
    """A landing file that cannot be ingested at all."""


@dataclass(frozen=True)
class FileFacts:
    """What the driver learnt about a file."""

    sha256: str
    size: int
    data_lines: int  # lines holding rows: all lines, less the CSV header
    header: tuple[str, ...]  # CSV: the header's column names; JSON lines: empty


def inspect_file(path: Path, uri: str, source: Source) -> FileFacts:
    """Checksum, line count and structure of one landing file.

    Raises:
        UnreadableFileError: the file is missing, empty, not UTF-8, uses another
            delimiter, lacks a required column, or holds no JSON object.
    """
    if not path.is_file():
        raise UnreadableFileError(f"{uri}: file is missing")
    size = path.stat().st_size
    if size == 0:
        raise UnreadableFileError(f"{uri}: file is empty (0 bytes): export it again")
    digest, lines, head = _scan(path, uri)
    if source.format == "csv":
        header = _check_csv_header(head[0] if head else "", uri, source)
        return FileFacts(digest, size, max(lines - 1, 0), header)
    _check_json_keys(head, uri, source)
    return FileFacts(digest, size, lines, ())


def _scan(path: Path, uri: str) -> tuple[str, int, list[str]]:
    sha = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = 0
    offset = 0
    last = b""
    head: list[str] = []
    pending = ""
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            sha.update(block)
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError as exc:
                raise UnreadableFileError(
                    f"{uri}: not UTF-8 text (invalid byte at offset {offset + exc.start}): export it as UTF-8"
                ) from None
            if len(head) < _JSON_PROBE_LINES:
                parts = (pending + text).split("\n")
                pending = parts.pop()
                head.extend(parts[: _JSON_PROBE_LINES - len(head)])
            newlines += block.count(b"\n")
            offset += len(block)
            last = block[-1:]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise UnreadableFileError(f"{uri}: not UTF-8 text (truncated character at the end): export it as UTF-8") from None
    if len(head) < _JSON_PROBE_LINES and pending:
        head.append(pending)
    lines = newlines + (0 if last == b"\n" else 1)
    return sha.hexdigest(), lines, [h.rstrip("\r").lstrip("\ufeff") for h in head]


def _check_csv_header(first_line: str, uri: str, source: Source) -> tuple[str, ...]:
    header = tuple(h.strip() for h in next(csv.reader([first_line])))
    if len(header) == 1:
        for delimiter in _OTHER_DELIMITERS:
            if delimiter in first_line:
                shown = "tab" if delimiter == "\t" else f"'{delimiter}'"
                raise UnreadableFileError(
                    f"{uri}: columns are separated by {shown}, not by commas: export it comma-separated"
                )
    missing = [c for c in source.required_columns if c not in header]
    if missing:
        raise UnreadableFileError(
            f"{uri}: missing required column(s) {', '.join(missing)} in the header "
            f"(found: {', '.join(header) or 'nothing'}); see docs/landing.md#{source.name}"
        )
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise UnreadableFileError(f"{uri}: column(s) {', '.join(duplicated)} appear more than once in the header")
    return header


def _check_json_keys(head: list[str], uri: str, source: Source) -> None:
    objects = []
    for line in head:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            objects.append(value)
    if not objects:
        raise UnreadableFileError(
            f"{uri}: none of the first {len(head)} lines is a JSON object: expected JSON lines (one object per line)"
        )
    seen = set().union(*(o.keys() for o in objects))
    missing = [c for c in source.required_columns if c not in seen]
    if missing:
        raise UnreadableFileError(
            f"{uri}: missing required column(s) {', '.join(missing)}: no object among the first lines has them "
            f"(found keys: {', '.join(sorted(seen))}); see docs/landing.md#{source.name}"
        )
