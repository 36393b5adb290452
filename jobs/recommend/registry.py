"""MLflow for the recommender: the experiment, logging a trained model, the `champion` alias.

Tracking and registry URIs come from the profile (`mlflow.*`); a local profile keeps
both in SQLite inside the lake, with artifacts under `mlflow.artifact_root`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from jobs.common.config import Config
from jobs.common.errors import C360Error
from jobs.recommend import als as als_model
from jobs.recommend.hybrid import Catalog, Factors

log = logging.getLogger(__name__)

CHAMPION = "champion"


@dataclass(frozen=True)
class ModelRef:
    """One registered version of the recommender."""

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


def connect(config: Config) -> str:
    """Point MLflow at the profile's tracking server and registry; returns the experiment id."""
    import mlflow

    mlflow.set_tracking_uri(config.mlflow.tracking_uri)
    if config.mlflow.registry_uri:
        mlflow.set_registry_uri(config.mlflow.registry_uri)
    if config.mlflow.tracking_uri.startswith("sqlite:///"):
        from pathlib import Path

        Path(config.mlflow.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    name = config.recommend.experiment
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return mlflow.create_experiment(name, artifact_location=config.mlflow.artifact_root or None)


def champion(config: Config) -> ModelRef | None:
    """The version holding the `champion` alias, or None before the first promotion."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    name = config.recommend.registered_model
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise
    run = client.get_run(version.run_id)
    return ModelRef(name, str(version.version), version.run_id, dict(run.data.params))


def load_model(ref: ModelRef):
    """The registered Spark PipelineModel of a version."""
    import mlflow.spark

    try:
        return mlflow.spark.load_model(ref.uri)
    except Exception as exc:  # MLflow raises several types for a missing or unreadable artifact
        raise C360Error(f"cannot load the recommender {ref.uri} (run {ref.run_id}): {exc}") from exc


def promote(ref: ModelRef, ndcg: float) -> None:
    """Move the `champion` alias to this version."""
    from mlflow import MlflowClient

    client = MlflowClient()
    client.set_registered_model_alias(ref.name, CHAMPION, ref.version)
    log.info("%s is the champion now (NDCG@10 %.4f)", ref.label, ndcg)


def champion_factors(config: Config, catalog: Catalog) -> Factors | None:
    """The `champion` model's item side aligned with the catalog; None before the first promotion."""
    current = champion(config)
    if current is None:
        return None
    model = load_model(current)
    return als_model.factors(model, catalog, float(current.params["alpha"]), float(current.params["reg_param"]),
                             version=current.label)
