"""The MLflow registry every model shares: a lake that is copied or moved takes its models along."""
from __future__ import annotations

import datetime as dt
import shutil
import sqlite3

import mlflow
import numpy as np
import pandas as pd
import pytest

from jobs.common import models
from jobs.common.config import load_config
from jobs.recommend.hybrid import Catalog, Popularity
from jobs.recommend.served import RecommenderModel

pytestmark = pytest.mark.unit


def _served() -> RecommenderModel:
    """A real served recommender without ALS factors (content and popularity lists)."""
    catalog = Catalog(
        sku=np.array(["S0", "S1", "S2"], dtype=object), name=np.array(["Tea", "Coffee", "Mugs"], dtype=object),
        category=np.array([0, 0, 1]), brand=np.array([0, 1, 0]), price_band=np.array([0, 1, 0]),
        sellable=np.ones(3, dtype=bool), repeatable=np.array([True, True, False]),
        category_names=("drinks", "kitchen"), brand_names=("a", "b"), price_band_names=("budget", "mid", "premium"))
    popularity = Popularity(overall=np.array([3.0, 2.0, 1.0]), by_segment=np.zeros((0, 3)), segments=())
    return RecommenderModel(None, catalog, popularity, top_n=2, new_product_slots=0)


def _register(config, name: str) -> models.ModelRef:
    model = _served()
    example = pd.DataFrame({"customer_key": ["c1"], "personalised": [True], "rfm_segment": ["Champions"],
                            "skus": [["S0"]], "strengths": [[1.0]], "kinds": [[2]]})
    experiment = models.connect(config, "c360-registry-test")
    with mlflow.start_run(experiment_id=experiment):
        ref = models.log_pyfunc(model, name, example, model.predict(None, example), packages=("numpy", "mlflow"),
                                card="# test model", day=dt.date(2026, 10, 1), promoted=True, champion_before=None)
    models.promote(ref, "first")
    return ref


def _paths(database) -> list[str]:
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT artifact_location FROM experiments UNION ALL SELECT artifact_uri FROM runs "
                          "UNION ALL SELECT storage_location FROM model_versions").fetchall()
    return [r[0] for r in rows if r[0]]


def test_a_copied_lake_serves_and_trains_from_its_own_artifacts(tmp_path):
    first = load_config("local", env={"C360_LAKE_ROOT": str(tmp_path / "first")})
    ref = _register(first, "c360_registry_test")
    assert (tmp_path / "first" / "_mlflow" / "lake_root").read_text().strip() == str(tmp_path / "first")

    shutil.copytree(tmp_path / "first", tmp_path / "copy")
    shutil.rmtree(tmp_path / "first")  # the copy must not need the original
    copy = load_config("local", env={"C360_LAKE_ROOT": str(tmp_path / "copy")})
    models.connect(copy, "c360-registry-test")
    database = tmp_path / "copy" / "_mlflow" / "mlflow.db"
    paths = _paths(database)
    assert paths and all(str(tmp_path / "copy") in p and str(tmp_path / "first") not in p for p in paths), paths

    champion = models.champion("c360_registry_test")
    assert champion is not None and champion.version == ref.version
    served = models.load_python_model(champion)
    assert isinstance(served, RecommenderModel)
    loaded = mlflow.pyfunc.load_model(champion.uri)
    assert loaded.predict(loaded.input_example)["product_id"].tolist() == ["S0", "S1"]

    second = _register(copy, "c360_registry_test")
    assert second.version == str(int(ref.version) + 1)
    assert not (tmp_path / "first").exists()  # nothing was written into the old place
    assert all(str(tmp_path / "copy") in p for p in _paths(database))


def test_a_tracking_database_outside_the_lake_is_left_alone(tmp_path):
    database = tmp_path / "elsewhere" / "mlflow.db"
    database.parent.mkdir()
    sqlite3.connect(database).close()
    assert models.follow_the_lake(database, str(tmp_path / "lake")) == 0
    assert not (database.parent / models.LAKE_ROOT_MARKER).exists()


def test_registering_a_model_prints_mlflow_s_lines_to_the_log_not_the_terminal(tmp_path, capsys, caplog):
    """MLflow prints "Successfully registered model" and "Created version" straight to stderr; a command's
    terminal shows c360's own line instead, and the log file MLflow's."""
    config = load_config("local", env={"C360_LAKE_ROOT": str(tmp_path / "lake")})
    with caplog.at_level("INFO"):
        ref = _register(config, "c360_quiet_test")
    printed = capsys.readouterr().err
    assert "Successfully registered model" not in printed and "Created version" not in printed
    mlflow_lines = [r.getMessage() for r in caplog.records if r.name == "stderr.mlflow"]
    assert any("Successfully registered model 'c360_quiet_test'" in line for line in mlflow_lines), mlflow_lines
    assert any(f"Created version '{ref.version}'" in line for line in mlflow_lines), mlflow_lines
    assert f"c360_quiet_test version {ref.version} registered" in caplog.text
