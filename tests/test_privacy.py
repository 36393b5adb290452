"""Keyed pseudonyms (RFC 4231 vectors, the Spark column against Python's hmac, where the key comes from) and the PII check."""
from __future__ import annotations

import stat

import pytest

from jobs.common.config import PrivacyConfig
from jobs.common.pii import findings, tagged_columns
from jobs.common.pseudonym import ENV_VAR, PseudonymKeyError, keyed_hash, load_key, normalised, pseudonym

KEY = b"k" * 40


def test_the_hash_is_hmac_sha256_as_rfc_4231_gives_it():
    # RFC 4231, test case 2
    assert keyed_hash("what do ya want for nothing?", b"Jefe") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_the_spark_column_is_the_hmac_of_the_normalised_value_and_null_stays_null(spark):
    values = [" Ann.Lee@Example.COM ", "+447700900123", "zoë@example.com", None]
    df = spark.createDataFrame([(v,) for v in values], "v STRING")
    got = [r.p for r in df.select(pseudonym(df.v, KEY).alias("p")).collect()]
    assert got == [keyed_hash(normalised(v), KEY) if v is not None else None for v in values]
    assert got[0] == keyed_hash("ann.lee@example.com", KEY) != keyed_hash("ann.lee@example.com", b"x" * 40)


def test_the_environment_wins_over_the_key_file(tmp_path):
    path = tmp_path / "key"
    path.write_text("f" * 64 + "\n")
    privacy = PrivacyConfig(pseudonym_key_file=str(path))
    assert load_key(privacy, env={}) == b"f" * 64
    assert load_key(privacy, env={ENV_VAR: "e" * 32}) == b"e" * 32


def test_a_missing_or_short_key_is_refused_naming_the_setting(tmp_path):
    with pytest.raises(PseudonymKeyError, match=f"{ENV_VAR}.*privacy.pseudonym_key_file"):
        load_key(PrivacyConfig(), env={})
    missing = tmp_path / "none" / "key"
    with pytest.raises(PseudonymKeyError, match=f"{missing}.*does not exist"):
        load_key(PrivacyConfig(pseudonym_key_file=str(missing)), env={})
    with pytest.raises(PseudonymKeyError, match="has 5 characters"):
        load_key(PrivacyConfig(), env={ENV_VAR: "short"})


def test_the_demo_creates_a_private_random_key_once(tmp_path):
    path = tmp_path / "secrets" / "key"
    privacy = PrivacyConfig(pseudonym_key_file=str(path), create_key_file=True)
    first = load_key(privacy, env={})
    assert len(first) == 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(privacy, env={}) == first
    other = load_key(PrivacyConfig(pseudonym_key_file=str(tmp_path / "other"), create_key_file=True), env={})
    assert other != first


def test_the_pii_check_names_tagged_columns_and_email_or_phone_like_values_never_the_values(spark):
    df = spark.createDataFrame([
        ("CK1", "gold", ["crm_customers", "web_accounts"], "SKU-000123", "+12"),
        ("CK2", "note: ann@example.co.uk", ["+447700900123"], "0123456789", "+447700900456"),
        ("CK3", None, None, None, None),
        # An "@" or a "+" alone is not enough; a long value without either is looked at too.
        ("CK4", "a@b and +44 7700", ["x" * 300, "+1"], "@", "0" * 64),
    ], "customer_key STRING, tier STRING, sources ARRAY<STRING>, sku STRING, phone STRING")
    found = findings({"gold.t": df}, {"phone", "email"})
    assert sorted(str(f) for f in found) == sorted([
        "gold.t.phone is a personal-data column",
        "gold.t.tier holds 1 value(s) that look like email addresses",
        "gold.t.sources holds 1 value(s) that look like phone numbers",
        "gold.t.phone holds 1 value(s) that look like phone numbers",
    ])
    clean = df.drop("phone").where("customer_key = 'CK1'")
    assert findings({"gold.t": clean, "gold.u": df.select("customer_key")}, {"phone", "email"}) == []


def test_columns_tagged_pii_in_the_dbt_yml_join_the_landing_contracts(tmp_path):
    (tmp_path / "models" / "staging").mkdir(parents=True)
    (tmp_path / "models" / "staging" / "_m.yml").write_text(
        "models:\n  - name: stg\n    columns:\n      - name: loyalty_code\n        config: {meta: {pii: true}}\n"
        "      - name: notes\n        meta: {pii: true}\n      - name: tier\n")
    tagged = tagged_columns(tmp_path)
    assert {"loyalty_code", "notes", "email", "tax_id"} <= tagged and "tier" not in tagged
    assert "loyalty_code" not in tagged_columns()
