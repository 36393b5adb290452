"""MLflow for every model: the tracking connection, registered versions, the `champion` alias.

Tracking and registry URIs come from the profile (`mlflow.*`); a local profile keeps
both in SQLite inside the lake, with artifacts under `mlflow.artifact_root`. MLflow
stores artifact locations as absolute paths, so such a lake remembers where it was
(`_mlflow/lake_root`): connecting from a lake that was copied or moved rewrites those
paths to the new place first, and a copy never reads or writes the old lake's artifacts. A stage
that trains logs a run in its experiment, registers a new version of its model, and
moves `champion` to that version only when it beats the current champion on the same
holdout; a stage that scores uses the champion.
"""
from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

from jobs.common import logs
from jobs.common.config import CHECKOUT, Config
from jobs.common.errors import C360Error

log = logging.getLogger(__name__)

CHAMPION = "champion"


@dataclass(frozen=True)
class ModelRef:
    """One registered version of a model, with its run's parameters."""

    name: str
    version: str
    run_id: str
    params: dict[str, str]

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def label(self) -> str:
        """How serving rows name the model: `<registered name>/<version>`."""
        return f"{self.name}/{self.version}"


def connect(config: Config, experiment: str) -> str:
    """Point MLflow at the profile's tracking server and registry; returns the id of `experiment`."""
    import mlflow

    mlflow.set_tracking_uri(config.mlflow.tracking_uri)
    if config.mlflow.registry_uri:
        mlflow.set_registry_uri(config.mlflow.registry_uri)
    if config.mlflow.tracking_uri.startswith("sqlite:///"):
        Path(config.mlflow.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    found = mlflow.get_experiment_by_name(experiment)  # the first call creates the store's tables
    if config.mlflow.tracking_uri.startswith("sqlite:///"):
        follow_the_lake(Path(config.mlflow.tracking_uri.removeprefix("sqlite:///")), config.lake.root,
                        config.mlflow.artifact_root)
    if found is not None:
        return found.experiment_id
    return mlflow.create_experiment(experiment, artifact_location=config.mlflow.artifact_root or None)


# Where MLflow's SQLite store keeps absolute artifact paths.
_PATH_COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                 ("logged_models", "artifact_location"), ("model_versions", "source"),
                 ("model_versions", "storage_location"), ("datasets", "dataset_source"))
LAKE_ROOT_MARKER = "lake_root"


def follow_the_lake(database: Path, lake_root: str, artifact_root: str = "") -> int:
    """Keep the paths in a tracking database inside the lake pointing into this lake.

    The lake's root at the last connection is kept beside the database. When it differs
    from `lake_root` (the lake was copied or moved), every stored path under the old root
    is rewritten under the new one in one transaction. On the first connection, MLflow's
    `Default` experiment (created with the working directory's `mlruns`) moves under
    `artifact_root` too. A database outside the lake is left alone. Returns the number of
    values rewritten.
    """
    import sqlite3

    root = Path(lake_root).resolve()
    if not database.resolve().is_relative_to(root):
        return 0
    marker = database.parent / LAKE_ROOT_MARKER
    before = marker.read_text(encoding="utf-8").strip() if marker.exists() else None
    changed = 0
    if before and before != str(root) and database.exists():
        old, new = before.rstrip("/") + "/", str(root).rstrip("/") + "/"
        with sqlite3.connect(database) as db:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for table, column in _PATH_COLUMNS:
                if table in tables:
                    changed += db.execute(f"UPDATE {table} SET {column} = REPLACE({column}, ?, ?) "  # noqa: S608
                                          f"WHERE INSTR({column}, ?) > 0", (old, new, old)).rowcount
        log.warning("the lake moved from %s to %s: %d MLflow paths now point into it", before, root, changed)
    if before is None and artifact_root and database.exists():
        with sqlite3.connect(database) as db:
            db.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                       (f"{artifact_root.rstrip('/')}/0",))
    if before != str(root):
        marker.write_text(str(root) + "\n", encoding="utf-8")
    return changed


def champion(name: str) -> ModelRef | None:
    """The version of registered model `name` holding the `champion` alias; None before the first promotion."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise
    run = client.get_run(version.run_id)
    return ModelRef(name, str(version.version), version.run_id, dict(run.data.params))


def load_python_model(ref: ModelRef):
    """The Python object a pyfunc version was logged as (the model that serves it).

    Raises:
        C360Error: the version's artifacts cannot be read (moved, deleted, or another format).
    """
    import mlflow.pyfunc

    try:
        return mlflow.pyfunc.load_model(ref.uri).unwrap_python_model()
    except Exception as exc:  # MLflow raises several types for a missing or unreadable artifact
        raise C360Error(f"cannot load the model {ref.uri} (run {ref.run_id}): {exc}") from exc


def promote(ref: ModelRef, why: str) -> None:
    """Move the `champion` alias to this version; `why` (the winning figure) goes to the log."""
    from mlflow import MlflowClient

    MlflowClient().set_registered_model_alias(ref.name, CHAMPION, ref.version)
    log.info("%s is the champion now (%s)", ref.label, why)


def log_pyfunc(model, registered_name: str, example, output, *, packages: tuple[str, ...], card: str,
               day, promoted: bool, champion_before: ModelRef | None, params: dict | None = None) -> ModelRef:
    """In the active run: the model card, the tags, and `model` logged and registered as a pyfunc version.

    The signature is inferred from `example` (the input) and `output` (what `model` returns for
    it), with `params` as its predict parameters; the requirements are `packages` at their
    installed versions (named, not inferred: inference reloads the model in a fresh process).
    """
    from importlib.metadata import version as installed

    import mlflow
    from mlflow.models import infer_signature

    run = mlflow.active_run()
    mlflow.log_text(card, "model_card.md")
    mlflow.set_tags({"c360.code_version": code_version(), "c360.train_day": str(day),
                     "c360.promoted": str(promoted).lower(),
                     "c360.champion_before": champion_before.version if champion_before else ""})
    with logs.printed_to_log("mlflow"):  # its "Successfully registered model" and "Created version" lines
        info = mlflow.pyfunc.log_model(
            name="model", python_model=model, input_example=example,
            signature=infer_signature(example, output, params=params), registered_model_name=registered_name,
            pip_requirements=[f"{p}=={installed(p)}" for p in packages],
        )
    log.info("%s version %s registered", registered_name, info.registered_model_version)
    return ModelRef(registered_name, str(info.registered_model_version), run.info.run_id, {})


def code_version() -> str:
    """The checkout's git commit, or "unknown" outside a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
