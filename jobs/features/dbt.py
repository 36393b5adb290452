"""Running dbt in this process, on this process's SparkSession (dbt-spark `method: session`)."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from jobs.common import logs

log = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
FAILED = ("error", "fail", "runtime error")


@dataclass(frozen=True)
class NodeResult:
    """One dbt node (model, seed, data or unit test) of a run."""

    unique_id: str
    status: str
    message: str
    seconds: float
    compiled: str = ""  # the SQL dbt ran for it (a test's query)
    generic_test: str = ""  # a generic data test's name (`row_rules`, `relationships`, ...)


@dataclass(frozen=True)
class DbtRun:
    command: str
    success: bool
    nodes: tuple[NodeResult, ...]
    error: str | None = None

    @property
    def failures(self) -> tuple[NodeResult, ...]:
        return tuple(n for n in self.nodes if n.status in FAILED)

    def describe_failures(self, found: dict[str, str] | None = None) -> str:
        """Each failed node and dbt's message; `found`: what a failed test's query returned, by node."""
        if self.error:
            return self.error
        found = found or {}
        return "; ".join(
            f"{n.unique_id} {n.status}: {_first_line(n.message)}" + (f" ({found[n.unique_id]})" if n.unique_id in found else "")
            for n in self.failures) or "no node reported"


def _first_line(message: str, limit: int = 400) -> str:
    """The gist of a node's message: Spark errors carry whole query plans after the first line."""
    lines = [line.strip() for line in message.splitlines() if line.strip() and line.strip() != "Runtime Error"]
    text = lines[0] if lines else ""
    return text if len(text) <= limit else text[:limit] + "..."


def _progress(event) -> None:
    """A line per finished dbt node: its kind and name, status and time."""
    if event.info.name != "NodeFinished":
        return
    node, result = event.data.node_info, event.data.run_result
    if node.resource_type == "exposure":  # nothing runs for an exposure
        return
    kind = node.resource_type.replace("unit_test", "unit test")
    logs.report("build_features", f"{kind} {node.node_name}"[:34], float(result.execution_time or 0),
                note="" if result.status in ("success", "pass") else str(result.status).upper())


def invoke(command: list[str], dbt_vars: dict, work_dir: Path, project_dir: Path = PROJECT_DIR) -> DbtRun:
    """Run `dbt <command>` on the project (c360's unless `project_dir`) with `dbt_vars`, on c360's profile; target
    and logs go under `work_dir`."""
    from dbt.cli.main import dbtRunner

    args = [
        *command,
        "--project-dir", str(project_dir),
        "--profiles-dir", str(PROJECT_DIR),
        "--target-path", str(work_dir / "target"),
        "--log-path", str(work_dir / "logs"),
        "--vars", json.dumps(dbt_vars),
        "--no-use-colors",
        # A line per node comes from `_progress`; dbt's own log is in work_dir/logs.
        "--quiet",
    ]
    # pyspark logs every failed statement with its full plan; dbt reports the failure itself.
    spark_errors = logging.getLogger("SQLQueryContextLogger")
    level = spark_errors.level
    spark_errors.setLevel(logging.CRITICAL)
    try:
        outcome = dbtRunner(callbacks=[_progress]).invoke(args)
    finally:
        spark_errors.setLevel(level)
    nodes = []
    for r in getattr(outcome.result, "results", None) or []:
        metadata = getattr(r.node, "test_metadata", None)
        nodes.append(NodeResult(r.node.unique_id, str(r.status), str(r.message or ""), float(r.execution_time or 0),
                                str(getattr(r.node, "compiled_code", None) or ""), metadata.name if metadata else ""))
    error = None if outcome.exception is None else f"dbt {command[0]} could not run: {outcome.exception}"
    return DbtRun(command[0], bool(outcome.success), tuple(nodes), error)
