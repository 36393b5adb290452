"""One logging setup for every command: a story on the terminal, the details in a file under the lake.

- The terminal shows c360's own lines (loggers under `jobs`) from INFO, and anything
  else from ERROR: a line per step of a long command (`step`), warnings, errors.
- `<lake>/_logs/c360-<day>.log` gets everything from INFO, third-party libraries too
  (Splink's EM iterations, GX, MLflow, py4j, Python warnings).
- Spark's own log4j output (its WARN lines, stage progress) goes to
  `<lake>/_logs/spark-<day>.log` (`spark_java_options`), never to the terminal.

A lake on object storage keeps its logs in `~/.c360/logs` instead (files are
appended to, which object stores do not do).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROGRESS = logging.getLogger("jobs.progress")
_OURS = "jobs"
_CONSOLE = "c360-console"
_FILE = "c360-file"
_FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The libraries whose INFO lines are chatter on a terminal; kept in the file.
_CHATTY = ("splink", "great_expectations", "py4j", "mlflow", "pymc", "pytensor", "alembic", "urllib3", "botocore")


def log_dir(lake_root: str, read_only: bool = False) -> Path:
    """Where a lake's logs go (the folder exists): `<lake>/_logs` for a lake on this machine's disk that
    this process may write, else (and for a reader, which writes nothing in the lake) `~/.c360/logs`."""
    fallback = Path.home() / ".c360" / "logs"
    folder = fallback
    if not read_only and ("://" not in lake_root or lake_root.startswith("file:")):
        folder = Path(lake_root.removeprefix("file://").removeprefix("file:")) / "_logs"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(folder)
    except OSError:
        folder = fallback
        folder.mkdir(parents=True, exist_ok=True)
    return folder


class _OursOrSevere(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ours = record.name == _OURS or record.name.startswith(_OURS + ".")
        return record.levelno >= (logging.INFO if ours else logging.ERROR)


def setup_console(verbose: bool = False) -> None:
    """The terminal's handler (once per process): c360's INFO lines, others' errors."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    if any(h.get_name() == _CONSOLE for h in root.handlers):
        return
    console = logging.StreamHandler(sys.stderr)
    console.set_name(_CONSOLE)
    console.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    if not verbose:
        console.addFilter(_OursOrSevere())
    root.addHandler(console)
    logging.captureWarnings(True)


def log_to_file(lake_root: str) -> Path:
    """Send every record (from INFO) to `<logs>/c360-<day>.log` as well; returns the file."""
    folder = log_dir(lake_root)
    path = folder / f"c360-{dt.date.today().isoformat()}.log"
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == _FILE]:
        if Path(handler.baseFilename) == path:  # type: ignore[attr-defined]
            return path
        root.removeHandler(handler)
        handler.close()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.set_name(_FILE)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(_FILE_FORMAT))
    root.addHandler(handler)
    return path


def spark_java_options(lake_root: str, read_only: bool = False) -> str:
    """JVM options that send Spark's log4j output to `<logs>/spark-<day>.log` (written on first use)."""
    folder = log_dir(lake_root, read_only)
    config = folder / "log4j2.properties"
    target = folder / f"spark-{dt.date.today().isoformat()}.log"
    text = _LOG4J.format(file=target)
    if not config.exists() or config.read_text() != text:
        config.write_text(text)
    return f"-Dlog4j2.configurationFile=file:{config}"


_LOG4J = """# Spark's log4j output goes to a file, not to the terminal (jobs/common/logs.py writes this file).
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
appender.file.type = File
appender.file.name = file
appender.file.fileName = {file}
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{{yy/MM/dd HH:mm:ss}} %p %c{{1}}: %m%n%ex
# dbt's CREATE OR REPLACE gives a Delta table a new id, which Delta reports with whole snapshots.
logger.deltalog.name = org.apache.spark.sql.delta.DeltaLog
logger.deltalog.level = error
logger.deltatxn.name = org.apache.spark.sql.delta.OptimisticTransaction
logger.deltatxn.level = error
"""


@dataclass
class Step:
    """What a step reports when it ends: rows it handled (optional) and a short note."""

    rows: int | None = None
    note: str = ""


@contextlib.contextmanager
def step(stage: str, name: str) -> Iterator[Step]:
    """Log one line when the step ends: stage, step, rows, elapsed (and `failed` if it raised)."""
    started = time.monotonic()
    done = Step()
    try:
        yield done
    except BaseException:
        PROGRESS.info(_line(stage, name, done, time.monotonic() - started, failed=True))
        raise
    PROGRESS.info(_line(stage, name, done, time.monotonic() - started))


def report(stage: str, name: str, elapsed: float, rows: int | None = None, note: str = "") -> None:
    """Log one step that something else timed (a dbt node, say)."""
    PROGRESS.info(_line(stage, name, Step(rows, note), elapsed))


def _line(stage: str, name: str, done: Step, elapsed: float, failed: bool = False) -> str:
    rows = f"{done.rows:>12,} rows" if done.rows is not None else " " * 17
    note = f"  {done.note}" if done.note else ""
    return f"{stage:<20} {name:<34} {rows} {elapsed:>7.1f} s{'  FAILED' if failed else ''}{note}"


def quiet_env() -> None:
    """Environment of libraries that print on their own (progress bars, analytics banners)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")
    # MLflow would give its loggers a terminal handler of their own on import: they propagate to ours instead,
    # so its warnings and INFO lines (database migrations, a dataset's schema) go to the log file.
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")


@contextlib.contextmanager
def printed_to_log(name: str) -> Iterator[None]:
    """What a library prints straight to `sys.stderr` in the block (not through `logging`, e.g. MLflow's "Successfully
    registered model") goes to the log file as INFO lines of logger `stderr.<name>`, not to the terminal (a logger
    of its own: the library's loggers may have a terminal handler)."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stderr(buffer):
            yield
    finally:
        for line in buffer.getvalue().splitlines():
            if line.strip():
                logging.getLogger(f"stderr.{name}").info(line)
