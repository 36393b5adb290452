"""The suppression list of erased persons: ingest drops rows carrying an identifier on it.

`ops.erasure_suppression` holds one row per keyed hash (HMAC-SHA256 with the pseudonym key,
`jobs.common.pseudonym`) of an identifier an erasure forgot: an email (as typed and its
match key), a phone (as typed and in E.164), a CRM, account or loyalty id, a cookie. No raw
value is kept. The `erase` stage (jobs/privacy) adds to it, and removes a hash again when
the person opts in anew (a consent event `opt_in` about that identifier).

| table | grain | write |
|---|---|---|
| ops.erasure_suppression | one row per keyed hash of a forgotten identifier | append (lifted: rewritten without it) |
"""
from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.common.lake import Lake
from jobs.common.normalize import email_match_key, phone_e164
from jobs.common.pseudonym import pseudonym

SUPPRESSION = "ops.erasure_suppression"
SUPPRESSION_DDL = "kind STRING, value_hmac STRING, request_id STRING, suppressed_at TIMESTAMP"
# Landing columns checked against the list, and the forms each is hashed in.
EMAIL_COLUMNS = ("email", "receipt_email")
PHONE_COLUMNS = ("phone",)
ID_COLUMNS = ("crm_id", "account_id", "loyalty_id", "cookie_id")


def suppressed(lake: Lake) -> DataFrame | None:
    """The keyed hashes on the list (`value_hmac`), or None when it is empty."""
    if not lake.exists(SUPPRESSION):
        return None
    hashes = lake.read(SUPPRESSION).select("value_hmac").distinct()
    return None if hashes.isEmpty() else hashes


def _forms(column: str) -> list[Column]:
    col = F.col(column)
    if column in EMAIL_COLUMNS:
        return [col, email_match_key(col)]
    if column in PHONE_COLUMNS:
        return [col, phone_e164(col)]
    return [col]


def without_suppressed(rows: DataFrame, hashes: DataFrame, key: bytes,
                       columns: Sequence[str] | None = None) -> DataFrame:
    """`rows` without those carrying a suppressed identifier in any of `columns` (default: all it has)."""
    names = [c for c in (columns or rows.columns) if c in (*EMAIL_COLUMNS, *PHONE_COLUMNS, *ID_COLUMNS)]
    listed = F.broadcast(hashes.select(F.col("value_hmac").alias("_suppressed")))
    for name in names:
        for i, form in enumerate(_forms(name)):
            hashed = f"_h_{name}_{i}"
            rows = (rows.withColumn(hashed, pseudonym(form, key))
                    .join(listed, F.col(hashed) == F.col("_suppressed"), "left_anti").drop(hashed))
    return rows
