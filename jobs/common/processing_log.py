"""`ops.processing_log`: which run processed which layer for which day, by which code version.

One row per stage run and landing day it covered, written when the stage ends,
whether it succeeded or failed (a failed run names the error's class and the
first line of its message: stages name files, tables and columns in their
errors, never personal values). `code_version` is the checkout's git commit
(with `+dirty` when files differ from it), else the package version, or
`C360_CODE_VERSION` when the deployment sets it. `orchestrator_run` is the
Airflow dag run id when a DAG ran the stage.

| column | meaning |
|---|---|
| run_id | one stage run (a uuid) |
| stage | the stage, as registered in jobs/pipeline.py |
| layers | the lake layers the stage writes (bronze, silver, gold, serving, ops, models, reports) |
| ds | a landing day the run covered |
| status | succeeded / failed |
| error | the error class and first line of its message (failed runs) |
| code_version, orchestrator_run | see above |
| started_at, finished_at, seconds | UTC timestamps and the run's duration |
"""
from __future__ import annotations

import datetime as dt
import functools
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from jobs.common.lake import Lake
from jobs.common.stage import Days

TABLE = "ops.processing_log"
DDL = ("run_id STRING, stage STRING, layers ARRAY<STRING>, ds DATE, status STRING, error STRING, "
       "code_version STRING, orchestrator_run STRING, started_at TIMESTAMP, finished_at TIMESTAMP, seconds DOUBLE")
CHECKOUT = Path(__file__).resolve().parents[2]


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """The code that runs: `C360_CODE_VERSION`, else the git commit (+dirty), else the package version."""
    if os.environ.get("C360_CODE_VERSION"):
        return os.environ["C360_CODE_VERSION"]
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(CHECKOUT), *args], capture_output=True, text=True,
                                  check=True, timeout=10).stdout.strip()

        commit = git("rev-parse", "HEAD")
        return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"c360 {version('c360')}"
        except PackageNotFoundError:
            return "unknown"


def record(lake: Lake, *, run_id: str, stage: str, layers: Sequence[str], days: Days, error: BaseException | None,
           started_at: dt.datetime, finished_at: dt.datetime) -> None:
    """Append the run's rows (one per day of `days`) to ops.processing_log."""
    message = None
    if error is not None:
        first = (str(error).strip().splitlines() or [""])[0]
        message = f"{type(error).__name__}: {first[:500]}"
    rows = [(run_id, stage, list(layers), day, "failed" if error is not None else "succeeded", message,
             code_version(), os.environ.get("AIRFLOW_CTX_DAG_RUN_ID"), started_at, finished_at,
             round((finished_at - started_at).total_seconds(), 1)) for day in days]
    lake.append(lake.spark.createDataFrame(rows, DDL), TABLE)
