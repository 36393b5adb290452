"""Search every file under some folders for a person's identifiers: the proof that an erasure left nothing.

Parquet files (Delta data, checkpoints, Splink's) are read row by row with pyarrow; gzip files
are read decompressed; every other file (Delta logs, CSV, JSON lines, HTML, SQLite) as bytes,
lower-cased. A needle is found when it occurs in one row or line; a group (first name, last
name, postcode) when all its words occur in the same row or line.
"""
from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq


@dataclass(frozen=True)
class Person:
    label: str
    needles: tuple[str, ...]  # lower case: emails, phones, ids
    groups: tuple[tuple[str, ...], ...] = ()  # lower case: (first name, last name, postcode)


def _units(path: Path) -> Iterator[str]:
    """The rows or lines of a file, lower-cased."""
    data = path.read_bytes()
    if data[:4] == b"PAR1":
        table = pq.read_table(path)
        for row in table.to_pylist():
            yield " | ".join(str(v) for v in row.values()).lower()
        return
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    yield from data.decode("utf-8", errors="replace").lower().splitlines()


def hits(roots: Iterable[Path], persons: Iterable[Person]) -> list[tuple[str, str, str]]:
    """(person, what was found, file) for every needle or group found under `roots`."""
    persons = list(persons)
    found = []
    for root in roots:
        for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
            for unit in _units(path):
                for person in persons:
                    for needle in person.needles:
                        if needle in unit:
                            found.append((person.label, needle, str(path)))
                    for group in person.groups:
                        if all(word in unit for word in group):
                            found.append((person.label, " + ".join(group), str(path)))
    return sorted(set(found))
