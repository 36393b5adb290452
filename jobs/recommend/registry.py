"""MLflow for the recommender: its experiment, its champion, and the champion's factors for scoring."""
from __future__ import annotations

from jobs.common import models
from jobs.common.config import Config
from jobs.common.errors import C360Error
from jobs.common.models import ModelRef
from jobs.recommend import als as als_model
from jobs.recommend.hybrid import Catalog, Factors


def connect(config: Config) -> str:
    """Point MLflow at the profile's tracking server and registry; returns the recommender's experiment id."""
    return models.connect(config, config.recommend.experiment)


def champion(config: Config) -> ModelRef | None:
    """The recommender version holding the `champion` alias, or None before the first promotion."""
    return models.champion(config.recommend.registered_model)


def load_model(ref: ModelRef):
    """The registered Spark PipelineModel of a version."""
    import mlflow.spark

    try:
        return mlflow.spark.load_model(ref.uri)
    except Exception as exc:  # MLflow raises several types for a missing or unreadable artifact
        raise C360Error(f"cannot load the recommender {ref.uri} (run {ref.run_id}): {exc}") from exc


def champion_factors(config: Config, catalog: Catalog) -> Factors | None:
    """The `champion` model's item side aligned with the catalog; None before the first promotion."""
    current = champion(config)
    if current is None:
        return None
    model = load_model(current)
    return als_model.factors(model, catalog, float(current.params["alpha"]), float(current.params["reg_param"]),
                             version=current.label)
