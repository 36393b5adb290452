"""Feature layer for one day: `dbt build` of dbt_project/ as of the day -> gold marts.

Tables written by dbt (Delta, in place at `<lake>/gold/<model>`, so BI sees them the
moment dbt finishes):

| table | grain | write |
|---|---|---|
| gold.customer_rfm | one row per customer_key in the active base, as of the day | replace |
| gold.customer_rfm_history | one row per customer_key per as-of day | merge; the day is rewritten |
| gold.customer_purchase_summary | one row per customer_key with a purchase up to the day | replace |
| gold.customer_features | one row per customer_key known as of the day | replace |
| gold.customer_churn_features | one row per customer_key active on the day: the churn model's input | replace |
| gold.product_features | one row per sku | replace |
| gold.customer_360 | one row per customer_key known as of the day | replace |
| gold.campaign_results | one row per campaign per as-of day (reads serving.campaign_audiences) | append; the day is rewritten |
| gold.rfm_segment_map | one row per (r_score, fm_score) cell (a seed) | replace |

The training marts (dbt tag `training`: gold.customer_purchase_holdout, the lifetime value
models' holdout, and gold.customer_churn_examples, the churn model's labelled examples at two
past cutoffs) serve the weekly training only, so the daily build leaves them out; the weekly
`build_training_features` stage (`run(..., training=True)`) builds them as of the day, once the
day's build ran, with the intermediate event tables they read (an incremental day leaves those
holding the touched customers only).

A day's build is incremental where `incremental.plan` proves it gives what a full build gives:
the customers the day touched are computed, the others' rows carried from the marts as the last
build left them (README, "Incremental days").

Every model sees only events up to the day (dbt var `as_of`), so a build for a past
day is a training set without leakage. A failing model or test fails the build and
every gold table the run changed is restored (Delta RESTORE) to the version it had
before, a table the run created is removed: gold stays at its last good version.
So does a build that puts personal data in gold (`jobs.common.pii`: a column tagged
`pii` in the landing contract or `meta: {pii: true}` in the yml, or a value that
looks like an email address or a phone number, in any gold table).
`dbt docs generate` then writes the project's docs to `<reports>/dbt_docs`.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession

from jobs.common import campaigns, pii
from jobs.common.files import write_text
from jobs.common.gold import require_built
from jobs.common.lake import Lake
from jobs.common.runtime import Runtime
from jobs.common.serving_contract import CAMPAIGN_AUDIENCES
from jobs.common.stage import Days, StageError, StageReport
from jobs.features import dbt, incremental

log = logging.getLogger(__name__)

GOLD = "gold"
# Marts only the weekly training reads (dbt tag): built by `build_training_features`, not daily.
TRAINING_TAG = "training"
# The intermediate event tables (purchases, lines, returns, email, web): the training marts' inputs.
EVENTS_TAG = "events"
# Where dbt_project.yml puts the intermediate tables (`+location_root`), and their schema.
INTERMEDIATE_FOLDER, INTERMEDIATE_SCHEMA = "_intermediate", "intermediate"
# A mart the day's build writes from every intermediate table: built as of the day, they are too.
DAILY_WITNESS = "gold.customer_features"
DOCS_FILES = ("index.html", "manifest.json", "catalog.json")


class FeatureBuildError(StageError):
    """dbt build failed; gold was left at its last good version."""


@dataclass(frozen=True)
class FeaturesReport(StageReport):
    as_of: dt.date
    seconds: float
    models: int
    tests: int  # data and unit tests
    gold_versions: dict[str, int] = field(default_factory=dict)
    docs: str | None = None
    unit_tests: int = 0  # of `tests`: dbt's unit tests (run with `unit_tests=True` only)
    incremental_since: dt.date | None = None  # the last build's day, when this one was incremental
    full_reason: str = ""  # why the build computed every customer
    touched: int | None = None  # customers an incremental build computed


def gold_versions(lake: Lake) -> dict[str, int]:
    """Current Delta version of every gold table."""
    return {t: lake.version(t) for t in lake.table_names() if t.startswith(f"{GOLD}.")}


def roll_back(lake: Lake, before: dict[str, int]) -> list[str]:
    """Put every gold table back to its version in `before`; drop gold tables created since."""
    changed = []
    for table, version in gold_versions(lake).items():
        if table not in before:
            lake.drop(table)
            changed.append(f"{table} removed")
        elif version != before[table]:
            lake.restore(table, before[table])
            changed.append(f"{table} restored to version {before[table]}")
    return changed


def broken_rules(spark: SparkSession, build: dbt.DbtRun) -> dict[str, str]:
    """What each failed `row_rules` test found: its query run again (before any roll-back), the rules the model's
    rows break and how many rows break each, by test node. A query that cannot run leaves dbt's message alone."""
    found = {}
    for node in build.failures:
        if node.generic_test != "row_rules" or not node.compiled:
            continue
        try:
            rows = spark.sql(node.compiled).collect()
        except (PySparkException, Py4JJavaError) as error:  # dbt's message is reported either way
            log.warning("could not read what %s found: %s", node.unique_id, error)
            continue
        found[node.unique_id] = "broken: " + "; ".join(
            f"{r['rule']} by {r['failures']} row{'' if r['failures'] == 1 else 's'}" for r in rows)
    return found


def refuse_personal_data(lake: Lake, before: dict[str, int], day: dt.date) -> None:
    """Raise `FeatureBuildError`, gold put back to `before`, when a gold table the build wrote holds personal data.

    Tables the build left alone passed this check when they were written. See `jobs.common.pii`.
    """
    tagged = pii.tagged_columns(dbt.PROJECT_DIR)
    written = sorted(t for t, v in gold_versions(lake).items() if before.get(t) != v)
    found = pii.findings({t: lake.read(t) for t in written}, tagged)
    if found:
        undone = roll_back(lake, before)
        raise FeatureBuildError(
            f"dbt build as of {day} put personal data in gold: {'; '.join(map(str, found))}. Gold is at its "
            f"last good version ({', '.join(undone) or 'no gold table was changed'}); select a keyed "
            f"pseudonym or a coarser attribute in the model instead, and rerun the day."
        )


def _publish_docs(spark: SparkSession, target: Path, build_results: str, reports: str) -> str:
    """Write dbt's docs site, its artifacts and the build's run results to `<reports>/dbt_docs`."""
    dest = f"{reports.rstrip('/')}/dbt_docs"
    for name in DOCS_FILES:
        if (target / name).exists():
            write_text(spark, f"{dest}/{name}", (target / name).read_text(encoding="utf-8"))
    write_text(spark, f"{dest}/run_results.json", build_results)
    return f"{dest}/index.html"


@dataclass(frozen=True)
class Freshness:
    """`dbt source freshness` of one silver source: its newest landing day against now."""

    source: str
    status: str  # pass, warn, error or runtime error
    max_loaded_at: str | None
    age_hours: float | None


def source_freshness(rt: Runtime) -> list[Freshness]:
    """`dbt source freshness` over the silver sources that declare a `freshness` block (__sources.yml)."""
    rt.lake.register_all()
    work = Path(tempfile.mkdtemp(prefix="c360-dbt-"))
    try:
        ran = dbt.invoke(["source", "freshness"], {"lake_root": rt.lake.root}, work)
        results = work / "target" / "sources.json"
        if not results.exists():
            raise FeatureBuildError(f"dbt source freshness could not run: {ran.describe_failures()}")
        out = []
        for r in json.loads(results.read_text(encoding="utf-8"))["results"]:
            age = r.get("max_loaded_at_time_ago_in_s")
            out.append(Freshness(r["unique_id"].split(".")[-1], r["status"], r.get("max_loaded_at"),
                                 None if age is None else round(age / 3600, 1)))
        return sorted(out, key=lambda f: f.source)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def campaign_vars(rt: Runtime) -> dict:
    """The campaign read-out's dbt vars: the declared campaigns, and whether any audience was built yet."""
    return {
        "campaigns": [c.readout_settings() for c in campaigns.load(rt.config.campaigns.dir)],
        "campaign_audiences_built": rt.lake.exists(CAMPAIGN_AUDIENCES.name),
        "campaign_bootstrap_replicates": rt.config.campaigns.bootstrap_replicates,
    }


def register_intermediate(spark: SparkSession, lake: Lake) -> list[str]:
    """Put the intermediate tables a build left (under `<lake>/gold/_intermediate`) in the session's catalog.

    A build that selects marts without their parents (the training marts) reads them from there.
    """
    found = [folder for folder in lake.delta_folders() if folder.rstrip("/").split("/")[-2] == INTERMEDIATE_FOLDER]
    if found:
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {INTERMEDIATE_SCHEMA}")
    names = []
    for folder in found:
        name = f"{INTERMEDIATE_SCHEMA}.{folder.rstrip('/').split('/')[-1]}"
        spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING delta LOCATION '{folder}'")
        names.append(name)
    return names


def _touched(lake: Lake) -> int:
    """How many customers the incremental build computed (int_touched_customers)."""
    folder = f"{lake.root}/{GOLD}/{INTERMEDIATE_FOLDER}/int_touched_customers"
    return lake.spark.read.format("delta").load(folder).count()


def _selection(select: str | None, training: bool, unit_tests: bool) -> list[str]:
    """dbt build's node selection: the user's, the training marts, or the day's (every node but those)."""
    if select:
        # A partial build runs the tests whose every parent it builds, not those that read a table it leaves alone.
        chosen = ["--select", select, "--indirect-selection", "cautious"]
    elif training:
        # The event tables too, with the staging views they read: an incremental day leaves them holding the
        # touched customers only, and a fresh session's catalog holds no view.
        chosen = ["--select", f"tag:{TRAINING_TAG}", f"+tag:{EVENTS_TAG}", "--indirect-selection", "cautious"]
    else:
        chosen = ["--exclude", f"tag:{TRAINING_TAG}"]
    if not unit_tests:
        chosen += ["--exclude-resource-type", "unit_test"]
    return chosen


def build_vars(rt: Runtime, day: dt.date) -> dict:
    """The dbt vars of a build as of `day` (before the incremental plan's)."""
    customers = rt.config.customers
    return {"as_of": day.isoformat(), "lake_root": rt.lake.root, "clv_holdout_days": customers.clv_holdout_days,
            "churn_horizon_days": customers.churn.horizon_days, "churn_active_days": customers.churn.active_days,
            **campaign_vars(rt)}


def build_plan(rt: Runtime, day: dt.date, dbt_vars: dict | None = None, partial: str = "") -> incremental.Plan:
    """Whether the build as of `day` is incremental (`partial`: why it may not be, a selection or the training marts)."""
    dbt_vars = build_vars(rt, day) if dbt_vars is None else dbt_vars
    project = incremental.project_fingerprint(dbt.PROJECT_DIR, dbt_vars)
    if partial:
        return incremental.Plan(incremental.BuildState(day, incremental.silver_versions(rt.lake), project),
                                reason=partial)
    return incremental.plan(rt.lake, day, project, enabled=rt.config.features.incremental)


def run(rt: Runtime, days: Days, *, docs: bool = True, select: str | None = None,
        unit_tests: bool = False, training: bool = False) -> FeaturesReport:
    """Run `dbt build` as of the last of `days`; on failure restore gold and raise `FeatureBuildError`.

    A range builds once: every model is computed as of its last day.

    Args:
        rt: the runtime; dbt runs on its session, reads the lake's silver tables and writes
            the marts to its gold folder; the dbt docs go to `<reports>/dbt_docs`.
        days: the days run; gold is built as of `days.last`.
        docs: also run `dbt docs generate`.
        select: build only these nodes (dbt's `--select` syntax); None: every model, seed and test.
            A failure restores the gold tables this build changed, as for the whole project;
            a selection matching no node is an error.
        unit_tests: also run dbt's unit tests. They check the models' SQL on fixed inputs, so
            their outcome does not depend on the day's data: the daily build leaves them out (dbt's
            advice for production); `make test` and `build-features --unit-tests` run them.
        training: build the training marts (tag `training`) only, from the intermediate tables the
            day's build left; without `select` and `training`, every node but the training marts.

    Raises:
        FeatureBuildError: the build failed (gold restored), or (`training`) the day's features are not
            built as of the day.
    """
    spark, lake, reports, day = rt.spark, rt.lake, rt.config.lake.reports, days.last
    began = time.perf_counter()
    # Also creates the gold database at <lake>/gold, where dbt's schema `gold` must live.
    lake.register_all()
    register_intermediate(spark, lake)
    if training and not select:
        require_built(lake, day, (DAILY_WITNESS,), FeatureBuildError)
    before = gold_versions(lake)
    dbt_vars = build_vars(rt, day)
    mode = build_plan(rt, day, dbt_vars, partial="a partial build" if select else "the training marts" if training else "")
    log.info("features as of %s: %s", day,
             f"incremental since {mode.since.as_of}" if mode.incremental else f"every customer ({mode.reason})")
    dbt_vars.update(mode.dbt_vars())
    work = Path(tempfile.mkdtemp(prefix="c360-dbt-"))
    try:
        build = dbt.invoke(["build", *_selection(select, training, unit_tests)], dbt_vars, work)
        if not build.success:
            found = broken_rules(spark, build)
            undone = roll_back(lake, before)
            raise FeatureBuildError(
                f"dbt build as of {day} failed: {build.describe_failures(found)}. "
                f"Gold is at its last good version ({', '.join(undone) or 'no gold table was changed'}); "
                f"fix the model or the data and rerun the day."
            )
        refuse_personal_data(lake, before, day)
        if select and not build.nodes:
            raise FeatureBuildError(
                f"--select '{select}' matched no node of dbt_project/ (nothing was built); name models as dbt "
                f"does, e.g. 'customer_rfm' or '+customer_rfm' (see `dbt ls` in dbt_project/)"
            )
        docs_index = None
        if docs:
            # `docs generate` writes its own run_results.json: keep the build's.
            build_results = (work / "target" / "run_results.json").read_text(encoding="utf-8")
            generated = dbt.invoke(["docs", "generate"], dbt_vars, work)
            if generated.success:
                docs_index = _publish_docs(spark, work / "target", build_results, reports)
            else:
                log.warning("dbt docs generate failed: %s", generated.describe_failures())
        nodes = build.nodes
        return FeaturesReport(
            as_of=day,
            seconds=round(time.perf_counter() - began, 1),
            models=sum(1 for n in nodes if n.unique_id.startswith(("model.", "seed."))),
            tests=sum(1 for n in nodes if n.unique_id.startswith(("test.", "unit_test."))),
            gold_versions=gold_versions(lake),
            docs=docs_index,
            unit_tests=sum(1 for n in nodes if n.unique_id.startswith("unit_test.")),
            incremental_since=mode.since.as_of if mode.incremental else None,
            full_reason=mode.reason,
            touched=_touched(lake) if mode.incremental else None,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
