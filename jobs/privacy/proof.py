"""Search every file under some folders for persons' identifiers: the proof that an erasure left nothing.

Parquet files (Delta data, checkpoints, Splink's) are read row by row with pyarrow; gzip files
are read decompressed; every other file (Delta logs, CSV, JSON lines, HTML, SQLite, the model
file) as bytes, lower-cased. A needle is found when it occurs in one row or line as a whole
token (no letter or digit touching it on either side); a group (first name, last name,
postcode) when all its words do in the same row or line. All needles are looked for in one
pass of one regular expression per row (the erasure's trie of them), so the search costs about
as much for 1,000 persons as for one.
"""
from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from jobs.privacy.erase import scrub_pattern


@dataclass(frozen=True)
class Person:
    label: str
    needles: tuple[str, ...]  # lower case: emails, phones, ids
    groups: tuple[tuple[str, ...], ...] = ()  # lower case: (first name, last name, postcode)


def _units(path: Path) -> Iterator[str]:
    """The rows or lines of a file, lower-cased."""
    import pyarrow.parquet as pq

    data = path.read_bytes()
    if data[:4] == b"PAR1":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
            for row in batch.to_pylist():
                yield " | ".join(str(v) for v in row.values()).lower()
        return
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    yield from data.decode("utf-8", errors="replace").lower().splitlines()


def _token_char(ch: str) -> bool:
    """A character that joins a token: an ASCII letter or digit, the erasure's rule (`scrub_pattern`)."""
    return ch.isascii() and ch.isalnum()


def _occurs(word: str, unit: str) -> bool:
    """`word` in `unit` as a whole token: neither side touches a letter or digit (`llees@gmail.com` is
    not in `samuellees@gmail.com`)."""
    start = unit.find(word)
    while start >= 0:
        end = start + len(word)
        if (start == 0 or not _token_char(unit[start - 1])) and (end == len(unit) or not _token_char(unit[end])):
            return True
        start = unit.find(word, start + 1)
    return False


def hits(roots: Iterable[Path], persons: Iterable[Person]) -> list[tuple[str, str, str]]:
    """(person, what was found, file) for every needle or group found under `roots`."""
    persons = list(persons)
    # A row is looked at closely when any needle, or the longest word of a group, is in it.
    words = {n for p in persons for n in p.needles} | {max(g, key=len) for p in persons for g in p.groups}
    pattern = scrub_pattern(words)
    if pattern is None:
        return []
    regex = re.compile(pattern)
    found = set()
    for root in roots:
        for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
            for unit in _units(path):
                if not regex.search(unit):
                    continue
                for person in persons:
                    for needle in person.needles:
                        if _occurs(needle, unit):
                            found.add((person.label, needle, str(path)))
                    for group in person.groups:
                        if all(_occurs(word, unit) for word in group):
                            found.add((person.label, " + ".join(group), str(path)))
    return sorted(found)
