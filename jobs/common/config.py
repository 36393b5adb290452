"""Typed configuration: `conf/base.yaml` overlaid with `conf/<profile>.yaml`.

The profile comes from the argument, else `C360_PROFILE`, else `local`: a name
(`conf/<name>.yaml`) or the path of a YAML file of one's own, kept anywhere and
laid over `conf/base.yaml` the same way.
`C360_LAKE_ROOT` overrides `lake.root`. Strings may use `${lake.root}` and
`${checkout}` (the folder holding `setup.py`). Unknown keys, wrong types and
missing values fail at start-up with one message naming the key and the file.
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jobs.common.errors import ConfigError
from jobs.common.rates import HARD_RATES, VariationRates

CHECKOUT = Path(__file__).resolve().parents[2]
CONF_DIR = CHECKOUT / "conf"
DEFAULT_PROFILE = "local"


@dataclass(frozen=True)
class SparkConfig:
    """How the SparkSession is built (see jobs/common/spark.py)."""

    master: str
    app_name: str
    driver_memory: str
    shuffle_partitions: int
    # Folder of Delta (and other) jars put on spark.jars; relative to the checkout.
    # Empty when the platform provides Delta or `packages` fetches it.
    jars_dir: str = ""
    # Maven coordinates for spark.jars.packages (cluster profiles).
    packages: tuple[str, ...] = ()
    # Any further Spark settings, passed through verbatim.
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LakeConfig:
    """Where the lake lives: a local folder or an s3a:// (abfss://, gs://) URI."""

    root: str
    # Keep this many hours of removed files on VACUUM (Delta's own default is 168).
    vacuum_retain_hours: int = 168

    @property
    def reports(self) -> str:
        return f"{self.root.rstrip('/')}/_reports"


@dataclass(frozen=True)
class LandingConfig:
    """Where raw files arrive: a local folder or s3://bucket/prefix."""

    uri: str
    # S3 endpoint (MinIO, moto, a VPC endpoint); empty means AWS's own.
    s3_endpoint_url: str = ""
    # A business key delivered again (a file sent twice) is looked for this many landing days
    # before and after the days being built; silver keeps the first delivery (jobs/common/redelivery.py).
    redelivery_lookback_days: int = 14
    # Sources ingested, validated (the quality gate's reads) and conformed into silver at once: their
    # Spark jobs and Delta commits overlap, which keeps the executors busy while the driver plans and
    # commits (a small day is mostly that); 1 takes them one after the other.
    parallel_sources: int = 4


@dataclass(frozen=True)
class MlflowConfig:
    tracking_uri: str
    registry_uri: str = ""
    # Where runs keep their artifacts (models); a folder or an object-store URI.
    artifact_root: str = "${lake.root}/_mlflow/artifacts"


@dataclass(frozen=True)
class GeneratorConfig:
    """Variation rates of `c360 generate`, per named difficulty."""

    default: VariationRates = field(default_factory=VariationRates)
    hard: VariationRates = HARD_RATES

    def rates(self, difficulty: str) -> VariationRates:
        if difficulty not in ("default", "hard"):
            raise ConfigError(f"unknown generator difficulty '{difficulty}': use default or hard")
        return getattr(self, difficulty)


@dataclass(frozen=True)
class IdentityConfig:
    """Identity resolution (jobs/identity): thresholds and guards."""

    # A probabilistic link is accepted at or above this match probability (0..1): 0.9 asks
    # for odds of nine to one that the two records are one person.
    match_threshold: float = 0.9
    # A cluster of more records than this is not merged blindly: it is re-linked with
    # `strict_threshold` and id rules only, and reported in ops.identity_oversized_clusters.
    max_cluster_size: int = 40
    strict_threshold: float = 0.9999
    # Record pairs sampled to estimate the u probabilities.
    u_max_pairs: int = 5_000_000
    # The model is estimated on at most this many profile records (a uniform, hash-chosen
    # sample: m, u and the prior match probability are the same in expectation).
    training_max_records: int = 300_000
    # Record pairs (about) each EM training rule looks at; a hash-chosen sample when a rule finds more.
    em_max_pairs: int = 2_000_000
    # Fewer profile records than this (and no trained model yet): rule links only.
    min_training_records: int = 1000
    # Where the trained Splink model (JSON) is kept.
    model_dir: str = "${lake.root}/_models/identity"


@dataclass(frozen=True)
class InteractionWeights:
    """What one event adds to a (customer, product) interaction, before decay."""

    view: float = 1.0
    add_to_cart: float = 3.0
    purchase: float = 6.0


@dataclass(frozen=True)
class AlsSearch:
    """The hyperparameter grid searched on the temporal validation split (every combination)."""

    ranks: tuple[int, ...] = (16, 32)
    reg_params: tuple[float, ...] = (0.01, 0.1)
    alphas: tuple[float, ...] = (5.0, 20.0)


@dataclass(frozen=True)
class RecommendConfig:
    """Recommendations (jobs/recommend): interactions, ALS search, hybrid and business rules."""

    weights: InteractionWeights = field(default_factory=InteractionWeights)
    # An event's weight halves every this many days before the cutoff.
    half_life_days: float = 30.0
    # Events older than this many days before the cutoff are left out.
    history_days: int = 365
    # The last days before the training day, never seen in training: the evaluation holdout.
    # The same number of days before it is the validation split of the search.
    holdout_days: int = 7
    search: AlsSearch = field(default_factory=AlsSearch)
    max_iter: int = 10
    seed: int = 42
    # The search trains on at most this many customers (a hash-chosen sample); the final model on all.
    search_max_customers: int = 200_000
    # Recommendations per customer, and the cutoff of the evaluation metrics.
    top_n: int = 20
    eval_k: int = 10
    # Categories bought again and again: their bought items stay recommendable.
    repeatable_categories: tuple[str, ...] = ("Beauty", "Grocery", "Pet", "Baby", "Health")
    # Places in each list kept for products the model has not seen (launched after training),
    # filled by content similarity when the customer's tastes match one.
    new_product_slots: int = 2
    # The popularity weights w tried for ALS with a popularity prior (score = (1 - w) * ALS
    # preference + w * relative popularity) when training chooses the method to serve.
    blend_weights: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9)
    # Also train the `implicit` library's ALS on the same split for comparison (collects the
    # training interactions to the driver: a benchmark's job more than a production run's).
    compare_implicit: bool = False
    registered_model: str = "c360_recommender"
    experiment: str = "c360_recommender"
    # serving.recommendations keeps this many run days.
    retention_days: int = 14


@dataclass(frozen=True)
class ChurnConfig:
    """Churn propensity (jobs/customers/churn.py): the label, LightGBM, calibration and risk bands."""

    # Churned: active at a cutoff (a purchase in the `active_days` before it), then no
    # purchase in the `horizon_days` after it. Trained at t - 2H, judged at t - H, scored at t.
    horizon_days: int = 90
    active_days: int = 365
    num_leaves: int = 15
    learning_rate: float = 0.05
    rounds: int = 200
    min_child_samples: int = 50
    # The share of training customers (hash-chosen) held out of the fit to calibrate on. When that
    # slice holds fewer than `min_calibration_class` customers of either class, the calibration is
    # cross-fitted instead: out-of-fold scores of `calibration_folds` folds, every customer once.
    calibration_share: float = 0.25
    min_calibration_class: int = 30
    calibration_folds: int = 5
    # Risk bands: medium from this probability, high from that one.
    medium_from: float = 0.3
    high_from: float = 0.6
    # A kind of feature is named as a driver only when it adds at least this much to the log-odds.
    min_driver_contribution: float = 0.05
    seed: int = 42
    registered_model: str = "c360_churn"


@dataclass(frozen=True)
class SegmentsConfig:
    """Behavioural segments (jobs/customers/segments.py): k-means over a range of k, the champion gate."""

    k_min: int = 3
    k_max: int = 8
    max_iter: int = 30
    # Fits per k from different seeds; the one of least within-cluster cost is kept.
    n_init: int = 3
    # k-means fits on at most this many customers (hash-chosen); every customer is assigned.
    fit_max_customers: int = 200_000
    # With a champion, a retrain keeps its k and starts from its centroids (every k is still
    # fitted and reported); false: k is chosen afresh by silhouette at every retrain.
    keep_k: bool = True
    # A new model replaces the champion only when it assigns the base this alike (adjusted
    # Rand index of the two assignments) and has the better silhouette on the same data.
    min_stability: float = 0.8
    seed: int = 42
    registered_model: str = "c360_segments"


@dataclass(frozen=True)
class CustomersConfig:
    """Customer models (jobs/customers): lifetime value, and the serving tables of customer scores."""

    # The lifetime value models are judged on the purchases of this many days after their
    # calibration data (gold.customer_purchase_holdout); the champion gate compares there.
    clv_holdout_days: int = 90
    # serving.customer_scores carries expected purchases in 90 days and 12-month lifetime
    # value, discounted at this yearly rate.
    annual_discount_rate: float = 0.10
    # The models fit on the driver, on at most this many customers (a hash-chosen sample);
    # scoring runs in Spark over every customer.
    fit_max_customers: int = 500_000
    seed: int = 42
    clv_registered_model: str = "c360_clv"
    churn: ChurnConfig = field(default_factory=ChurnConfig)
    segments: SegmentsConfig = field(default_factory=SegmentsConfig)
    experiment: str = "c360_customers"
    # serving.customer_scores and serving.customer_segments keep this many run days.
    retention_days: int = 14


@dataclass(frozen=True)
class QualityConfig:
    """The quality gate (jobs/quality/gate.py)."""

    # A source's landing day of at most this many rows is collected to the driver and validated by
    # Great Expectations' pandas engine: the same suites and verdicts, without a Spark job per metric
    # (seconds instead of a minute for a small day). A bigger day is validated by GX's Spark engine
    # where it lies. 0 validates every day with Spark.
    driver_max_rows: int = 100_000
    # The days of a range collected to the driver together are first validated as one batch, on the
    # expectations that do not depend on the day (no run-time parameter: not-null, sets, patterns,
    # uniqueness, columns). One that holds on every row of the range holds on each day: its result
    # for a day is recorded from the range's, and GX runs the day's own expectations (volume,
    # dates against the day) and any that found a bad or missing value in the range. The records
    # are those of validating each day on its own (tested); false validates each day on its own.
    range_first: bool = True
    # "Nothing arrived": a source the landing contract expects every day (`delivery: daily`) with no
    # file for a day is a failed `expect_source_delivered` in ops.dq_results, of this severity:
    # error (stops the run), warn (recorded, the run goes on) or off (not checked). Per source
    # in `missing_source`, e.g. {pos_transactions: warn}; the rest get `missing_source_default`.
    missing_source_default: str = "error"
    missing_source: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PrivacyConfig:
    """Privacy: the key of the keyed pseudonyms in gold (jobs/common/pseudonym.py) and erasure (jobs/privacy)."""

    # A file holding the key (the environment variable C360_PSEUDONYM_KEY, when set, wins).
    # Keep it out of version control and out of the lake's readers' reach.
    pseudonym_key_file: str = ""
    # Create `pseudonym_key_file` with a random key when it does not exist (a local demo only).
    create_key_file: bool = False
    # VACUUM retention of an erasure, in hours: the files that held an erased person are deleted
    # once no Delta version younger than this needs them. 0 deletes them in the same run (Delta's
    # own 168-hour safety check is switched off for that VACUUM only); time travel to versions
    # before the erasure then fails. Run no other job on the lake while an erasure runs.
    erasure_vacuum_retain_hours: int = 0
    # An erasure request must be done within this many days of being received (GDPR art. 12).
    erasure_deadline_days: int = 30
    # A request still open this many days before its deadline is reported.
    erasure_warn_days: int = 7


@dataclass(frozen=True)
class ServingConfig:
    """The serving layer: `serving.customer_lookup` (jobs/serving/main.py), the read API (`c360 serve`) and
    the BI paths (`c360 bi`, `c360 duckdb`)."""

    # Run days of serving.customer_lookup kept; older ones go in the commit that writes a day.
    retention_days: int = 14
    # Where `c360 serve` listens (loopback by default: put a proxy in front to expose it).
    host: str = "127.0.0.1"
    port: int = 8360
    # Require `Authorization: Bearer <token>` on every endpoint but /health and the docs; the token
    # is read from the environment variable named by `token_env` when the service starts.
    require_token: bool = False
    token_env: str = "C360_API_TOKEN"
    # How often the service looks for a newer complete run_date, in seconds.
    refresh_seconds: float = 30.0
    # The most recommendations one request returns (`limit` above it is a 400).
    max_limit: int = 100
    # Where `c360 bi` (Spark's Thrift JDBC/ODBC server) listens, and how often it registers
    # tables that appeared in the lake since it started, in seconds.
    bi_host: str = "127.0.0.1"
    bi_port: int = 10000
    bi_refresh_seconds: float = 60.0


@dataclass(frozen=True)
class CampaignsConfig:
    """Campaign audiences (jobs/campaigns): where campaigns are declared and how audiences are kept."""

    # The folder of campaign definitions, one YAML file per campaign (docs/campaigns.md).
    dir: str = "${checkout}/conf/campaigns"
    # Run days of serving.campaign_audiences kept; older ones go in the commit that writes a day.
    retention_days: int = 120
    # A campaign whose holdout/treatment split has a chi-square p-value below this is flagged
    # (a sample-ratio mismatch: the assignment is not what was configured).
    sample_ratio_alpha: float = 0.001
    # Bootstrap replicates behind the revenue uplift's interval in gold.campaign_results.
    bootstrap_replicates: int = 200


@dataclass(frozen=True)
class AlertsConfig:
    """Where the DAGs' failure alerts go (jobs/common/alerts.py, jobs/dag_tasks.py)."""

    # A webhook receiving one JSON message per alert (Slack and Teams incoming webhooks read its
    # `text`); empty: alerts are only logged. A secret URL belongs in a profile outside version
    # control or in the environment: C360_ALERTS_WEBHOOK_URL wins over this.
    webhook_url: str = ""
    # Seconds the webhook may take to answer; an alert that cannot be sent is logged, never raised.
    timeout_seconds: float = 10.0
    # Addresses that get each alert by email too, sent through Airflow's SMTP provider with the
    # Airflow connection `smtp_conn_id` (host, port, login, and `from_email` in its extra); empty:
    # no email.
    email_to: tuple[str, ...] = ()
    smtp_conn_id: str = "smtp_default"
    # The daily run's deadline: the hour (UTC, 0-23) of the day after the landing day by which
    # `c360_daily`'s serving tables should be ready. A run still going then sends one
    # `deadline_missed` alert (it goes on running). None: no deadline. Airflow 3.3.2's
    # `airflow dags test` cannot run a DAG that declares one: leave it unset in a profile used so.
    serving_deadline_hour: int | None = None


@dataclass(frozen=True)
class DriftConfig:
    """Drift monitoring (jobs/monitor/drift.py): the population stability index (PSI) of the main
    features and of every model's scores, each day against the day its current model first scored."""

    # PSI above this is drift: a warning in the run's output, `drifted` in ops.drift, and (with
    # `retrain_on_drift`) a training run requested. 0.1-0.25 is commonly read as a moderate shift,
    # above 0.25 as a significant one.
    psi_threshold: float = 0.25
    # Bins of a numeric variable: the reference's quantiles (fewer where values repeat).
    bins: int = 10
    # Ask for c360_train when any model's scores or features drifted (the daily DAG's `request_training`).
    retrain_on_drift: bool = False


@dataclass(frozen=True)
class TrainingConfig:
    """When the daily run asks for training (c360_daily's `request_training`, c360_train's schedule)."""

    # The daily run of this day of the week asks for the week's training: monday .. sunday (the
    # default, saturday, is the week's last day). drift.retrain_on_drift asks on other days too.
    weekday: str = "saturday"


@dataclass(frozen=True)
class FeaturesConfig:
    """The dbt feature build (jobs/features)."""

    # Build a day incrementally when the customer marts were built as of an earlier day by the
    # same project and silver only grew since: the customers the day touched are computed, the
    # others carried. false: every build computes every customer.
    incremental: bool = True


@dataclass(frozen=True)
class ReportConfig:
    """The run report (jobs/monitor/report.py): `<lake>/_reports/runs/<day>.html`."""

    # Days of history in the report's trends (model metrics, drift, rows per layer).
    trend_days: int = 30


@dataclass(frozen=True)
class Config:
    profile: str
    spark: SparkConfig
    lake: LakeConfig
    landing: LandingConfig
    mlflow: MlflowConfig
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    recommend: RecommendConfig = field(default_factory=RecommendConfig)
    customers: CustomersConfig = field(default_factory=CustomersConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    serving: ServingConfig = field(default_factory=ServingConfig)
    campaigns: CampaignsConfig = field(default_factory=CampaignsConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    report: ReportConfig = field(default_factory=ReportConfig)


def load_config(
    profile: str | None = None,
    conf_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Load and validate the config of a profile.

    Args:
        profile: profile name (`conf/<profile>.yaml`) or path of a profile file (`*.yaml`, `*.yml`);
            default `C360_PROFILE` or `local`.
        conf_dir: folder holding base.yaml and the profiles; default `<checkout>/conf`.
        env: environment to read `C360_PROFILE` / `C360_LAKE_ROOT` from; default `os.environ`.

    Raises:
        ConfigError: naming the file and the key that is unknown, mistyped or missing.
    """
    env = os.environ if env is None else env
    conf_dir = conf_dir or CONF_DIR
    profile = profile or env.get("C360_PROFILE") or DEFAULT_PROFILE
    base_file = conf_dir / "base.yaml"
    if _is_profile_file(profile):
        profile_file = Path(profile).expanduser()
        if not profile_file.is_file():
            raise ConfigError(f"profile file {profile_file} does not exist: give the path of a YAML profile, or a profile name")
        profile = profile_file.stem
    elif not (profile_file := conf_dir / f"{profile}.yaml").is_file():
        known = sorted(p.stem for p in conf_dir.glob("*.yaml") if p.stem != "base")
        raise ConfigError(
            f"unknown profile '{profile}': {profile_file} does not exist; profiles: {', '.join(known)}"
        )
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for path in (base_file, profile_file):
        _merge(merged, _read_yaml(path), str(path), origins, "")
    if env.get("C360_LAKE_ROOT"):
        merged.setdefault("lake", {})["root"] = env["C360_LAKE_ROOT"]
        origins["lake.root"] = "environment variable C360_LAKE_ROOT"
    if env.get("C360_ALERTS_WEBHOOK_URL"):
        merged.setdefault("alerts", {})["webhook_url"] = env["C360_ALERTS_WEBHOOK_URL"]
        origins["alerts.webhook_url"] = "environment variable C360_ALERTS_WEBHOOK_URL"
    merged["profile"] = profile
    origins["profile"] = "the profile name"
    files = f"{base_file.name} or {profile_file.name}"
    config = _build(Config, merged, "", origins, files)
    _check_ranges(config, origins, files)
    return _resolve_placeholders(config)


# Whole numbers that only make sense from a least value up (key -> least value, what it counts).
_AT_LEAST = {"landing.parallel_sources": (1, "sources handled at once; 1 takes them one after the other")}


def _check_ranges(config: Config, origins: dict[str, str], files: str) -> None:
    for dotted, (least, meaning) in _AT_LEAST.items():
        value = config
        for part in dotted.split("."):
            value = getattr(value, part)
        if value < least:
            raise ConfigError(f"{origins.get(dotted, files)}: key '{dotted}' must be at least {least} ({meaning}), "
                              f"got {value}")


def _is_profile_file(profile: str) -> bool:
    """A path to a YAML file of one's own rather than the name of a profile in `conf/`."""
    return profile.endswith((".yaml", ".yml")) or os.sep in profile or "/" in profile


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} is missing")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def _merge(into: dict, data: dict, origin: str, origins: dict[str, str], prefix: str) -> None:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value, origin, origins, f"{dotted}.")
        else:
            into[key] = value
            _mark(origins, dotted, value, origin)


def _mark(origins: dict[str, str], dotted: str, value: Any, origin: str) -> None:
    origins[dotted] = origin
    if isinstance(value, dict):
        for key, sub in value.items():
            _mark(origins, f"{dotted}.{key}", sub, origin)


def _build(cls: type, data: Any, path: str, origins: dict[str, str], files: str, base: Any = None) -> Any:
    where = origins.get(path, files) if path else files
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: key '{path}' must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            dotted = f"{path}.{key}" if path else key
            raise ConfigError(
                f"{origins.get(dotted, files)}: unknown key '{dotted}'; "
                f"known keys here: {', '.join(sorted(names - {'profile'}))}"
            )
    kwargs = {}
    for f in dataclasses.fields(cls):
        dotted = f"{path}.{f.name}" if path else f.name
        if f.name not in data:
            has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            if not has_default:
                raise ConfigError(f"missing required key '{dotted}': set it in {files}")
            continue
        if dataclasses.is_dataclass(hints[f.name]) and f.default is not dataclasses.MISSING:
            # A section given in part keeps the field's own default for the rest (generator.hard).
            kwargs[f.name] = _build(hints[f.name], data[f.name], dotted, origins, files, f.default)
        else:
            kwargs[f.name] = _coerce(hints[f.name], data[f.name], dotted, origins, files)
    return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)


def _coerce(hint: Any, value: Any, dotted: str, origins: dict[str, str], files: str) -> Any:
    where = origins.get(dotted, files)
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, dotted, origins, files)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return None if value is None else _coerce(args[0], value, dotted, origins, files)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: key '{dotted}' must be a list, got {_shown(value)}")
        (item,) = typing.get_args(hint)[:1]
        return tuple(_coerce(item, v, f"{dotted}[]", origins, files) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: key '{dotted}' must be a mapping, got {_shown(value)}")
        out = {}
        for k, v in value.items():
            if isinstance(v, (dict, list)) or v is None:
                raise ConfigError(f"{where}: key '{dotted}.{k}' must be a single value, got {_shown(v)}")
            out[str(k)] = str(v).lower() if isinstance(v, bool) else str(v)
        return out
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: key '{dotted}' must be true or false, got {_shown(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: key '{dotted}' must be a whole number, got {_shown(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: key '{dotted}' must be a number, got {_shown(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: key '{dotted}' must be text, got {_shown(value)}")
        return value
    raise TypeError(f"config type {hint!r} of '{dotted}' is not supported")


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _resolve_placeholders(config: Config) -> Config:
    root = config.lake.root
    if "://" not in root:
        root = str(Path(root).expanduser().resolve())
    lake = dataclasses.replace(config.lake, root=root.rstrip("/") or "/")

    def sub(text: str) -> str:
        return text.replace("${lake.root}", lake.root).replace("${checkout}", str(CHECKOUT))

    spark = dataclasses.replace(
        config.spark,
        jars_dir=sub(config.spark.jars_dir),
        conf={k: sub(v) for k, v in config.spark.conf.items()},
    )
    landing_uri = sub(config.landing.uri)
    if "://" not in landing_uri:
        landing_uri = str(Path(landing_uri).expanduser().resolve())
    landing = dataclasses.replace(config.landing, uri=landing_uri)
    mlflow = dataclasses.replace(
        config.mlflow,
        tracking_uri=sub(config.mlflow.tracking_uri),
        registry_uri=sub(config.mlflow.registry_uri),
        artifact_root=sub(config.mlflow.artifact_root),
    )
    identity = dataclasses.replace(config.identity, model_dir=sub(config.identity.model_dir))
    privacy = dataclasses.replace(config.privacy, pseudonym_key_file=sub(config.privacy.pseudonym_key_file))
    campaigns = dataclasses.replace(config.campaigns, dir=sub(config.campaigns.dir))
    return dataclasses.replace(config, lake=lake, spark=spark, landing=landing, mlflow=mlflow, identity=identity,
                               privacy=privacy, campaigns=campaigns)
