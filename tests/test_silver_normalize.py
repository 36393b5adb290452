"""Silver column normalisers on tricky inputs, each against written-out expected values."""
from __future__ import annotations

from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from jobs.common.normalize import (
    amount,
    email_match_key,
    email_match_key_text,
    email_normalized,
    name_normalized,
    phone_e164,
    postcode_normalized,
    street_normalized,
)
from jobs.common.text import text_clean


def _apply(spark, fn, cases, ddl="value string"):
    """Apply a Column -> Column function to the inputs of `cases`; returns {input: output}."""
    df = spark.createDataFrame([(i, v) for i, v in enumerate(cases)], f"id int, {ddl}")
    rows = df.select("id", fn(F.col("value")).alias("out")).orderBy("id").collect()
    return {cases[r["id"]]: r["out"] for r in rows}


def _check(spark, fn, expected: dict, ddl="value string"):
    got = _apply(spark, fn, list(expected), ddl)
    assert got == expected


def test_email_normalized_trims_lowercases_and_rejects_invalid(spark):
    _check(spark, email_normalized, {
        "  Jade.Hilton86@GMAIL.com ": "jade.hilton86@gmail.com",
        "KARL342@Yahoo.Co.UK": "karl342@yahoo.co.uk",
        "a+shop@outlook.com": "a+shop@outlook.com",
        "": None,
        "   ": None,
        None: None,
        "no-at-sign.example.com": None,
        "two@@example.com": None,
        "a@b@example.com": None,
        "nodot@localhost": None,
        "trailing@example.": None,
        "double@example..com": None,
        "@example.com": None,
        "spaced name@example.com": None,
    })


def test_email_match_key_strips_tags_and_gmail_dots_only_where_providers_do(spark):
    expected = {
        "Jade.Hilton86+shop@Gmail.com": "jadehilton86@gmail.com",
        "jade.hilton86@googlemail.com": "jadehilton86@gmail.com",
        "j.a.d.e@gmail.com": "jade@gmail.com",
        "craig289+deals@outlook.com": "craig289@outlook.com",
        "first.last+news@hotmail.co.uk": "first.last@hotmail.co.uk",
        "a.b+x@icloud.com": "a.b@icloud.com",
        "me+promo@fastmail.com": "me@fastmail.com",
        "x+2025@protonmail.com": "x@protonmail.com",
        # No plus addressing at these providers: the address is kept as normalised.
        "karl.342+uk@yahoo.co.uk": "karl.342+uk@yahoo.co.uk",
        "k.naylor+news@btinternet.com": "k.naylor+news@btinternet.com",
        # Only a tag: nothing left to strip to, keep the address.
        "+news@gmail.com": "+news@gmail.com",
        "not-an-email": None,
        None: None,
    }
    _check(spark, email_match_key, expected)
    # The same rule outside Spark (the erasure bench's mailboxes).
    assert {value: email_match_key_text(value) for value in expected} == expected


def test_phone_e164_reads_every_uk_format_and_rejects_junk(spark):
    _check(spark, phone_e164, {
        "07527 999290": "+447527999290",
        "07527999290": "+447527999290",
        "+44 7829 158386": "+447829158386",
        "+447915649556": "+447915649556",
        "07772-353-301": "+447772353301",
        "(07569) 452000": "+447569452000",
        "00447915649556": "+447915649556",
        "447772367602": "+447772367602",
        "+44 (0)7772 367602": "+447772367602",
        "0777 235 3301": "+447772353301",
        "020 7946 0958": "+442079460958",
        "+1 650 253 0000": "+16502530000",
        "12345": None,
        "0752799929": None,
        "phone me": None,
        "": None,
        None: None,
    })


def test_phone_e164_uses_the_default_region_for_national_numbers(spark):
    got = _apply(spark, lambda c: phone_e164(c, default_region="US"), ["(650) 253-0000", "07527999290"])
    assert got == {"(650) 253-0000": "+16502530000", "07527999290": None}


def test_name_normalized_nfkc_whitespace_and_title_case(spark):
    _check(spark, name_normalized, {
        "  jade  ": "Jade",
        "KARL": "Karl",
        "mary-jane   smith": "Mary-Jane Smith",
        "o'neil": "O'Neil",
        "D’ARCY": "D'Arcy",
        "john's": "John's",
        "McDonald": "Mcdonald",
        "ｊｏｈｎ": "John",  # full-width letters (NFKC)
        "zoë": "Zoë",
        "\tanne\u00a0marie ": "Anne Marie",  # tab and no-break space
        "": None,
        "   ": None,
        None: None,
    })


def test_street_normalized_expands_abbreviations_as_whole_words(spark):
    _check(spark, street_normalized, {
        "12 high st.": "12 High Street",
        "52 MANN  RD": "52 Mann Road",
        "Flat 3 ,10 Park Ave": "Flat 3, 10 Park Avenue",
        "4 Elm Cl": "4 Elm Close",
        "9 Bray Ln": "9 Bray Lane",
        "22 Stanley Gdns": "22 Stanley Gardens",
        "1 Kings Cres": "1 Kings Crescent",
        "8 Market Sq": "8 Market Square",
        "3 Rose Terr": "3 Rose Terrace",
        "6 Wilkinson Ct": "6 Wilkinson Court",
        "14 Oak Dr": "14 Oak Drive",
        "2 Albert Pl": "2 Albert Place",
        # St is Saint before a name; abbreviations inside words stay.
        "1 St Albans Rd": "1 St Albans Road",
        "5 church st, york": "5 Church Street, York",
        "7 Stanley Street": "7 Stanley Street",
        "10 Ardent Close": "10 Ardent Close",
        "7a HIGH STREET": "7A High Street",
        "": None,
        None: None,
    })


def test_postcode_normalized_formats_uk_postcodes_and_rejects_others(spark):
    _check(spark, postcode_normalized, {
        "ls62ab": "LS6 2AB",
        "LS6 2AB": "LS6 2AB",
        " n11  5at ": "N11 5AT",
        "ec1a1bb": "EC1A 1BB",
        "W1A 0AX": "W1A 0AX",
        "b147bu": "B14 7BU",
        "M1 1AE": "M1 1AE",
        "cr2 6xh": "CR2 6XH",
        "GIR 0AA": "GIR 0AA",
        "LS6 2AC": None,  # C is never an inward unit letter
        "90210": None,
        "LS6": None,
        "ABC 123": None,
        "": None,
        None: None,
    })


def test_text_clean_collapses_whitespace_and_keeps_case(spark):
    _check(spark, text_clean, {"  Newcastle   upon Tyne ": "Newcastle upon Tyne", " ": None, None: None})


def test_amount_casts_to_decimal_12_2(spark):
    df = spark.createDataFrame([("16.99",), ("3",), ("2.005",), (None,)], "value string")
    out = df.select(amount(F.col("value")).alias("a"))
    assert out.schema["a"].dataType.simpleString() == "decimal(12,2)"
    assert [r["a"] for r in out.collect()] == [Decimal("16.99"), Decimal("3.00"), Decimal("2.01"), None]


@pytest.mark.parametrize("fn", [email_normalized, email_match_key, phone_e164, name_normalized, street_normalized,
                                postcode_normalized])
def test_normalisers_are_idempotent(spark, fn):
    values = ["Jade.Hilton+x@GoogleMail.com", "+44 (0)7772 367602", "o'neil", "12 high st.", "ls62ab", "zoë"]
    once = _apply(spark, fn, values)
    twice = _apply(spark, fn, [v for v in once.values() if v is not None])
    assert all(twice[v] == v for v in twice)
