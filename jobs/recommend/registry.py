"""MLflow for the recommender: its experiment, its champion, and the champion as the model that serves."""
from __future__ import annotations

from jobs.common import models
from jobs.common.config import Config
from jobs.common.errors import C360Error
from jobs.common.models import ModelRef
from jobs.recommend.served import RecommenderModel


def connect(config: Config) -> str:
    """Point MLflow at the profile's tracking server and registry; returns the recommender's experiment id."""
    return models.connect(config, config.recommend.experiment)


def champion(config: Config) -> ModelRef | None:
    """The recommender version holding the `champion` alias, or None before the first promotion."""
    return models.champion(config.recommend.registered_model)


def champion_model(config: Config) -> RecommenderModel | None:
    """The `champion` version's served model (named by its version); None before the first promotion."""
    current = champion(config)
    return None if current is None else served_model(current)


def served_model(current: ModelRef) -> RecommenderModel:
    """The served model of a registered version, named by that version.

    Raises:
        C360Error: the version's artifacts are unreadable or are not the served recommender
            (a version registered by an older release: train once more).
    """
    model = models.load_python_model(current)
    if not isinstance(model, RecommenderModel):
        raise C360Error(f"{current.uri} is not the served recommender ({type(model).__name__}): run "
                        f"`c360 train-recommender` to register one")
    return model.bound(model.catalog, model.popularity, version=current.label)
