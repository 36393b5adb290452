"""Keyed pseudonyms: HMAC-SHA256 of a normalised identifier under a secret key.

Gold and serving carry an email or a phone only as its pseudonym. An unkeyed
hash (`sha2(lower(email))`) is reversed by hashing a list of known addresses;
a keyed one is not, without the key. The key is read, in this order, from:

1. the environment variable `C360_PSEUDONYM_KEY` (a cluster's secret store puts it there);
2. the file named by `privacy.pseudonym_key_file` (its whole content, stripped).

With `privacy.create_key_file` (the local profile) a missing file is created
with 32 random bytes (hex) and the run says so: fine for a demo, never for
production data. A key shorter than `MIN_KEY_CHARS` characters is refused.
The key never enters a query plan: the hash runs in a Python UDF whose
closure holds it.

Rotating the key changes every pseudonym: set the new key, run
`resolve_identities` for the latest day (it rewrites `silver.customers`, whose
pseudonym columns gold reads) and the feature build. Consumers that kept old
pseudonyms must map them again; nothing can map old to new without both keys.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F

from jobs.common.config import PrivacyConfig

log = logging.getLogger(__name__)

ENV_VAR = "C360_PSEUDONYM_KEY"
MIN_KEY_CHARS = 32


class PseudonymKeyError(ValueError):
    """No usable pseudonym key: the message names the setting and what to do."""


def load_key(privacy: PrivacyConfig, env: Mapping[str, str] | None = None) -> bytes:
    """The secret key of the pseudonyms (see the module docstring for where it comes from)."""
    env = os.environ if env is None else env
    if env.get(ENV_VAR, "").strip():
        return _checked(env[ENV_VAR].strip(), f"environment variable {ENV_VAR}")
    if not privacy.pseudonym_key_file:
        raise PseudonymKeyError(
            f"no pseudonym key: set the environment variable {ENV_VAR} (at least {MIN_KEY_CHARS} characters, "
            "e.g. from your secret store), or name a key file in the profile as privacy.pseudonym_key_file")
    path = Path(privacy.pseudonym_key_file).expanduser()
    if not path.is_file():
        if not privacy.create_key_file:
            raise PseudonymKeyError(
                f"pseudonym key file {path} (privacy.pseudonym_key_file) does not exist: put the key in it "
                f"(at least {MIN_KEY_CHARS} characters, e.g. `openssl rand -hex 32`), or set {ENV_VAR}")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use that one
            return _checked(path.read_text().strip(), f"pseudonym key file {path} (privacy.pseudonym_key_file)")
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        log.warning("created a random pseudonym key in %s (privacy.create_key_file): fine for a demo; for real data "
                    "keep the key in a secret store and pass it as %s", path, ENV_VAR)
    return _checked(path.read_text().strip(), f"pseudonym key file {path} (privacy.pseudonym_key_file)")


def _checked(key: str, origin: str) -> bytes:
    if len(key) < MIN_KEY_CHARS:
        raise PseudonymKeyError(f"the pseudonym key in {origin} has {len(key)} characters; use at least "
                                f"{MIN_KEY_CHARS} (e.g. `openssl rand -hex 32`)")
    return key.encode()


def keyed_hash(value: str, key: bytes) -> str:
    """HMAC-SHA256 (hex) of `value` as given."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def normalised(value: str) -> str:
    """The form an identifier is hashed in: trimmed, lower case."""
    return value.strip().lower()


def pseudonym(column: Column, key: bytes) -> Column:
    """The keyed pseudonym of a string column (null stays null): HMAC-SHA256 of its normalised value, hex."""
    @F.pandas_udf("string")
    def _hmac(values: pd.Series) -> pd.Series:
        return values.map(lambda v: None if v is None or v is pd.NA else keyed_hash(normalised(v), key))

    return _hmac(column)
