"""Whether a day's feature build can be incremental, and what dbt needs for it.

Every customer mart the day carries forward (`CARRIED`) records, as the Delta table property
`c360.build`, the build that wrote it: its as-of day, the version of each silver table it read,
and a fingerprint of the dbt project and its settings. A build as of day D is incremental when:

- `features.incremental` is on, and the build is the day's whole project (no `--select`);
- every carried mart records one and the same earlier build, as of a day P before D;
- the project and its settings are those of that build;
- silver has only grown under later landing days since: no commit to an event table (partitioned
  by landing day `_ds`) since that build added or removed a file of a day on or before P, so
  every row the last build saw is still there unchanged;
- the identity map, the golden records and the catalog can still be read as that build read them
  (Delta time travel: their files were not vacuumed), so the day can tell what changed in them.

Otherwise the build computes everyone (and says why). Which customers an incremental day
touches is dbt's to compute (model int_touched_customers) from the vars given here.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import functions as F

from jobs.common.lake import Lake

log = logging.getLogger(__name__)

PROPERTY = "c360.build"
# The marts an incremental day carries rows of (gold.customer_rfm: the active base's recency,
# frequency and monetary, which the day's quintile scores are computed over).
CARRIED = ("gold.customer_features", "gold.customer_purchase_summary", "gold.customer_churn_features",
           "gold.customer_product_activity", "gold.customer_rfm")
# Silver tables written by replacing a landing day (`_ds`) partition: only days after the last build may change.
EVENT_TABLES = ("orders", "order_lines", "pos_transactions", "returns", "web_events", "email_events", "consent_events")
# Silver tables rewritten as a whole: compared with the version the last build read.
COMPARED_TABLES = ("identity_map", "customers", "products")
# dbt vars that do not change what a carried row holds.
_UNFINGERPRINTED_VARS = ("as_of", "lake_root", "campaigns", "campaign_audiences_built", "campaign_bootstrap_replicates")
_PROJECT_PARTS = ("models", "macros", "seeds", "dbt_project.yml")


@dataclass(frozen=True)
class BuildState:
    """What a build read: its as-of day, silver's versions, the project's fingerprint."""

    as_of: dt.date
    silver: dict[str, int]
    project: str

    def to_json(self) -> str:
        return json.dumps({"as_of": self.as_of.isoformat(), "silver": self.silver, "project": self.project},
                          sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> BuildState | None:
        try:
            raw = json.loads(text or "")
            return cls(dt.date.fromisoformat(raw["as_of"]), {k: int(v) for k, v in raw["silver"].items()},
                       str(raw["project"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


@dataclass(frozen=True)
class Plan:
    """The build's mode: incremental since `since`, or full (`reason` says why)."""

    state: BuildState  # what this build reads, recorded on the marts it writes
    since: BuildState | None = None  # the last build, when this one is incremental
    reason: str = ""

    @property
    def incremental(self) -> bool:
        return self.since is not None

    def dbt_vars(self) -> dict:
        build = {"build_state": self.state.to_json()}
        if self.since is None:
            return {**build, "incremental": False}
        return {**build, "incremental": True, "since": self.since.as_of.isoformat(), "silver_versions": self.since.silver}


def project_fingerprint(project_dir: Path, dbt_vars: dict) -> str:
    """A hash of the project's models, macros, seeds and settings, and of the vars that shape a row."""
    digest = hashlib.sha256()
    for part in _PROJECT_PARTS:
        root = project_dir / part
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for path in files:
            if path.is_file():
                digest.update(str(path.relative_to(project_dir)).encode())
                digest.update(path.read_bytes())
    shaping = {k: v for k, v in sorted(dbt_vars.items()) if k not in _UNFINGERPRINTED_VARS}
    digest.update(json.dumps(shaping, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def silver_versions(lake: Lake) -> dict[str, int]:
    """The current version of each silver table the build reads (absent tables left out)."""
    return {t: lake.version(f"silver.{t}") for t in (*EVENT_TABLES, *COMPARED_TABLES) if lake.exists(f"silver.{t}")}


def recorded_state(lake: Lake, table: str) -> BuildState | None:
    """The `c360.build` property of a gold table, None when it has none."""
    rows = lake.spark.sql(f"SHOW TBLPROPERTIES delta.`{lake.path(table)}`").collect()
    return BuildState.from_json(next((r["value"] for r in rows if r["key"] == PROPERTY), None))


def _days_rewritten(lake: Lake, table: str, since_version: int | None, upto: int) -> set[dt.date] | None:
    """The landing days (`_ds`) whose files commits after `since_version` added or removed; None when a
    commit's log entry is gone (the log was cleaned up)."""
    first = 0 if since_version is None else since_version + 1
    if first > upto:
        return set()
    paths = [f"{lake.path(f'silver.{table}')}/_delta_log/{v:020d}.json" for v in range(first, upto + 1)]
    try:
        actions = lake.spark.read.json(paths)
    except Exception as err:  # noqa: BLE001 - a missing commit file: the log was cleaned up
        log.info("silver.%s: commits %s..%s unreadable (%s)", table, first, upto, str(err).splitlines()[0])
        return None
    days = set()
    for action in ("add", "remove"):
        if action in actions.columns and "partitionValues" in actions.schema[action].dataType.names:
            # A compaction rewrites files without changing their rows (dataChange false).
            changed = actions.where(F.col(f"{action}.dataChange").isNull() | F.col(f"{action}.dataChange"))
            rows = changed.select(F.col(f"{action}.partitionValues._ds").alias("ds")).where("ds is not null").distinct()
            days |= {dt.date.fromisoformat(r["ds"]) for r in rows.collect()}
    return days


def _readable_as_of(lake: Lake, table: str, version: int) -> bool:
    """Whether silver's `table` can still be read as of `version` (its log and files are there)."""
    spark = lake.spark
    try:
        files = spark.read.format("delta").option("versionAsOf", version).load(lake.path(f"silver.{table}")).inputFiles()
    except Exception:  # noqa: BLE001 - the version's log is gone
        return False
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    for name in files:
        path = jvm.org.apache.hadoop.fs.Path(name)
        if not path.getFileSystem(conf).exists(path):
            return False
    return True


def plan(lake: Lake, day: dt.date, project: str, *, enabled: bool) -> Plan:
    """Decide the mode of the build as of `day` whose project fingerprint is `project`."""
    state = BuildState(day, silver_versions(lake), project)
    if not enabled:
        return Plan(state, reason="features.incremental is off")
    missing = [t for t in CARRIED if not lake.exists(t)]
    if missing:
        return Plan(state, reason=f"{', '.join(missing)} not built yet")
    recorded = {t: recorded_state(lake, t) for t in CARRIED}
    last = recorded[CARRIED[0]]
    if last is None or any(r != last for r in recorded.values()):
        return Plan(state, reason="the customer marts were not all written by one build")
    if last.as_of >= day:
        return Plan(state, reason=f"the last build was as of {last.as_of}, not before {day}")
    if last.project != project:
        return Plan(state, reason="the dbt project or its settings changed since the last build")
    for table in COMPARED_TABLES:
        if table not in state.silver:
            return Plan(state, reason=f"silver.{table} does not exist")
        if table in last.silver and not _readable_as_of(lake, table, last.silver[table]):
            return Plan(state, reason=f"silver.{table} can no longer be read as of version {last.silver[table]} "
                                      f"(vacuumed or its log cleaned up)")
    for table in EVENT_TABLES:
        if table not in state.silver:
            continue
        rewritten = _days_rewritten(lake, table, last.silver.get(table), state.silver[table])
        if rewritten is None:
            return Plan(state, reason=f"silver.{table}'s log since version {last.silver.get(table)} is gone")
        earlier = sorted(d for d in rewritten if d <= last.as_of)
        if earlier:
            return Plan(state, reason=f"silver.{table} was rewritten under landing day {earlier[0]} since the last "
                                      f"build as of {last.as_of}")
    return Plan(state, since=last)
