"""What an erasure removes, as DataFrame transforms: requests -> persons -> every value that names them.

- `given_identifiers(requests)`: one row per identifier a request gives (`request_id, kind, value`),
  in the form silver matches on (email match key, E.164 phone, trimmed lower-case ids).
- `record_identifiers(silver, identity_map)`: every identifier value each source record carries,
  with the record's `customer_key` (`record_id, customer_key, kind, value`).
- `resolve(given, records)`: the customer keys each request names (`request_id, customer_key`);
  an email or phone that several customer keys share names none of them.
- `erased_values(records, keys, given)`: what to forget (`kind, value`): the persons' customer
  keys, record ids and every identifier their records carry, except emails, phones and cookies
  that a person who stays also carries (a household's shared email stays theirs).
- `names_erased(df, erased)`: whether a row of any table names an erased value in a column
  `COLUMN_KINDS` knows; `scrub_pattern(values)`: a regular expression for free text
  (quarantined lines, quality results, report files).

Values are compared trimmed and lower-cased on both sides.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.common.normalize import email_match_key, phone_e164

# The identifiers an erasure request may give (docs/landing.md, `erasure_requests`).
REQUEST_IDENTIFIERS = ("email", "phone", "loyalty_id", "account_id", "crm_id")
# Which identifier a column holds, wherever it appears (bronze, silver, gold, serving, ops).
COLUMN_KINDS: dict[str, str] = {
    "customer_key": "customer_key", "current_key": "customer_key",
    "record_id": "record_id", "record_id_l": "record_id", "record_id_r": "record_id",
    "crm_id": "crm_id", "account_id": "account_id", "loyalty_id": "loyalty_id",
    "order_id": "order_id", "transaction_id": "transaction_id", "cookie_id": "cookie_id",
    "email": "email", "email_raw": "email", "email_match_key": "email",
    "receipt_email": "email", "receipt_email_raw": "email", "receipt_email_match_key": "email",
    "subject_email": "email", "subject_email_match_key": "email",
    "phone": "phone", "phone_raw": "phone",
    # consent_events: the id or email a consent is about, whatever its type
    "subject_id": "subject",
}
# Kinds a consent subject can be.
SUBJECT_KINDS = ("crm_id", "account_id", "loyalty_id", "email")
# Kinds that two persons may share (a household's email or phone, a family computer's cookie).
SHAREABLE_KINDS = ("email", "phone", "cookie_id")
# The column naming each identity source's record in silver (`record_id` = `<source>:<value>`).
RECORD_KEYS = {
    "crm_customers": "record_key", "web_accounts": "record_key", "loyalty_members": "record_key",
    "orders": "order_id", "pos_transactions": "transaction_id", "web_events": "cookie_id",
    "email_events": "email",
}


def _norm(col: Column) -> Column:
    return F.lower(F.trim(col.cast("string")))


def given_identifiers(requests: DataFrame, default_region: str = "GB") -> DataFrame:
    """One row per (request, identifier): `request_id, kind, value`; an email also as typed (lower case)."""
    forms = [
        ("email", email_match_key(F.col("email"))),
        ("email", _norm(F.col("email"))),
        ("phone", phone_e164(F.col("phone"), default_region)),
        ("phone", _norm(F.col("phone"))),
        *[(kind, _norm(F.col(kind))) for kind in ("loyalty_id", "account_id", "crm_id")],
    ]
    parts = [requests.select("request_id", F.lit(kind).alias("kind"), _norm(value).alias("value"))
             for kind, value in forms]
    return reduce(DataFrame.unionByName, parts).where("value IS NOT NULL AND value <> ''").distinct()


def record_identifiers(silver: Mapping[str, DataFrame], identity_map: DataFrame) -> DataFrame:
    """Every identifier value of every source record that identity resolution keyed: `record_id, customer_key, kind, value`.

    `silver`: source name -> its silver table (the sources of `RECORD_KEYS`; missing ones are skipped).
    """
    keyed = identity_map.select("record_id", "customer_key")
    parts = []
    for source, key in RECORD_KEYS.items():
        if source not in silver:
            continue
        df = silver[source]
        columns = [c for c in df.columns if c in COLUMN_KINDS and COLUMN_KINDS[c] not in ("customer_key", "record_id")]
        pairs = F.array(*[F.struct(F.lit(COLUMN_KINDS[c]).alias("kind"), _norm(F.col(c)).alias("value"))
                          for c in columns])
        parts.append(df.select(F.concat(F.lit(f"{source}:"), F.col(key)).alias("record_id"),
                               F.explode(pairs).alias("_p")).select("record_id", "_p.kind", "_p.value"))
    values = reduce(DataFrame.unionByName, parts).where("value IS NOT NULL AND value <> ''").distinct()
    return values.join(keyed, "record_id")


def resolve(given: DataFrame, records: DataFrame) -> DataFrame:
    """The customer keys each request names: `request_id, customer_key` (a key may come from several identifiers).

    An identifier that records of more than one customer key carry (a household's email or phone)
    names none of them: erasing by it would erase someone else.
    """
    matches = given.join(records.select("kind", "value", "customer_key"), ["kind", "value"]).distinct()
    owners = matches.groupBy("request_id", "kind", "value").agg(F.countDistinct("customer_key").alias("_owners"))
    return (matches.join(owners, ["request_id", "kind", "value"]).where("_owners = 1")
            .select("request_id", "customer_key").distinct())


def shared_identifiers(given: DataFrame, records: DataFrame) -> DataFrame:
    """The identifiers of `given` that several customer keys carry: `request_id, kind, owners`."""
    matches = given.join(records.select("kind", "value", "customer_key"), ["kind", "value"])
    return (matches.groupBy("request_id", "kind", "value").agg(F.countDistinct("customer_key").alias("owners"))
            .where("owners > 1").select("request_id", "kind", "owners").distinct())


def erased_values(records: DataFrame, keys: DataFrame, given: DataFrame, identity_map: DataFrame) -> DataFrame:
    """Everything to forget: `kind, value` for the customer keys `keys` (column `customer_key`).

    The keys themselves, their records' ids, every identifier those records carry, and the
    identifiers the requests gave; minus emails, phones and cookies that records of other
    customer keys carry too.
    """
    erased_keys = keys.select("customer_key").distinct()
    mine = records.join(erased_keys, "customer_key", "left_semi")
    kept = records.join(erased_keys, "customer_key", "left_anti")
    shared = kept.where(F.col("kind").isin(*SHAREABLE_KINDS)).select("kind", "value").distinct()
    own = mine.select("kind", "value").unionByName(given.select("kind", "value")).distinct()
    own = own.join(shared, ["kind", "value"], "left_anti")
    key_rows = erased_keys.select(F.lit("customer_key").alias("kind"), _norm(F.col("customer_key")).alias("value"))
    record_rows = (identity_map.join(erased_keys, "customer_key", "left_semi")
                   .select(F.lit("record_id").alias("kind"), _norm(F.col("record_id")).alias("value")))
    subjects = own.where(F.col("kind").isin(*SUBJECT_KINDS)).select(F.lit("subject").alias("kind"), "value")
    return reduce(DataFrame.unionByName, [own, key_rows, record_rows, subjects]).distinct()


def rule_columns(df: DataFrame) -> list[tuple[str, str]]:
    """The (column, kind) pairs of `df` that name a person."""
    return [(c, COLUMN_KINDS[c]) for c in df.columns if c in COLUMN_KINDS]


def erased_by_kind(values: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """The collected `erased_values` as kind -> sorted values."""
    out: dict[str, set[str]] = {}
    for kind, value in values:
        out.setdefault(kind, set()).add(value)
    return {kind: sorted(vs) for kind, vs in out.items()}


def names_erased(df: DataFrame, erased: Mapping[str, Sequence[str]]) -> Column | None:
    """True for a row of `df` naming an erased value in a column of `rule_columns` (never null); None: no such column.

    The values are literals of the plan (Spark turns a long list into a hash set), so a
    table is checked by a filter, without a join.
    """
    tests = [_norm(F.col(column)).isin(*erased[kind]) for column, kind in rule_columns(df) if erased.get(kind)]
    if not tests:
        return None
    return F.coalesce(reduce(lambda a, b: a | b, tests), F.lit(False))


def needles(values: Iterable[tuple[str, str]], min_length: int = 5) -> list[str]:
    """The erased values worth looking for in free text: identifiers, not keys of ours, and not too short to be one."""
    return sorted({v for kind, v in values if kind not in ("customer_key", "subject") and len(v) >= min_length})


def scrub_pattern(words: Iterable[str]) -> str | None:
    """A case-insensitive Java/Python regular expression matching any of `words` as a whole token; None for none.

    A token boundary is anything but a letter or digit, so `C0001` does not match inside `C00012`.
    The words are merged into a trie (`a(?:nn|lex)`), so a position of the text costs one
    character test per letter matched, not one per word: a pattern of 20,000 identifiers
    scans text about as fast as one of 20.
    """
    trie: dict = {}
    for word in {w.lower() for w in words if w}:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}
    if not trie:
        return None
    return f"(?iu)(?<![0-9a-z])(?:{_trie_regex(trie)})(?![0-9a-z])"


def _trie_regex(node: dict) -> str:
    """The regular expression of a trie node. Where a word ends and longer ones go on, the rest is an
    optional group: the longer word is tried first, and the boundary lookahead backtracks to the shorter."""
    branches = [re.escape(ch) + _trie_regex(child) for ch, child in sorted(node.items()) if ch]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if "" in node:  # a word ends here and others go on
        body = f"(?:{body})?" if len(branches) == 1 else body + "?"
    return body
