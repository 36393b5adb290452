"""File-level checks before any row is read: can this file be ingested at all?

One streaming pass on the driver gives the checksum, the line count and proof of
UTF-8; the first lines give the header (CSV) or the keys (JSON lines). A file that
fails here fails alone: one message naming the file and the problem, a `failed`
entry in the ingest log, and the other files go on.

Lines end with LF, CRLF or a bare CR (as Spark's text reader splits them). A file
is gzip-compressed when its first bytes say so, whatever its name: a `.gz` that is
plain text is read as plain text (and the log says so), a gzip file under any
name is decompressed, a corrupt one is named as such. Other compressions (zip,
bzip2, xz, zstd) are refused by name.

CSV headers are matched to the contract case-insensitively and without
surrounding blanks: `Email` is the column `email`.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from jobs.common.errors import C360Error
from jobs.common.landing_contract import Source

_BLOCK = 1 << 20
_OTHER_DELIMITERS = (";", "\t", "|")
_JSON_PROBE_LINES = 50
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_GZIP_MAGIC = b"\x1f\x8b"
# Compressions Spark would not read here: magic bytes -> name.
_UNSUPPORTED = ((b"PK\x03\x04", "zip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))


class UnreadableFileError(C360Error):
    """A landing file that cannot be ingested at all."""


@dataclass(frozen=True)
class FileFacts:
    """What the driver learnt about a file."""

    sha256: str  # of the bytes as delivered (compressed or not)
    size: int
    data_lines: int  # physical lines after the CSV header (all lines for JSON lines)
    header: tuple[str, ...]  # CSV: the header's column names, lower-cased; JSON lines: empty
    gzip: bool = False  # the bytes are gzip-compressed
    note: str | None = None  # something the ingest log should say about the file
    quotes: bool = True  # the text holds a double quote (a CSV record may span lines)


def inspect_file(path: Path, uri: str, source: Source) -> FileFacts:
    """Checksum, line count and structure of one landing file.

    Raises:
        UnreadableFileError: the file is missing, empty, corrupt or compressed in a way ingest
            does not read, not UTF-8, uses another delimiter, lacks a required column, or holds
            no JSON object.
    """
    if not path.is_file():
        raise UnreadableFileError(f"{uri}: file is missing")
    size = path.stat().st_size
    if size == 0:
        raise UnreadableFileError(f"{uri}: file is empty (0 bytes): export it again")
    with path.open("rb") as fh:
        magic = fh.read(6)
    for signature, name in _UNSUPPORTED:
        if magic.startswith(signature):
            raise UnreadableFileError(f"{uri}: {name}-compressed, which ingest does not read: deliver it as plain "
                                      "text or gzip-compressed (.gz)")
    compressed = magic.startswith(_GZIP_MAGIC)
    note = None
    if uri.lower().endswith(".gz") and not compressed:
        note = "named .gz but not gzip-compressed: read as plain text"
    if compressed:
        digest = _sha256(path)
        lines, head, quotes = _scan_gzip(path, uri)
    else:
        digest, lines, head, quotes = _scan(path, uri)
    if lines == 0:
        raise UnreadableFileError(f"{uri}: no text after decompressing: export it again")
    if source.format == "csv":
        header = _check_csv_header(head[0] if head else "", uri, source)
        return FileFacts(digest, size, max(lines - 1, 0), header, compressed, note, quotes)
    _check_json_keys(head, uri, source)
    return FileFacts(digest, size, lines, (), compressed, note, quotes)


class _LineCounter:
    """Feeds UTF-8 byte blocks; counts lines as Spark splits them (LF, CRLF, CR) and keeps the first ones."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.breaks = 0
        self.offset = 0
        self.last = b""
        self.quotes = False
        self.head: list[str] = []
        self.pending = ""

    def feed(self, block: bytes) -> None:
        try:
            text = self.decoder.decode(block)
        except UnicodeDecodeError as exc:
            raise UnreadableFileError(
                f"{self.uri}: not UTF-8 text (invalid byte at offset {self.offset + exc.start}): export it as UTF-8"
            ) from None
        if len(self.head) < _JSON_PROBE_LINES:
            parts = _LINE_BREAK.split(self.pending + text)
            self.pending = parts.pop()
            self.head.extend(parts[: _JSON_PROBE_LINES - len(self.head)])
        # A CRLF is one break; a CR ending one block and an LF starting the next are one too.
        self.breaks += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
        if self.last == b"\r" and block[:1] == b"\n":
            self.breaks -= 1
        self.quotes = self.quotes or b'"' in block
        self.offset += len(block)
        self.last = block[-1:]

    def finish(self) -> tuple[int, list[str], bool]:
        try:
            self.decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise UnreadableFileError(
                f"{self.uri}: not UTF-8 text (truncated character at the end): export it as UTF-8") from None
        head = self.head
        if len(head) < _JSON_PROBE_LINES and self.pending.rstrip("\r"):
            head.append(self.pending)
        lines = self.breaks + (0 if self.last in (b"\n", b"\r", b"") else 1)
        return lines, [h.lstrip("\ufeff") for h in head], self.quotes


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            sha.update(block)
    return sha.hexdigest()


def _scan(path: Path, uri: str) -> tuple[str, int, list[str], bool]:
    sha = hashlib.sha256()
    counter = _LineCounter(uri)
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            sha.update(block)
            counter.feed(block)
    return (sha.hexdigest(), *counter.finish())


def _scan_gzip(path: Path, uri: str) -> tuple[int, list[str], bool]:
    counter = _LineCounter(uri)
    try:
        with gzip.open(path, "rb") as fh:
            while block := fh.read(_BLOCK):
                counter.feed(block)
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFileError(f"{uri}: gzip-compressed but corrupt or cut short ({exc}): deliver it again") from None
    return counter.finish()


def _check_csv_header(first_line: str, uri: str, source: Source) -> tuple[str, ...]:
    header = tuple(h.strip().lower() for h in next(csv.reader([first_line])))
    if len(header) == 1:
        for delimiter in _OTHER_DELIMITERS:
            if delimiter in first_line:
                shown = "tab" if delimiter == "\t" else f"'{delimiter}'"
                raise UnreadableFileError(
                    f"{uri}: columns are separated by {shown}, not by commas: export it comma-separated"
                )
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise UnreadableFileError(
            f"{uri}: column(s) {', '.join(duplicated)} appear more than once in the header "
            "(names are matched ignoring case and surrounding blanks)"
        )
    missing = [c for c in source.required_columns if c.lower() not in header]
    if missing:
        raise UnreadableFileError(
            f"{uri}: missing required column(s) {', '.join(missing)} in the header "
            f"(found: {', '.join(header) or 'nothing'}); see docs/landing.md#{source.name}"
        )
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
    contract = {c.lower(): c for c in source.column_names}
    misspelt = sorted(k for k in seen if k not in source.column_names and k.lower() in contract)
    if misspelt:
        pairs = ", ".join(f"'{k}' (contract: '{contract[k.lower()]}')" for k in misspelt)
        raise UnreadableFileError(
            f"{uri}: key(s) {pairs} differ from the contract only in case; JSON keys are matched exactly, "
            f"so their values would be lost: rename them; see docs/landing.md#{source.name}"
        )
    missing = [c for c in source.required_columns if c not in seen]
    if missing:
        raise UnreadableFileError(
            f"{uri}: missing required column(s) {', '.join(missing)}: no object among the first lines has them "
            f"(found keys: {', '.join(sorted(seen))}); see docs/landing.md#{source.name}"
        )
