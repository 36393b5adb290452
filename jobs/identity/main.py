"""Identity resolution for one day: silver source records -> customer keys.

Tables written (all Delta, by `jobs.common.lake`):

| table | grain | write |
|---|---|---|
| silver.identity_links | one accepted link between two profile records (rule or probability) | overwrite |
| silver.identity_map | one row per source record: its customer_key and how it was matched | overwrite |
| silver.customer_key_history | one row per key retired by a merge or left by a split | replace days >= run day |
| silver.customers | one golden record per customer_key, with the keyed pseudonyms of its email and phone | overwrite |
| ops.identity_oversized_clusters | one row per component larger than `identity.max_cluster_size` | replace the run day |
| ops.identity_runs | one row per run: the table versions it wrote and what changed | append |

A run for day D starts from the state the last run for a day before D left
(table versions recorded in ops.identity_runs), so rerunning D gives the same
keys. With a trained model, only pairs involving records that changed since
that run are scored again, among the records a blocking rule can pair with one
of them; links among unchanged records are carried over (the score of a pair
depends on the pair and the model only). A first run, a
missing model or `retrain=True` scores every pair. With fewer profile records
than `identity.min_training_records` and no trained model, only the rule links
are made (a model estimated on a handful of records would be noise); so too when
the records carry nothing a model could learn from (no two agree on an email, a
phone, a tax id, or a full name and date of birth: card numbers without names).

Golden records are computed for the keys whose records changed since that run
(`golden.changed_keys`); the others' rows are carried from silver.customers when its
last commit is that run's (the same day and the identity map version it wrote), made by
the same survivorship and profile code under the same pseudonym key (the commit message
says so: `golden_stamp`). Otherwise (a first run, a rerun, a run that failed after writing
it, a table an erasure rewrote since, changed code or key) every key is computed. A
profile record counts as changed when a version of it landed after that run's day, as
for scoring links.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common import logs, pseudonym
from jobs.common.config import Config
from jobs.common.lake import Lake
from jobs.common.landing_contract import DAY_COLUMN
from jobs.common.pseudonym import keyed_hash, load_key
from jobs.common.runtime import Runtime
from jobs.common.stage import Days, StageReport
from jobs.identity import golden
from jobs.identity import model as match_model
from jobs.identity import records as profile_code
from jobs.identity.clusters import cluster
from jobs.identity.golden import carried_forward, changed_keys, golden_records, with_pseudonyms
from jobs.identity.keys import HISTORY_DDL, assign_keys
from jobs.identity.records import flag_new, nickname_groups, profile_records, with_name_groups
from jobs.identity.rules import deterministic_links
from jobs.identity.satellites import attach_satellites

log = logging.getLogger(__name__)

LINKS = "silver.identity_links"
MAP = "silver.identity_map"
HISTORY = "silver.customer_key_history"
CUSTOMERS = "silver.customers"
OVERSIZED = "ops.identity_oversized_clusters"
RUNS = "ops.identity_runs"
RUNS_DDL = ("ds DATE, mode STRING, model_sha256 STRING, map_version BIGINT, links_version BIGINT, "
            "profile_records BIGINT, records BIGINT, customer_keys BIGINT, links BIGINT, new_records BIGINT, "
            "keys_merged BIGINT, keys_split BIGINT, oversized_clusters BIGINT, seconds DOUBLE, run_at TIMESTAMP")


@dataclass(frozen=True)
class IdentityReport(StageReport):
    ds: dt.date
    mode: str
    profile_records: int
    records: int
    customer_keys: int
    links: int
    new_records: int
    keys_merged: int
    keys_split: int
    oversized_clusters: int
    golden_computed: int  # keys whose golden record the run computed (the others were carried)
    seconds: float


def _table(lake: Lake, name: str, day: dt.date) -> DataFrame | None:
    return lake.read(name).where(F.col(DAY_COLUMN) <= F.lit(day)) if lake.exists(name) else None


def _base_run(lake: Lake, day: dt.date):
    if not lake.exists(RUNS):
        return None
    return lake.read(RUNS).where(F.col("ds") < F.lit(day)).orderBy(F.col("ds").desc(), F.col("run_at").desc()).first()


# Up to this many changed keys are sent whole to every task that joins them (about 50 MB at most).
_BROADCAST_KEYS = 1_000_000


def golden_stamp(day: dt.date, map_version: int, key: bytes) -> str:
    """How silver.customers' commit of the run for `day` begins: the day, the identity map version the run
    wrote, and a fingerprint of the code that makes profile records and golden records and of the pseudonym
    key the rows were made with."""
    digest = hashlib.sha256()
    for module in (golden, profile_code, pseudonym):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(keyed_hash(CUSTOMERS, key).encode())
    return f"resolve_identities {day} identity map version {map_version} golden records {digest.hexdigest()[:16]}:"


def _previous_golden(lake: Lake, base, key: bytes) -> DataFrame | None:
    """silver.customers as the `base` run wrote it (its last commit is that run's), None otherwise."""
    if base is None or not lake.exists(CUSTOMERS):
        return None
    last = lake.history(CUSTOMERS, 1).select("version", "userMetadata").first()
    stamp = golden_stamp(base["ds"], base["map_version"], key)
    if last is None or not (last["userMetadata"] or "").startswith(stamp):
        return None
    return lake.read(CUSTOMERS, version=last["version"])


def _golden(lake: Lake, identity_map: DataFrame, records: DataFrame, previous: DataFrame | None, base, key: bytes,
            day: dt.date) -> tuple[DataFrame, int]:
    """The run's silver.customers rows (checkpointed) and how many keys it computed: the keys changed since the
    `base` run when silver.customers is as that run left it, else every key."""
    before = _previous_golden(lake, base, key) if previous is not None else None
    carried = None
    if before is not None:
        keys = changed_keys(identity_map, previous, records.where(F.col(DAY_COLUMN) > F.lit(base["ds"])))
        keys = keys.localCheckpoint()
        if keys.count() <= _BROADCAST_KEYS:  # a day's keys: joined without shuffling the map and the table
            keys = F.broadcast(keys)
        identity_map = identity_map.join(keys, "customer_key", "left_semi")
        carried = carried_forward(before, keys).withColumn("ds", F.lit(day))
    computed = with_pseudonyms(golden_records(identity_map, records), key).withColumn("ds", F.lit(day)).localCheckpoint()
    count = computed.count()
    if carried is None:
        log.info("identity %s: golden records of every key computed (%s)", day,
                 "no earlier run" if base is None else "silver.customers is not as the run of "
                 f"{base['ds']} left it: a rerun, a failed run or an erasure since, or the profile or survivorship "
                 "code or the pseudonym key changed")
        return computed, count
    return carried.select(*computed.columns).unionByName(computed).localCheckpoint(), count


def _accepted_links(spark, lake, config: Config, records: DataFrame, base, model: dict | None, full: bool,
                    day) -> DataFrame:
    ic = config.identity
    rules = deterministic_links(records)
    if model is None:
        scored = spark.createDataFrame([], "record_id_l STRING, record_id_r STRING, match_probability DOUBLE, "
                                           "match_weight DOUBLE")
    elif full:
        scored = match_model.predict(spark, records, model, ic.match_threshold)
    else:
        # Only the records a blocking rule can pair with a new one take part: the day's blocks, not the population's.
        with logs.step("resolve_identities", f"{day}: records pairable with a new one") as step:
            pairable = match_model.pairable_with_new(records, model).localCheckpoint()
            step.rows = pairable.count()
        fresh = match_model.predict(spark, pairable, match_model.only_new_pairs(model), ic.match_threshold)
        new_ids = records.where("is_new").select(F.col("record_id").alias("_id"))
        carried = (
            # every pair the model scored (rule links found by the model too carry its weight)
            lake.read(LINKS, version=base["links_version"]).where("match_weight IS NOT NULL")
            .join(new_ids, F.col("record_id_l") == F.col("_id"), "left_anti")
            .join(new_ids, F.col("record_id_r") == F.col("_id"), "left_anti")
            .select("record_id_l", "record_id_r", "match_probability", "match_weight")
        )
        scored = fresh.unionByName(carried)
    ids = records.select(F.col("record_id").alias("_id"))
    scored = (
        scored.join(ids, F.col("record_id_l") == F.col("_id"), "left_semi")
        .join(ids, F.col("record_id_r") == F.col("_id"), "left_semi")
    )
    prob = scored.select("record_id_l", "record_id_r", F.lit("probabilistic").alias("rule"),
                         "match_probability", "match_weight")
    both = rules.unionByName(prob)
    # A pair found by a rule keeps the rule's name and, when scored, its probability too.
    return both.groupBy("record_id_l", "record_id_r").agg(
        F.min("rule").alias("rule"),  # email+name / phone+name sort before probabilistic
        F.max(F.when(F.col("rule") == "probabilistic", F.col("match_probability"))).alias("_p"),
        F.max("match_weight").alias("match_weight"),
    ).select("record_id_l", "record_id_r", "rule", F.coalesce("_p", F.lit(1.0)).alias("match_probability"),
             "match_weight", F.lit(day).alias("ds"))


def run(rt: Runtime, days: Days, *, retrain: bool = False) -> IdentityReport:
    """Resolve every source record landed up to the last of `days` into customer keys; write the identity tables.

    A range resolves once, as of its last day (identity state is cumulative).

    Args:
        rt: the runtime.
        days: the days run; the identity state is that of `days.last`.
        retrain: estimate the match model again and score every pair.
    """
    spark, lake, config, day = rt.spark, rt.lake, rt.config, days.last
    began = time.perf_counter()
    ic = config.identity
    key = load_key(config.privacy)  # before any work: a missing key fails the run at once
    base = _base_run(lake, day)
    profiles = profile_records(_table(lake, "silver.crm_customers", day), _table(lake, "silver.loyalty_members", day),
                               _table(lake, "silver.web_accounts", day), day)
    model = None if retrain else match_model.load(ic.model_dir, rt.spark)
    full = model is None or base is None
    with logs.step("resolve_identities", f"{day}: profile records") as step:
        records = with_name_groups(flag_new(profiles, None if full else base["ds"]),
                                   nickname_groups(spark)).localCheckpoint()
        step.rows = records.count()
    if model is None:
        count = records.count()
        if count >= ic.min_training_records:
            sample = match_model.training_sample(records, count, ic.training_max_records)
            with logs.step("resolve_identities", f"{day}: train the match model") as step:
                step.rows = sample.count()
                model = match_model.train(spark, sample, ic.u_max_pairs, ic.em_max_pairs, population=records)
            if model is None:
                log.warning("identity %s: no two of the %d profile records agree on an email, a phone, a tax id "
                            "or a full name and date of birth: nothing to estimate a match model from; rule "
                            "links only", day, count)
            else:
                match_model.save(model, ic.model_dir, rt.spark)
        else:
            log.warning("identity %s: %d profile records, fewer than identity.min_training_records (%d) and no "
                        "trained model in %s: rule links only", day, count, ic.min_training_records, ic.model_dir)
    with logs.step("resolve_identities", f"{day}: score and accept links") as step:
        links = _accepted_links(spark, lake, config, records, base, model, full, day).localCheckpoint()
        step.rows = links.count()
    with logs.step("resolve_identities", f"{day}: cluster") as step:
        clusters = cluster(spark, records, links, ic.max_cluster_size, ic.strict_threshold)
        profile_clusters = clusters.members.localCheckpoint()
        step.rows = profile_clusters.count()
    with logs.step("resolve_identities", f"{day}: attach orders, tills, web, email") as step:
        satellites = attach_satellites(
            profile_clusters, records,
            _table(lake, "silver.orders", day), _table(lake, "silver.pos_transactions", day),
            _table(lake, "silver.web_events", day), _table(lake, "silver.email_events", day),
        )
        profile_rows = records.join(profile_clusters, "record_id").select(
            "record_id", "source", "record_key", "cluster_id", F.lit("profile").alias("matched_by"),
            "email", "email_match_key",
        )
        all_records = profile_rows.unionByName(satellites).localCheckpoint()
        step.rows = all_records.count()
    previous = lake.read(MAP, version=base["map_version"]) if base is not None and lake.exists(MAP) else None
    keys, history = assign_keys(all_records.select("record_id", "cluster_id"), previous, day)
    identity_map = all_records.join(keys, "cluster_id").withColumn("ds", F.lit(day)).localCheckpoint()
    with logs.step("resolve_identities", f"{day}: golden records") as step:
        customers, golden_computed = _golden(lake, identity_map, records, previous, base, key, day)
        step.rows = golden_computed
    history = history.localCheckpoint()
    oversized = clusters.oversized.withColumn("ds", F.lit(day))

    with logs.step("resolve_identities", f"{day}: write the identity tables") as step:
        lake.overwrite(links, LINKS)
        map_version = lake.overwrite(identity_map, MAP)
        if not lake.exists(HISTORY):
            lake.overwrite(spark.createDataFrame([], HISTORY_DDL), HISTORY)
        lake.replace_where(history, HISTORY, f"ds >= '{day}'")
        lake.overwrite(customers, CUSTOMERS, metadata=f"{golden_stamp(day, map_version, key)} {golden_computed} "
                                                      f"of {customers.count()} keys computed")
        if not lake.exists(OVERSIZED):
            lake.overwrite(oversized.limit(0), OVERSIZED)
        lake.replace_where(oversized, OVERSIZED, f"ds = '{day}'")
        step.rows = lake.read(MAP).count()

    events = {r["event"]: r["n"] for r in history.groupBy("event").agg(F.count("*").alias("n")).collect()}
    report = IdentityReport(
        ds=day, mode="rules only" if model is None else "full" if full else "incremental",
        profile_records=records.count(), records=identity_map.count(),
        customer_keys=keys.count(), links=links.count(),
        new_records=records.where("is_new").count(),
        keys_merged=events.get("merged", 0), keys_split=events.get("split", 0),
        oversized_clusters=clusters.oversized.count(), golden_computed=golden_computed,
        seconds=round(time.perf_counter() - began, 1),
    )
    model_sha = hashlib.sha256(json.dumps(model, sort_keys=True).encode()).hexdigest() if model else None
    run_row = [(day, report.mode, model_sha,
                lake.version(MAP), lake.version(LINKS), report.profile_records, report.records, report.customer_keys,
                report.links, report.new_records, report.keys_merged, report.keys_split, report.oversized_clusters,
                report.seconds, dt.datetime.now(dt.UTC).replace(tzinfo=None))]
    lake.append(spark.createDataFrame(run_row, RUNS_DDL), RUNS)
    return report
