"""Column normalisers for silver and erasure requests: emails, phones, names, streets, postcodes, amounts.

Every function takes a Column and returns a Column, so it composes in a `select`
and is tested with tiny inline DataFrames. Spark built-ins are used where they are
enough; names, streets and phones need Python (Unicode NFKC, the `phonenumbers`
library) and run as vectorised `pandas_udf`s. A value that cannot be normalised
becomes null: silver keeps the raw column next to it where the raw value matters.
"""
from __future__ import annotations

import functools
import re
import unicodedata

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, StringType

AMOUNT_TYPE = DecimalType(12, 2)

# One "@", a non-empty local part, and a domain of at least two non-empty labels.
_EMAIL_PATTERN = r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$"

# Mailboxes that deliver `local+tag@domain` to `local@domain`.
PLUS_ADDRESSING_DOMAINS = (
    "gmail.com", "googlemail.com",
    "outlook.com", "outlook.co.uk", "hotmail.com", "hotmail.co.uk", "live.com", "live.co.uk", "msn.com",
    "icloud.com", "me.com", "mac.com",
    "fastmail.com", "fastmail.fm",
    "protonmail.com", "proton.me", "pm.me",
)
# Gmail ignores dots in the local part; googlemail.com is the same mailbox as gmail.com.
_GMAIL = "gmail.com"
_GMAIL_ALIASES = ("googlemail.com",)

# UK postcode, spaces removed: outward code (area, district) then inward code (sector, unit).
# Inward unit letters never use C, I, K, M, O or V. GIR0AA is the one historic exception.
_POSTCODE_PATTERN = r"^([A-Z]{1,2}[0-9][A-Z0-9]?[0-9][ABD-HJLNP-UW-Z]{2}|GIR0AA)$"

# Street-type abbreviations, expanded when they are a whole word (any case, optional dot).
STREET_ABBREVIATIONS = {
    "rd": "Road", "ave": "Avenue", "av": "Avenue", "ln": "Lane",
    "cres": "Crescent", "cresc": "Crescent", "ct": "Court", "pl": "Place", "sq": "Square",
    "gdns": "Gardens", "terr": "Terrace", "tce": "Terrace", "cl": "Close", "gro": "Grove",
    "pk": "Park", "pde": "Parade", "wlk": "Walk", "hwy": "Highway",
}
# Also titles (Saint, Doctor): expanded only where a street type stands, at the end of the
# line or before a comma, so "St Albans Rd" keeps its Saint.
STREET_TYPE_ONLY_AT_END = {"st": "Street", "dr": "Drive"}
_ABBREVIATION_RE = re.compile(r"\b(" + "|".join(STREET_ABBREVIATIONS) + r")\b\.?", re.IGNORECASE)
_AT_END_RE = re.compile(r"\b(" + "|".join(STREET_TYPE_ONLY_AT_END) + r")\b\.?(?=\s*(,|$))", re.IGNORECASE)
_HOUSE_LETTER_RE = re.compile(r"\b(\d+)([a-z])\b")
_WORD_START_RE = re.compile(r"(^|[\s\-/(])(\w)")
# A one-letter prefix before an apostrophe starts a new capital: O'Neil, D'Arcy (but John's stays).
_ELISION_RE = re.compile(r"(^|[\s\-])(\w)['’](\w)")


def _clean_text(value: object) -> str | None:
    """NFKC, whitespace collapsed and trimmed; None for non-strings and empty text."""
    if not isinstance(value, str):
        return None
    text = " ".join(unicodedata.normalize("NFKC", value).split())
    return text or None


def title_case(text: str) -> str:
    """Lower-case, then capitalise each word, including after a hyphen and in O'Neil-style elisions.

    Deterministic and simple on purpose: `McDonald` becomes `Mcdonald`, like Spark's `initcap`.
    """
    lowered = text.lower()
    cased = _WORD_START_RE.sub(lambda m: m.group(1) + m.group(2).upper(), lowered)
    return _ELISION_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}'{m.group(3).upper()}", cased)


def name_text(value: object) -> str | None:
    """A person's name as text: NFKC, collapsed whitespace, title case; None when empty."""
    text = _clean_text(value)
    return title_case(text) if text else None


def street_text(value: object) -> str | None:
    """A street line as text: collapsed whitespace, abbreviations expanded, title case."""
    text = _clean_text(value)
    if not text:
        return None
    text = re.sub(r"\s*,\s*", ", ", text).strip(" ,")
    text = _AT_END_RE.sub(lambda m: STREET_TYPE_ONLY_AT_END[m.group(1).lower()], text)
    text = _ABBREVIATION_RE.sub(lambda m: STREET_ABBREVIATIONS[m.group(1).lower()], text)
    # House numbers keep an upper-case letter suffix: 7A, 12B.
    return _HOUSE_LETTER_RE.sub(lambda m: m.group(1) + m.group(2).upper(), title_case(text)) or None


def e164_text(value: object, default_region: str = "GB") -> str | None:
    """A phone number in E.164 (`+447700900123`), or None when it is not a valid number."""
    import phonenumbers

    if not isinstance(value, str) or not value.strip():
        return None
    raw = value.strip()
    candidates = [(raw, default_region)]
    digits = re.sub(r"[\s().\-]", "", raw)
    if digits.isdigit() and not digits.startswith("0"):
        # International number typed without its "+" (e.g. 4477...): try it as one.
        candidates.append(("+" + digits, None))
    for text, region in candidates:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


@F.pandas_udf(StringType())
def _name_udf(values: pd.Series) -> pd.Series:
    return values.map(name_text)


@F.pandas_udf(StringType())
def _street_udf(values: pd.Series) -> pd.Series:
    return values.map(street_text)


@functools.cache
def _phone_udf(default_region: str):
    @F.pandas_udf(StringType())
    def to_e164(values: pd.Series) -> pd.Series:
        return values.map(lambda v: e164_text(v, default_region))

    return to_e164


def email_normalized(col: Column) -> Column:
    """Trimmed, lower-case email; null when empty or not `local@domain.tld`."""
    email = F.lower(F.trim(col))
    return F.when(email.rlike(_EMAIL_PATTERN), email)


def email_match_key(col: Column) -> Column:
    """The mailbox an email reaches, for matching people across sources.

    From the normalised email: `+tag` dropped for providers with plus addressing,
    dots dropped from Gmail local parts, googlemail.com read as gmail.com. Other
    domains are kept as they are. Null when the email is invalid.
    """
    email = email_normalized(col)
    local = F.substring_index(email, "@", 1)
    domain = F.substring_index(email, "@", -1)
    domain = F.when(domain.isin(*_GMAIL_ALIASES), F.lit(_GMAIL)).otherwise(domain)
    untagged = F.when(domain.isin(*PLUS_ADDRESSING_DOMAINS), F.regexp_replace(local, r"\+.*$", "")).otherwise(local)
    undotted = F.when(domain == _GMAIL, F.regexp_replace(untagged, r"\.", "")).otherwise(untagged)
    # A local part that was only a tag keeps the address as written rather than becoming empty.
    return F.when(email.isNull(), None).when(undotted == "", email).otherwise(F.concat(undotted, F.lit("@"), domain))


def email_match_key_text(value: object) -> str | None:
    """`email_match_key` of one value, in Python (for checks outside Spark); None when not an email."""
    if not isinstance(value, str):
        return None
    email = value.strip(" ").lower()  # Spark's trim: spaces only
    if not re.match(_EMAIL_PATTERN, email):
        return None
    local, _, domain = email.partition("@")
    domain = _GMAIL if domain in _GMAIL_ALIASES else domain
    if domain in PLUS_ADDRESSING_DOMAINS:
        local = local.split("+", 1)[0]
    if domain == _GMAIL:
        local = local.replace(".", "")
    return f"{local}@{domain}" if local else email


def phone_e164(col: Column, default_region: str = "GB") -> Column:
    """Phone number in E.164 via `phonenumbers`; null when not parseable or not a valid number.

    Numbers without an international prefix are read in `default_region`
    (`07700 900123`, `(07700) 900123`); `+44 (0)7700…`, `0044…` and `44…` are read
    as international.
    """
    return _phone_udf(default_region)(col)


def name_normalized(col: Column) -> Column:
    """Unicode NFKC, whitespace collapsed and trimmed, title case (`o'neil` -> `O'Neil`); empty -> null."""
    return _name_udf(col)


def street_normalized(col: Column) -> Column:
    """Street line: whitespace collapsed, `Rd`/`Ave`/`St`... expanded as whole words, title case.

    `St` and `Dr` are expanded only where a street type stands (end of the line or
    before a comma), so `St Albans Rd` becomes `St Albans Road`. House-number
    letters stay upper case (`7A`). Empty -> null.
    """
    return _street_udf(col)


def postcode_normalized(col: Column) -> Column:
    """UK postcode in canonical form (`LS6 2AB`); null when it is not a UK postcode."""
    compact = F.upper(F.regexp_replace(col, r"\s+", ""))
    return F.when(
        compact.rlike(_POSTCODE_PATTERN),
        F.regexp_replace(compact, r"^(.+)(.{3})$", "$1 $2"),
    )


def amount(col: Column) -> Column:
    """Money amount as `decimal(12,2)` (rounded half up)."""
    return col.cast(AMOUNT_TYPE)
