"""Typed config: profiles, overrides and start-up errors naming key and file."""
from __future__ import annotations

import dataclasses
import shutil
import typing
from pathlib import Path

import pytest
import yaml

from jobs.common.config import CONF_DIR, Config, load_config
from jobs.common.errors import ConfigError
from jobs.common.rates import HARD_RATES


@pytest.fixture
def conf_dir(tmp_path) -> Path:
    folder = tmp_path / "conf"
    shutil.copytree(CONF_DIR, folder)
    return folder


def test_local_profile_is_the_default_and_frozen():
    config = load_config(env={})
    assert config.profile == "local"
    assert config.spark.master == "local[*]"
    assert config.lake.root.endswith("/lake")
    assert config.mlflow.tracking_uri == f"sqlite:///{config.lake.root}/_mlflow/mlflow.db"
    assert config.spark.jars_dir.endswith("/jars")
    with pytest.raises(Exception):
        config.spark.master = "yarn"


def test_profile_from_environment_and_lake_root_override():
    config = load_config(env={"C360_PROFILE": "cluster", "C360_LAKE_ROOT": "s3a://other-bucket/lake/"})
    assert config.profile == "cluster"
    assert config.spark.master.startswith("spark://")
    assert config.lake.root == "s3a://other-bucket/lake"
    assert config.spark.packages[0].startswith("io.delta:delta-spark_4.2_2.13:")
    assert config.landing.uri.startswith("s3://")


def test_generator_presets_come_from_config():
    config = load_config(env={})
    assert config.generator.rates("hard").typo > config.generator.rates("default").typo
    with pytest.raises(ConfigError, match="unknown generator difficulty 'extreme'"):
        config.generator.rates("extreme")


def test_unknown_key_names_the_key_and_the_file(conf_dir):
    (conf_dir / "local.yaml").write_text("spark:\n  drvier_memory: 2g\n")
    with pytest.raises(ConfigError, match=r"local\.yaml: unknown key 'spark\.drvier_memory'"):
        load_config("local", conf_dir=conf_dir, env={})


def test_wrong_type_names_the_key_the_file_and_the_value(conf_dir):
    (conf_dir / "local.yaml").write_text("spark:\n  shuffle_partitions: eight\n")
    expected = r"local\.yaml: key 'spark\.shuffle_partitions' must be a whole number, got str 'eight'"
    with pytest.raises(ConfigError, match=expected):
        load_config("local", conf_dir=conf_dir, env={})


def test_a_number_out_of_range_names_the_key_the_file_and_the_least_value(conf_dir):
    (conf_dir / "local.yaml").write_text("landing:\n  parallel_sources: 0\n")
    expected = r"local\.yaml: key 'landing\.parallel_sources' must be at least 1 \(sources handled at once.*got 0"
    with pytest.raises(ConfigError, match=expected):
        load_config("local", conf_dir=conf_dir, env={})


def test_wrong_type_in_a_nested_preset(conf_dir):
    (conf_dir / "local.yaml").write_text("generator:\n  hard: {typo: lots}\n")
    with pytest.raises(ConfigError, match=r"local\.yaml: key 'generator\.hard\.typo' must be a number"):
        load_config("local", conf_dir=conf_dir, env={})


def test_a_preset_given_in_part_keeps_its_own_defaults_for_the_rest(conf_dir):
    (conf_dir / "local.yaml").write_text("generator:\n  hard: {typo: 0.2}\n")
    hard = load_config("local", conf_dir=conf_dir, env={}).generator.rates("hard")
    assert hard.typo == 0.2
    assert hard == dataclasses.replace(HARD_RATES, typo=0.2)  # not the default rates with one change


def _leaves(data: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value and not key == "conf":
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_every_default_is_written_once():
    """base.yaml sets only what has no default in jobs/common/config.py or differs from it."""
    base = yaml.safe_load((CONF_DIR / "base.yaml").read_text())
    defaults = Config.__dataclass_fields__
    repeated = []
    for dotted, value in _leaves(base).items():
        section, *path = dotted.split(".")
        node = defaults[section]
        cls = node.type if isinstance(node.type, type) else typing.get_type_hints(Config)[section]
        default = None
        for name in path:
            field = {f.name: f for f in dataclasses.fields(cls)}[name]
            if field.default is not dataclasses.MISSING:
                default = field.default
            elif field.default_factory is not dataclasses.MISSING:
                default = field.default_factory()
            else:
                default = dataclasses.MISSING
            hint = typing.get_type_hints(cls)[name]
            cls = hint if dataclasses.is_dataclass(hint) else None
        if default is not dataclasses.MISSING and default == value:
            repeated.append(dotted)
    assert repeated == [], f"conf/base.yaml repeats the defaults of jobs/common/config.py: {repeated}"


def test_missing_value_names_the_key_and_where_to_set_it(conf_dir):
    text = (conf_dir / "base.yaml").read_text().replace("  driver_memory: 4g\n", "")
    (conf_dir / "base.yaml").write_text(text)
    (conf_dir / "local.yaml").write_text("lake:\n  root: ./lake\n")
    with pytest.raises(ConfigError, match=r"missing required key 'spark\.driver_memory': set it in base\.yaml or local\.yaml"):
        load_config("local", conf_dir=conf_dir, env={})


def test_unknown_profile_lists_the_known_ones(conf_dir):
    with pytest.raises(ConfigError, match=r"unknown profile 'prod'.*profiles: cluster, cluster-local, local"):
        load_config("prod", conf_dir=conf_dir, env={})


def test_a_profile_file_of_ones_own_lies_over_base(tmp_path):
    own = tmp_path / "nightly.yaml"
    own.write_text("recommend:\n  search: {ranks: [8], reg_params: [0.1], alphas: [10.0]}\n")
    config = load_config(env={"C360_PROFILE": str(own)})
    assert config.profile == "nightly"
    assert config.recommend.search.ranks == (8,)
    assert config.recommend.top_n == load_config(env={}).recommend.top_n  # the rest comes from base.yaml
    own.write_text("recommend:\n  serach: {}\n")
    with pytest.raises(ConfigError, match=r"nightly\.yaml: unknown key 'recommend\.serach'"):
        load_config(str(own), env={})
    with pytest.raises(ConfigError, match=r"profile file .*missing\.yaml does not exist"):
        load_config(str(tmp_path / "missing.yaml"), env={})


def test_invalid_yaml_names_the_file(conf_dir):
    (conf_dir / "local.yaml").write_text("spark: [unclosed\n")
    with pytest.raises(ConfigError, match=r"local\.yaml: not valid YAML"):
        load_config("local", conf_dir=conf_dir, env={})


def test_a_bench_lake_keeps_the_key_file_and_the_mlflow_store_the_profile_keeps_in_its_lake(tmp_path):
    """A bench registers its models beside its own lake: a kept history keeps its champions, and the
    profile's lake gets no bench model. Stores outside the profile's lake stay where they are."""
    from bench.identity import _config

    base = load_config("local", env={"C360_LAKE_ROOT": str(tmp_path / "profile-lake")})
    root = tmp_path / "bench" / "lake"
    config = _config(base, root, tmp_path / "landing")
    assert config.mlflow.tracking_uri == f"sqlite:///{root}/_mlflow/mlflow.db"
    assert config.mlflow.artifact_root == f"{root}/_mlflow/artifacts"
    assert config.privacy.pseudonym_key_file == f"{root}/_secrets/pseudonym.key"
    assert config.lake.root == str(root) and config.landing.uri == str(tmp_path / "landing")
    elsewhere = load_config("cluster-local")
    moved = _config(elsewhere, root, tmp_path / "landing")
    assert (moved.mlflow.tracking_uri, moved.mlflow.artifact_root) == (
        elsewhere.mlflow.tracking_uri, elsewhere.mlflow.artifact_root)
