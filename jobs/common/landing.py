"""Landing areas: list a source's files for a day and bring them where Spark reads them.

A landing area is a local folder or `s3://bucket/prefix`, laid out as
`<landing>/<source>/ds=YYYY-MM-DD/<file>` (docs/landing.md). S3 is read with boto3
against the configured endpoint (AWS, MinIO, moto: `landing.s3_endpoint_url`, or
`AWS_ENDPOINT_URL`), each object downloaded once into a staging folder.

Ingest lists and fetches a day's files; erasure (`jobs.privacy`) lists every day's files
of a source and writes a file back without the lines of the persons it forgets.
"""
from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from jobs.common.errors import C360Error
from jobs.common.landing_contract import Source

_DAY_FOLDER = re.compile(r"^ds=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class LandingFile:
    """One landing file: where it is and what it is."""

    uri: str
    source: str
    day: dt.date
    size: int

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]


class LandingError(C360Error):
    """The landing area itself cannot be listed or read."""


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://") or uri.startswith("s3a://")


def list_files(landing: str, source: str, day: dt.date, s3_endpoint_url: str = "") -> list[LandingFile]:
    """The files of one source and day, sorted by name (hidden and `_`-prefixed files skipped).

    A local file is named by its resolved absolute path, however the landing folder was
    spelled (relative, with `..`, through a link): the ingest log knows a file by that name.
    """
    folder = f"{source}/ds={day.isoformat()}"
    if is_s3(landing):
        return _list_s3(landing, folder, source, day, s3_endpoint_url)
    root = Path(landing.removeprefix("file://")).resolve()
    if not root.is_dir():
        raise LandingError(f"landing folder {root} does not exist: set landing.uri in the profile or pass --landing")
    day_dir = root / folder
    if not day_dir.is_dir():
        return []
    return [
        LandingFile(str(p), source, day, p.stat().st_size)
        for p in sorted(day_dir.iterdir())
        if p.is_file() and not p.name.startswith((".", "_"))
    ]


def fetch(file: LandingFile, staging: Path, s3_endpoint_url: str = "") -> Path:
    """A local path holding the file's bytes: the file itself, or a downloaded copy for S3."""
    if not is_s3(file.uri):
        return Path(file.uri)
    bucket, key = _bucket_key(file.uri)
    target = staging / file.source / f"ds={file.day.isoformat()}" / file.name
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        _s3_client(s3_endpoint_url).download_file(bucket, key, str(target))
    except Exception as exc:  # boto3 raises several families of errors
        raise LandingError(f"{file.uri}: download failed: {exc}") from None
    return target


def list_days(landing: str, source: str, s3_endpoint_url: str = "") -> list[dt.date]:
    """The landing days (`ds=YYYY-MM-DD` folders) a source has, sorted; other folder names are ignored."""
    days = []
    for name in _subfolders(landing, source, s3_endpoint_url):
        try:
            days.append(dt.date.fromisoformat(name.removeprefix("ds=")))
        except ValueError:
            continue
    return sorted(days)


def misnamed(source: Source, name: str) -> str | None:
    """Why a file in a source's day folder is not one of its exports, or None when it is.

    A source's exports are files of its format: `*.csv` or `*.jsonl` as the contract declares,
    `*.csv.gz` / `*.jsonl.gz` when gzip-compressed (any case; the contract's own name is
    `<source>_<yyyymmdd>.<ext>`). Anything else beside them (a `README.txt`, a `.xlsx`) is not
    parsed.
    """
    lowered = name.lower()
    if lowered.endswith((f".{source.extension}", f".{source.extension}.gz")):
        return None
    return (f"not a {source.name} export: its files are .{source.extension} (or .{source.extension}.gz), "
            f"e.g. {source.file_name('2026-10-01')}; the file was not read")


def stray_folders(landing: str, sources: Sequence[Source], other_sources: Sequence[str] = (),
                  s3_endpoint_url: str = "") -> list[tuple[str, str]]:
    """Folders of the landing area ingest never reads, each with the reason: a top-level folder that is
    no source of the contract (`sources` and `other_sources`, read by other stages), and a day folder of
    one of `sources` that is not `ds=YYYY-MM-DD` with a real date."""
    known = {s.name for s in sources} | set(other_sources)
    out = []
    for folder in _subfolders(landing, "", s3_endpoint_url):
        if folder not in known:
            out.append((f"{landing.rstrip('/')}/{folder}", f"unknown source folder '{folder}': the landing "
                        f"contract's sources are {', '.join(sorted(known))}"))
    for source in sources:
        for folder in _subfolders(landing, source.name, s3_endpoint_url):
            found = _DAY_FOLDER.match(folder)
            try:
                ok = found is not None and dt.date.fromisoformat(found.group(1)) is not None
            except ValueError:
                ok = False
            if not ok:
                out.append((f"{landing.rstrip('/')}/{source.name}/{folder}",
                            f"day folder '{folder}' of {source.name} is not ds=YYYY-MM-DD with a real date"))
    return out


def _subfolders(landing: str, under: str, s3_endpoint_url: str) -> list[str]:
    """Names of the folders directly under `<landing>/<under>` (hidden and `_`-prefixed ones left out)."""
    names: set[str] = set()
    if is_s3(landing):
        bucket, prefix = _bucket_key(landing.rstrip("/"))
        full = "/".join(p for p in (prefix, under) if p)
        full = f"{full}/" if full else ""
        try:
            for page in _s3_client(s3_endpoint_url).get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=full, Delimiter="/"):
                names |= {p["Prefix"][len(full):].rstrip("/") for p in page.get("CommonPrefixes", [])}
        except Exception as exc:
            raise LandingError(f"cannot list s3://{bucket}/{full}: {exc}") from None
    else:
        folder = Path(landing.removeprefix("file://")).resolve() / under
        names = {p.name for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else set()
    return sorted(n for n in names if n and not n.startswith((".", "_")))


def read_bytes(file: LandingFile, s3_endpoint_url: str = "") -> bytes:
    """The file's bytes, as stored (gzip stays compressed)."""
    if not is_s3(file.uri):
        return Path(file.uri).read_bytes()
    bucket, key = _bucket_key(file.uri)
    try:
        return _s3_client(s3_endpoint_url).get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        raise LandingError(f"{file.uri}: read failed: {exc}") from None


def write_bytes(file: LandingFile, data: bytes, s3_endpoint_url: str = "") -> None:
    """Replace the file's content (a local file through a temporary file and a rename)."""
    if not is_s3(file.uri):
        path = Path(file.uri)
        tmp = path.with_name(f".{path.name}.rewrite")
        tmp.write_bytes(data)
        tmp.replace(path)
        return
    bucket, key = _bucket_key(file.uri)
    try:
        _s3_client(s3_endpoint_url).put_object(Bucket=bucket, Key=key, Body=data)
    except Exception as exc:
        raise LandingError(f"{file.uri}: write failed: {exc}") from None


def clear_staging(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def _bucket_key(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


def _s3_client(endpoint_url: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url or None)


def _list_s3(landing: str, folder: str, source: str, day: dt.date, endpoint_url: str) -> list[LandingFile]:
    bucket, prefix = _bucket_key(landing.rstrip("/"))
    full = f"{prefix}/{folder}/" if prefix else f"{folder}/"
    client = _s3_client(endpoint_url)
    files = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=full):
            for obj in page.get("Contents", []):
                name = obj["Key"].rsplit("/", 1)[-1]
                if name and not name.startswith((".", "_")):
                    files.append(LandingFile(f"s3://{bucket}/{obj['Key']}", source, day, int(obj["Size"])))
    except Exception as exc:
        raise LandingError(f"cannot list s3://{bucket}/{full}: {exc}") from None
    return sorted(files, key=lambda f: f.uri)
