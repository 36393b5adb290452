"""The `build_lookup` stage (daily): every identifier an app holds -> the current customer_key.

Tables read: silver.identity_map (one row per source record: its customer_key, email),
silver.customer_key_history (one row per key retired by a merge or left by a split).

Table written: serving.customer_lookup (docs/serving.md), one row per id_type and id per
run_date. The day replaces its run_date and drops run days older than
`serving.retention_days` in the same Delta commit: a rerun rewrites the day, a failed run
leaves the table as it was.

- `crm_id`, `account_id`, `loyalty_id`: the record keys of the profile sources;
- `email_hmac`: the keyed pseudonym of every email a record carries (the raw email stays in
  silver);
- `customer_key`: every current key (to itself) and every key a merge retired, to the key
  that survived, following merges of merges. A retired key whose line ends at no current
  key (its person was erased) is left out.

An id that names several current keys (a household's shared email) gets no key and
`candidates` says how many it names: an app must not guess between two persons.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common import pii
from jobs.common.errors import C360Error
from jobs.common.pseudonym import load_key, pseudonym
from jobs.common.runtime import Runtime
from jobs.common.serving_contract import CUSTOMER_LOOKUP, PROFILE_ID_TYPES
from jobs.common.stage import Days, StageReport

log = logging.getLogger(__name__)

IDENTITY_MAP = "silver.identity_map"
KEY_HISTORY = "silver.customer_key_history"


class ServingError(C360Error):
    """The lookup cannot be built: the message names the table and the command to run."""


@dataclass(frozen=True)
class LookupReport(StageReport):
    day: dt.date
    rows: int
    by_id_type: dict[str, int]
    ambiguous_ids: int
    retired_keys: int
    table_version: int
    seconds: float


def current_keys_of_retired(history: DataFrame, current: DataFrame) -> DataFrame:
    """`retired_key, customer_key`: each key a merge retired, and the current key its line of merges ends at.

    Args:
        history: silver.customer_key_history (`customer_key, event, current_key, ...`).
        current: the current keys (`customer_key`).
    """
    merges = {r["customer_key"]: r["current_key"] for r in
              history.where(F.col("event") == "merged").select("customer_key", "current_key").distinct().collect()}
    alive = {r["customer_key"] for r in current.join(
        history.where(F.col("event") == "merged").select(F.col("current_key").alias("customer_key")).distinct(),
        "customer_key", "left_semi").collect()}
    resolved = []
    for retired, to in merges.items():
        seen = {retired}
        while to in merges and to not in seen and to not in alive:  # a key merged again later
            seen.add(to)
            to = merges[to]
        if to in alive:
            resolved.append((retired, to))
    spark = history.sparkSession
    return spark.createDataFrame(resolved, "retired_key STRING, customer_key STRING")


def lookup_rows(identity_map: DataFrame, history: DataFrame, key: bytes) -> DataFrame:
    """The lookup of one day: `id_type, id, customer_key, candidates` (serving.customer_lookup without its stamp).

    Args:
        identity_map: silver.identity_map.
        history: silver.customer_key_history.
        key: the pseudonym key (emails become their keyed hash).
    """
    profile = [
        identity_map.where(F.col("source") == source).select(
            F.lit(id_type).alias("id_type"), F.trim("record_key").alias("id"), "customer_key")
        for source, id_type in PROFILE_ID_TYPES.items()
    ]
    emails = identity_map.where(F.col("email").isNotNull() & (F.trim("email") != "")).select(
        F.lit("email_hmac").alias("id_type"), pseudonym(F.col("email"), key).alias("id"), "customer_key")
    current = identity_map.select("customer_key").distinct()
    own = current.select(F.lit("customer_key").alias("id_type"), F.col("customer_key").alias("id"), "customer_key")
    retired = current_keys_of_retired(history, current).select(
        F.lit("customer_key").alias("id_type"), F.col("retired_key").alias("id"), "customer_key")
    named = reduce(DataFrame.unionByName, [*profile, emails, own, retired]).where(F.col("id").isNotNull())
    return named.groupBy("id_type", "id").agg(
        F.countDistinct("customer_key").cast("int").alias("candidates"),
        F.min("customer_key").alias("_key"),
    ).select("id_type", "id", F.when(F.col("candidates") == 1, F.col("_key")).alias("customer_key"), "candidates")


def run(rt: Runtime, days: Days, *, generated_at: dt.datetime | None = None) -> LookupReport:
    """serving.customer_lookup as of the last of `days` (the identity map of that day).

    Args:
        rt: the runtime.
        days: the days run; a range builds once, as of its last day (run_date = `days.last`).
        generated_at: the `generated_at` stamped on the rows (default: now).
    """
    lake, config, day = rt.lake, rt.config, days.last
    began = time.perf_counter()
    generated_at = generated_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for table in (IDENTITY_MAP, KEY_HISTORY):
        if not lake.exists(table):
            raise ServingError(f"{table} does not exist in {lake.root}: run `c360 resolve-identities --date {day}` "
                               "(or c360_daily) first")
    as_of = lake.read(IDENTITY_MAP).agg(F.max("ds")).first()[0]
    if as_of != day:
        raise ServingError(f"{IDENTITY_MAP} is as of {as_of}, not {day}: the lookup of a day is built from that "
                           f"day's identities; run `c360 resolve-identities --date {day}` first")
    key = load_key(config.privacy)
    rows = lookup_rows(lake.read(IDENTITY_MAP), lake.read(KEY_HISTORY), key).select(
        *CUSTOMER_LOOKUP.column_names[:-2], F.lit(generated_at).cast("timestamp").alias("generated_at"),
        F.lit(day).alias("run_date"),
    ).orderBy("id_type", "id").localCheckpoint()
    found = pii.findings({CUSTOMER_LOOKUP.name: rows}, pii.tagged_columns())
    if found:  # a source key that is an email or a phone number: refused before it reaches serving
        raise ServingError(f"build_lookup {day}: {'; '.join(map(str, found))}; serving.customer_lookup is "
                           "unchanged. An id that is personal data must not be an app-side identifier.")
    # The ids are the person's own (a CRM or loyalty id): no min/max of them in the Delta log, where an
    # erasure could not take them out.
    version = lake.replace_run_date(rows, CUSTOMER_LOOKUP.name, day, config.serving.retention_days,
                                    metadata=f"build_lookup {day}", identifying=("id",))
    counts = {r["id_type"]: r["n"] for r in rows.groupBy("id_type").agg(F.count("*").alias("n")).collect()}
    ambiguous = rows.where("customer_key IS NULL").count()
    retired = rows.where((F.col("id_type") == "customer_key") & (F.col("id") != F.col("customer_key"))).count()
    if ambiguous:
        log.info("build_lookup %s: %d ids name more than one customer and get no key", day, ambiguous)
    return LookupReport(day=day, rows=sum(counts.values()), by_id_type=counts, ambiguous_ids=ambiguous,
                        retired_keys=retired, table_version=version, seconds=round(time.perf_counter() - began, 1))
