"""MLflow for every model: the tracking connection, registered versions, the `champion` alias.

Tracking and registry URIs come from the profile (`mlflow.*`); a local profile keeps
both in SQLite inside the lake, with artifacts under `mlflow.artifact_root`. A stage
that trains logs a run in its experiment, registers a new version of its model, and
moves `champion` to that version only when it beats the current champion on the same
holdout; a stage that scores uses the champion.
"""
from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

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
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        return found.experiment_id
    return mlflow.create_experiment(experiment, artifact_location=config.mlflow.artifact_root or None)


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
    info = mlflow.pyfunc.log_model(
        name="model", python_model=model, input_example=example,
        signature=infer_signature(example, output, params=params), registered_model_name=registered_name,
        pip_requirements=[f"{p}=={installed(p)}" for p in packages],
    )
    return ModelRef(registered_name, str(info.registered_model_version), run.info.run_id, {})


def code_version() -> str:
    """The checkout's git commit, or "unknown" outside a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
