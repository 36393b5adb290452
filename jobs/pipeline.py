"""The stage registry: every stage once, in order. `c360 run`, the per-stage commands and the DAGs are built from it.

Daily (the `c360_daily` DAG, `c360 run`), in this order:

    ingest        landing -> bronze.* (+ ops.ingest_log, ops.quarantine)
    quality_gate  Great Expectations suites on the days' bronze rows -> ops.dq_results;
                  an error-severity failure stops the run before silver
    silver        bronze -> silver.* (typed, conformed, deduplicated, SCD2 history)
    resolve_identities
                  silver source records -> silver.identity_map / customers (stable customer_key)
    build_features
                  dbt build as of the day: silver -> gold.customer_rfm, customer_features,
                  product_features, customer_360 (a failing dbt test leaves gold as it was)
    score_recommendations
                  the champion recommender's top N per customer -> serving.recommendations
    score_customers
                  the champion lifetime value and churn models and RFM segments per customer ->
                  serving.customer_scores, serving.customer_segments
    build_lookup  silver.identity_map -> serving.customer_lookup: every id an app holds -> the
                  current customer_key (follows merges)
    build_audiences
                  the active campaigns (conf/campaigns/) over gold and the day's scores, segments and
                  recommendations -> serving.campaign_audiences (+ ops.campaign_assignments)

Weekly (the `c360_train` DAG): `build_training_features` builds the training marts (the
dbt models tagged `training`, which the daily build leaves out) as of a day;
`train_recommender` searches, trains, evaluates and registers the recommender in MLflow;
`train_clv` fits, judges and registers the lifetime value models and `train_churn` the
churn model, both after the training marts; `train_segments` the behavioural segments.
Each is its own task and fails on its own.

Privacy (the `c360_privacy` DAG, daily): `erase` forgets the persons whose erasure
requests arrived that day, in every layer (jobs/privacy/main.py).

In the daily DAG a stage runs after the one before it in the registry, or after the
stage its `after` names (the two scoring stages both follow build_features, so one
failing leaves the other to run; build_lookup follows resolve_identities; build_audiences
waits for both scoring stages).

Every stage is a function of (runtime, days) and rewrites exactly those days, so a
rerun or backfill never duplicates. A range runs each stage once over all its days
(one bronze commit per source, one gate and silver pass); the stages that keep
cumulative state (identity, features, scores) compute it as of the range's last day.

Every run of a stage through this registry (the CLI, `c360 run`, the DAGs) is recorded in
`ops.processing_log` (jobs.common.processing_log): stage, layers written, days, outcome,
code version.

Adding a stage: a module `jobs/<stage>/main.py` exposing `run(rt, days) -> Report`
(see `jobs.common.stage`), one `Stage(...)` line below, and the DAG picks it up (the
daily DAG builds one task per daily stage; a weekly stage gets a line in its DAG).

This module imports no stage at load time (DAG files import it while Airflow parses them).
"""
from __future__ import annotations

import datetime as dt
import functools
import importlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from jobs.common import logs
from jobs.common.errors import C360Error
from jobs.common.stage import Days, StageReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Option:
    """A keyword-only option of a stage's `run`, shown as a flag on the stage's command."""

    flag: str  # e.g. "--retrain"
    keyword: str  # the keyword of `run` it sets, e.g. "retrain"
    help: str
    value: Any = True  # what the flag sets the keyword to (a flag without a value)
    metavar: str | None = None  # set: the flag takes a value (text), e.g. "--select NODES"


@dataclass(frozen=True)
class Stage:
    """One stage: its module (exposing `run(rt, days, **options)`), cadence and command-line face."""

    name: str
    module: str
    summary: str
    cadence: Literal["daily", "weekly", "privacy"] = "daily"
    options: tuple[Option, ...] = ()
    aliases: tuple[str, ...] = ()  # older command names kept working
    # The stage(s) of its DAG this one waits for. Daily: None is the one before it; weekly: None is none.
    after: str | tuple[str, ...] | None = None
    layers: tuple[str, ...] = ()  # what it writes: bronze, silver, gold, serving, ops, models (MLflow), reports (<lake>/_reports)

    @property
    def waits_for(self) -> tuple[str, ...]:
        """The stages of its DAG this one runs after (empty: daily, the one before it in the registry; weekly, none)."""
        return (self.after,) if isinstance(self.after, str) else tuple(self.after or ())

    @property
    def command(self) -> str:
        return self.name.replace("_", "-")

    @property
    def run(self) -> Callable[..., StageReport]:
        """The stage's `run` function (its module is imported on first use); each call is recorded in
        ops.processing_log (jobs.common.processing_log), succeeded or failed."""
        function = importlib.import_module(self.module).run

        @functools.wraps(function)
        def recorded(rt, days: Days, **options: Any) -> StageReport:
            run_id, started = str(uuid.uuid4()), _now()
            try:
                with logs.step(self.name, f"{days}: done"):
                    report = function(rt, days, **options)
            except BaseException as exc:
                self._record(rt, run_id, days, exc, started)
                raise
            self._record(rt, run_id, days, None, started)
            return report

        return recorded

    def _record(self, rt, run_id: str, days: Days, error: BaseException | None, started: dt.datetime) -> None:
        from jobs.common import processing_log

        try:
            processing_log.record(rt.lake, run_id=run_id, stage=self.name, layers=self.layers, days=days,
                                  error=error, started_at=started, finished_at=_now())
        except Exception as exc:  # the stage's own outcome stands; a missing log row is reported, not raised
            log.warning("stage %s: could not record the run in %s: %s", self.name, processing_log.TABLE, exc)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


DAILY: tuple[Stage, ...] = (
    Stage("ingest", "jobs.ingest.main", layers=("bronze", "ops"),
          summary="landing files of the days -> bronze.<source>; bad rows -> ops.quarantine; each file once (ops.ingest_log)"),
    Stage("quality_gate", "jobs.quality.gate", layers=("ops",),
          summary="Great Expectations suites on the days' bronze rows -> ops.dq_results and Data Docs; an error stops the run"),
    Stage("silver", "jobs.silver.main", layers=("silver",),
          summary="bronze rows of the days -> silver.<source>: typed, conformed, deduplicated, SCD2 history"),
    Stage("resolve_identities", "jobs.identity.main", layers=("silver", "ops"),
          summary="identity resolution as of the last day: silver records -> stable customer keys and golden records",
          options=(Option("--retrain", "retrain", "estimate the match model again and score every pair"),),
          aliases=("resolve",)),
    Stage("build_features", "jobs.features.main", layers=("gold",),
          summary="dbt build of the feature layer as of the last day: silver -> gold marts (RFM, features, customer_360)",
          options=(Option("--no-docs", "docs", "skip dbt docs generate", value=False),
                   Option("--select", "select", "build only these dbt nodes (dbt's selection syntax, e.g. "
                          "'+customer_rfm') and the tests all of whose parents they are; default: the whole project",
                          metavar="NODES"),
                   Option("--unit-tests", "unit_tests", "also run dbt's unit tests (the models' SQL on fixed inputs); "
                          "the daily build leaves them out, as dbt advises for production"))),
    Stage("score_recommendations", "jobs.recommend.score_main", layers=("serving",),
          summary="the champion recommender's top N for every customer as of the last day -> serving.recommendations",
          after="build_features"),
    Stage("score_customers", "jobs.customers.score_main", layers=("serving",),
          summary="the champion lifetime value and churn models and RFM segments of every customer as of the last day -> "
          "serving.customer_scores, serving.customer_segments",
          after="build_features"),
    Stage("build_lookup", "jobs.serving.main", layers=("serving",),
          summary="every app-side identifier (CRM, account and loyalty ids, email pseudonym, retired keys) -> the "
          "current customer_key as of the last day -> serving.customer_lookup",
          after="resolve_identities"),
    Stage("build_audiences", "jobs.campaigns.main", layers=("serving", "ops"),
          summary="every active campaign's audience as of the last day (rule, consent, frequency caps, stable "
          "holdout variant, offer) -> serving.campaign_audiences; sizes and the sample-ratio check -> "
          "ops.campaign_assignments",
          after=("score_recommendations", "score_customers")),
    Stage("monitor_drift", "jobs.monitor.drift", layers=("ops",),
          summary="population stability index of the day's features and of every model's scores against the day "
          "the model first scored -> ops.drift; above drift.psi_threshold a warning",
          after=("score_recommendations", "score_customers")),
    Stage("run_report", "jobs.monitor.report", layers=("reports",),
          summary="the day's run report: rows per layer, quarantine, quality, stages, identity, RFM movements, "
          "recommendations, scores, model metrics and drift, with plots -> <lake>/_reports/runs/<day>.html",
          after=("build_lookup", "build_audiences", "monitor_drift"), aliases=("report",)),
)
WEEKLY: tuple[Stage, ...] = (
    Stage("build_training_features", "jobs.features.training", layers=("gold",),
          summary="dbt build of the training marts as of the last day (the lifetime value holdout, the churn examples), "
          "with the intermediate event tables they read, once the day's build_features ran",
          cadence="weekly"),
    Stage("train_recommender", "jobs.recommend.train_main", layers=("models",),
          summary="search, train and evaluate the recommender as of the last day; log it to MLflow, register it, promote it "
          "to champion if it beats the current one on the same holdout",
          cadence="weekly",
          options=(Option("--implicit", "compare_implicit",
                          "also train the `implicit` library's ALS on the same split, for comparison"),)),
    Stage("train_clv", "jobs.customers.train_clv", layers=("models",),
          summary="fit the lifetime value models (BG/NBD, Gamma-Gamma) as of the last day, judge them on the holdout "
          "purchases; log to MLflow, register, promote to champion if the holdout error beats the current one",
          cadence="weekly", after="build_training_features"),
    Stage("train_churn", "jobs.customers.train_churn", layers=("models",),
          summary="train the churn model (LightGBM, calibrated) on the customers active at the day minus twice the "
          "horizon, judge it at minus once against two baselines; log to MLflow, register, promote to champion "
          "if its PR AUC beats the current one",
          cadence="weekly", after="build_training_features"),
    Stage("train_segments", "jobs.customers.train_segments", layers=("models", "gold"),
          summary="cluster the customers' behaviour as of the last day (KMeans, k by silhouette), name the clusters and "
          "keep their ids; log to MLflow, register, promote to champion if it wins on silhouette with stability; "
          "gold.segment_profiles",
          cadence="weekly"),
)
PRIVACY: tuple[Stage, ...] = (
    Stage("erase", "jobs.privacy.main", layers=("bronze", "silver", "gold", "serving", "ops", "models"),
          summary="erase the persons who asked (erasure requests of the days, consent events' erasure requests, "
          "--request-file): their rows from every table, VACUUMed, their lines from the landing files; "
          "ops.erasure_log, ops.erasure_suppression",
          cadence="privacy",
          options=(Option("--request-file", "request_file", "also the requests of this erasure_requests CSV "
                          "file (docs/landing.md)", metavar="FILE"),)),
)
STAGES: dict[str, Stage] = {s.name: s for s in DAILY + WEEKLY + PRIVACY}
DAILY_NAMES = tuple(s.name for s in DAILY)
WEEKLY_NAMES = tuple(s.name for s in WEEKLY)


def stage(name: str) -> Stage:
    """The stage named `name`, or a clear error listing the stages."""
    if name not in STAGES:
        raise C360Error(f"unknown stage '{name}'; stages: {', '.join(STAGES)}")
    return STAGES[name]


@functools.lru_cache(maxsize=4)
def _runtime(profile: str | None):
    # One SparkSession per process: Airflow's `dags test` runs every task in one process.
    from jobs.common import runtime

    return runtime.start(profile, app_name="c360 pipeline")


def run_stage(name: str, days: Days, *, landing: str | None = None, profile: str | None = None,
              **options: Any) -> dict[str, Any]:
    """Run one stage for `days` in this process's runtime; its report as a JSON-ready dict (a DAG task's XCom)."""
    chosen = stage(name)
    rt = _runtime(profile).with_landing(landing)
    return chosen.run(rt, days, **options).as_dict()


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def training_requests(day: dt.date, profile: str | None = None) -> list[str]:
    """Why the daily run of `day` asks for training: the week's training day (`training.weekday`), and drift
    above the threshold when `drift.retrain_on_drift` is set (`ops.drift`). Empty: no training due.

    Raises:
        ConfigError: `training.weekday` is not a day of the week.
    """
    from jobs.common.errors import ConfigError
    from jobs.monitor.drift import drifted_on

    rt = _runtime(profile)
    weekday = rt.config.training.weekday.lower()
    if weekday not in WEEKDAYS:
        raise ConfigError(f"training.weekday: {rt.config.training.weekday!r} is not one of {', '.join(WEEKDAYS)}")
    reasons = []
    if WEEKDAYS[day.weekday()] == weekday:
        reasons.append(f"{day} is a {weekday}: the week's training")
    if rt.config.drift.retrain_on_drift:
        drifted = drifted_on(rt.lake, day)
        if drifted:
            reasons.append(f"drift above {rt.config.drift.psi_threshold:g}: {', '.join(drifted)}")
    return reasons


def run(rt, days: Days, names: Sequence[str] = DAILY_NAMES, log: Callable[[str], None] = print,
        options: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, StageReport]:
    """Run the stages `names` in registry order over `days`; the first failing stage stops the run with its error.

    `options`: keyword options per stage name (e.g. {"build_features": {"docs": False}}).
    """
    chosen = [stage(n) for n in names]
    options = options or {}
    strays = sorted(set(options) - {s.name for s in chosen})
    if strays:
        raise C360Error(f"options given for stage(s) {', '.join(strays)}, which this run does not include")
    order = list(STAGES)
    reports: dict[str, StageReport] = {}
    for s in sorted(chosen, key=lambda s: order.index(s.name)):
        began = time.perf_counter()
        reports[s.name] = s.run(rt, days, **options.get(s.name, {}))
        log(f"{s.name:<22} {time.perf_counter() - began:6.1f} s  {_brief(reports[s.name].as_dict())}")
    return reports


def _brief(figures: Mapping[str, Any], limit: int = 160) -> str:
    text = ", ".join(f"{k}={v}" for k, v in figures.items() if not isinstance(v, (dict, list)))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def missing_landing(days: Days, landing: str | None = None, profile: str | None = None) -> list[str]:
    """The `<source>/ds=<day>` folders of sources delivered daily that have no file yet (no Spark needed)."""
    from jobs.common.config import load_config
    from jobs.common.landing import list_files
    from jobs.common.landing_contract import SOURCES

    config = load_config(profile)
    uri = landing or config.landing.uri
    return [
        f"{s.name}/ds={day}"
        for day in days
        for s in SOURCES
        if s.delivery == "daily" and not list_files(uri, s.name, day, config.landing.s3_endpoint_url)
    ]
