"""The probabilistic match model: Fellegi-Sunter with Splink on Spark.

Comparisons: first name (exact, Jaro-Winkler levels, and "both are forms of one
name" from the `nicknames` library's list), last name, date of birth, email
(match key and its local part), phone, tax id (where a source has one; null
on either side is neutral), and the address as one comparison:
street, postcode and city of one address are not independent evidence, and
counting them three times links household members to each other. Its levels
run from the same street and postcode, through the same house number (or none
on either side) with a slip or two in the street name at one postcode, the same
street with a slip in the postcode or city (one edit, or the same postcode
district), the same postcode with a street on one side only, then with two
different streets (neighbours share a postcode), down to the same city, a
postcode or city one slip apart, and the same street, or the same house number
with a slip in the street, in another place. A first name that is the
other record's last name (names entered the wrong way round) is a level of
both name comparisons.

Households break the independence Fellegi-Sunter assumes: their members share
a surname and an address, often one email, and differ in first name and date
of birth. A model that multiplies the surname's evidence by the address's
takes two housemates for one person. So one comparison, "one surname at one
address", carries the dependence: after training, `household_dependence`
estimates how much more often two different persons share both than
independence says (on the generator's households about 90 times; on an export
of persons without households about once), and that level weighs one over it.
The estimate comes from the data the model is trained on, so a customer
master with households and one without each get the weight they need.
A user name is often made of the person's name, so two email levels are fixed
rather than estimated and weigh nothing: an email shared by two different
first names, or where either first name is missing (a household's mailbox),
and one user name at two providers when it only spells the name (annsmith,
asmith: namesakes share it, and the names are compared already).
After training, no level of agreement weighs less than its comparison's "all
other" level (`agreement_floor`): a level the training data's matches never
reach would otherwise veto every pair that falls in it.

m probabilities are estimated by EM (on a hash-chosen sample of at most
`identity.em_max_pairs` pairs per training rule), u probabilities by random
sampling. The trained model is kept as Splink's JSON next to the lake, so
daily runs score new records with the same weights. Exact first and last
names weigh by how common the name is (Splink's term-frequency adjustment):
the frequencies are counted once, at training, and saved in the model, so a
pair's score depends on the pair and the model alone, which is what makes
scoring only the new records sound. A name first seen after training gets
the average weight.

Blocking rules (a pair is scored when at least one holds): same email match key;
same phone; same email local part; same date of birth and first initial; same
surname sound (Soundex) and postcode; first and last name swapped; same tax id;
same street and postcode; same date of birth and postcode; same first name and
postcode; same date of birth and city; same first and last name and city; same
street and city; same date of birth and last name; same date of birth and
street; the first four characters of the tax id and the postcode (a tax id
with a slip at the end). A pair with one mistyped
field is still found by another rule, and no rule blocks on one common value
alone (a postcode, a date, a full name), so blocks stay small at scale.
"""
from __future__ import annotations

import functools
import logging
import re

import numpy as np
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.common.match_model_file import MODEL_FILE, TERM_FREQUENCIES, load, save  # noqa: F401 - its file, here

log = logging.getLogger(__name__)

# Names weigh by how common they are: two records both named Smith say less than two named Featherstonehaugh.
TF_COLUMNS = ("first_name", "last_name")

BLOCKING_RULES = (
    "l.email_match_key = r.email_match_key",
    "l.phone = r.phone",
    "l.email_user = r.email_user",
    "l.date_of_birth = r.date_of_birth and substr(l.first_name, 1, 1) = substr(r.first_name, 1, 1)",
    "soundex(l.last_name) = soundex(r.last_name) and l.postcode = r.postcode",
    "l.first_name = r.last_name and l.last_name = r.first_name",
    "l.tax_id = r.tax_id",
    "l.street = r.street and l.postcode = r.postcode",
    "l.date_of_birth = r.date_of_birth and l.postcode = r.postcode",
    "l.first_name = r.first_name and l.postcode = r.postcode",
    "l.date_of_birth = r.date_of_birth and l.city = r.city",
    "l.first_name = r.first_name and l.last_name = r.last_name and l.city = r.city",
    "l.street = r.street and l.city = r.city",
    "l.date_of_birth = r.date_of_birth and l.last_name = r.last_name",
    "l.date_of_birth = r.date_of_birth and l.street = r.street",
    "substr(l.tax_id, 1, 4) = substr(r.tax_id, 1, 4) and l.postcode = r.postcode",
)
# Pairs these rules find are nearly all matches: they anchor the prior match probability.
ANCHOR_RULES = (
    "l.email_match_key = r.email_match_key and l.first_name = r.first_name",
    "l.phone = r.phone and l.last_name = r.last_name",
    "l.first_name = r.first_name and l.last_name = r.last_name and l.date_of_birth = r.date_of_birth",
    "l.tax_id = r.tax_id and l.last_name = r.last_name",
)
# EM is run once per rule; each leaves the compared columns of its rule out of its estimate.
# A rule that finds no pairs in the data (no emails in an export, say) is skipped.
TRAINING_RULES = (
    "l.first_name = r.first_name and l.last_name = r.last_name",
    "l.email_match_key = r.email_match_key",
    "l.date_of_birth = r.date_of_birth",
    "l.postcode = r.postcode",
)

# Both first names given, and equal, close, forms of one name, or first and last name swapped.
_FIRST_NAMES_AGREE = (
    "(first_name_l = first_name_r"
    " OR jaro_winkler(first_name_l, first_name_r) >= 0.88"
    " OR coalesce(arrays_overlap(first_name_group_l, first_name_group_r), false)"
    " OR (first_name_l = last_name_r AND last_name_l = first_name_r))"
)

# A user name that only spells the person's name (annsmith, ann.smith, asmith, smithann, digits
# aside) says no more than the names, which are compared on their own.
_LETTERS = "regexp_replace({}, '[^a-z]', '')"
_USER_IS_NAME = (
    f"{_LETTERS.format('email_user_l')} IN ("
    f"{_LETTERS.format('concat(first_name_l, last_name_l)')}, {_LETTERS.format('concat(last_name_l, first_name_l)')}, "
    f"{_LETTERS.format('concat(substr(first_name_l, 1, 1), last_name_l)')}, "
    f"{_LETTERS.format('concat(last_name_l, substr(first_name_l, 1, 1))')})"
)

# A house number typed the same (or absent on both sides) and a street name with a slip or
# two ("57 fincham cerscent", "studley steet").
_HOUSE = "regexp_extract({}, '^[0-9]+', 0)"
_SAME_HOUSE_STREET_SLIPS = (
    f"{_HOUSE.format('street_l')} = {_HOUSE.format('street_r')} AND damerau_levenshtein(street_l, street_r) <= 2"
)

# One surname at one address: a household's members agree here as one person's records do.
HOUSEHOLD = "household"
_SAME_SURNAME = "(last_name_l = last_name_r OR jaro_winkler(last_name_l, last_name_r) >= 0.92)"
_SAME_ADDRESS = "(postcode_l = postcode_r OR street_l = street_r)"
# The levels of the two comparisons that make up `HOUSEHOLD`'s agreement (by label).
_SURNAME_LEVELS = ("last_name", ("Exact match on last_name", "Jaro-Winkler distance of last_name >= 0.92"))
_ADDRESS_LEVELS = ("address", ("same street and postcode", "same postcode and house number, street one or two slips apart",
                               "same street, postcode or city one slip apart", "same postcode, a street missing",
                               "same postcode, another street", "same street, another place"))
# Pairs that may agree on surname and address, for estimating how often households do.
_HOUSEHOLD_BLOCKING = ("l.postcode = r.postcode", "l.street = r.street")


def settings(extra_comparisons: tuple = ()):
    """Splink settings of the model (link type dedupe, unique id `record_id`)."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator

    # First and last name entered the wrong way round are a level of each name, not two misses.
    first_name = cl.CustomComparison(
        output_column_name="first_name",
        comparison_description="first name, with nicknames",
        comparison_levels=[
            cll.NullLevel("first_name"),
            cll.ExactMatchLevel("first_name", term_frequency_adjustments=True),
            cll.CustomLevel("jaro_winkler(first_name_l, last_name_r) >= 0.92", "first name is the other's last name"),
            cll.JaroWinklerLevel("first_name", 0.92),
            cll.ArrayIntersectLevel("first_name_group", 1),
            cll.JaroWinklerLevel("first_name", 0.88),
            cll.JaroWinklerLevel("first_name", 0.7),
            cll.ElseLevel(),
        ],
    )
    # An email shared by two different first names, or where a first name is missing, is as
    # likely a household's address: it says nothing about whether the two are one person,
    # so that level weighs nothing. Fuzzy levels on the
    # address are left out: user names are made of the person's name, already compared above.
    email = cl.CustomComparison(
        output_column_name="email_match_key",
        comparison_description="email, and whether the first names go with it",
        comparison_levels=[
            cll.NullLevel("email_match_key"),
            cll.CustomLevel(f"email_match_key_l = email_match_key_r AND {_FIRST_NAMES_AGREE}",
                            "same email, first names agree"),
            cll.CustomLevel("email_match_key_l = email_match_key_r", "same email, other first names or none").configure(
                m_probability=0.5, u_probability=0.5, fix_m_probability=True, fix_u_probability=True),
            cll.CustomLevel(f"email_user_l = email_user_r AND {_USER_IS_NAME}",
                            "same user name at another provider, spelling the name").configure(
                m_probability=0.5, u_probability=0.5, fix_m_probability=True, fix_u_probability=True),
            cll.CustomLevel("email_user_l = email_user_r", "same user name at another provider"),
            cll.ElseLevel(),
        ],
    )
    last_name = cl.CustomComparison(
        output_column_name="last_name",
        comparison_description="last name",
        comparison_levels=[
            cll.NullLevel("last_name"),
            cll.ExactMatchLevel("last_name", term_frequency_adjustments=True),
            cll.CustomLevel("jaro_winkler(last_name_l, first_name_r) >= 0.92", "last name is the other's first name"),
            cll.JaroWinklerLevel("last_name", 0.92),
            cll.JaroWinklerLevel("last_name", 0.88),
            cll.JaroWinklerLevel("last_name", 0.7),
            cll.ElseLevel(),
        ],
    )
    district = "substring_index({side}, ' ', 1)"
    # A postcode or a city with one slip in it (a transposition, a dropped letter) still places
    # the record; an exact street (house number and name) with a slipped postcode or city is
    # the same address typed twice.
    near_place = ("(damerau_levenshtein(postcode_l, postcode_r) <= 1 OR jaro_winkler(city_l, city_r) >= 0.9 OR "
                  f"{district.format(side='postcode_l')} = {district.format(side='postcode_r')})")
    address = cl.CustomComparison(
        output_column_name="address",
        comparison_description="street, postcode and city",
        comparison_levels=[
            cll.CustomLevel("(postcode_l IS NULL OR postcode_r IS NULL) AND (city_l IS NULL OR city_r IS NULL)",
                            "postcode and city missing").configure(is_null_level=True),
            cll.CustomLevel("street_l = street_r AND postcode_l = postcode_r", "same street and postcode"),
            cll.CustomLevel(f"postcode_l = postcode_r AND {_SAME_HOUSE_STREET_SLIPS}",
                            "same postcode and house number, street one or two slips apart"),
            cll.CustomLevel(f"street_l = street_r AND {near_place}", "same street, postcode or city one slip apart"),
            # A street on one side only leaves the postcode to speak; two streets that differ
            # in one postcode are neighbours as often as one person's slips.
            cll.CustomLevel("postcode_l = postcode_r AND (street_l IS NULL OR street_r IS NULL)",
                            "same postcode, a street missing"),
            cll.CustomLevel("postcode_l = postcode_r", "same postcode, another street"),
            cll.CustomLevel(
                f"jaro_winkler(street_l, street_r) >= 0.9 AND (city_l = city_r OR {near_place})",
                "similar street, postcode or city the same or one slip apart",
            ),
            cll.CustomLevel("city_l = city_r", "same city"),
            cll.CustomLevel(near_place, "postcode or city one slip apart"),
            cll.CustomLevel("street_l = street_r", "same street, another place"),
            cll.CustomLevel(_SAME_HOUSE_STREET_SLIPS, "same house number, street one or two slips apart, another place"),
            cll.ElseLevel(),
        ],
    )

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=[
            first_name,
            last_name,
            cl.DateOfBirthComparison("date_of_birth", input_is_string=False),
            email,
            cl.LevenshteinAtThresholds("phone", [1, 2]),
            cl.DamerauLevenshteinAtThresholds("tax_id", [1, 2]),
            address,
            # Weighs nothing while the model is estimated; `household_dependence` sets it after.
            cl.CustomComparison(
                output_column_name=HOUSEHOLD,
                comparison_description="one surname at one address (households), against independence",
                comparison_levels=[
                    cll.CustomLevel(f"{_SAME_SURNAME} AND {_SAME_ADDRESS}", "one surname at one address").configure(
                        m_probability=1.0, u_probability=1.0, fix_m_probability=True, fix_u_probability=True),
                    cll.ElseLevel().configure(
                        m_probability=1.0, u_probability=1.0, fix_m_probability=True, fix_u_probability=True),
                ],
            ),
            *extra_comparisons,
        ],
        blocking_rules_to_generate_predictions=list(BLOCKING_RULES),
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=False,
        em_convergence=0.001,
        max_iterations=25,
        additional_columns_to_retain=["is_new"],
    )


def db_api(spark: SparkSession, break_lineage_method: str = "persist"):
    """Splink's Spark backend on our session; Splink's progress chatter (INFO) is kept out of job logs."""
    from splink import SparkAPI

    logging.getLogger("splink").setLevel(max(logging.WARNING, logging.getLogger("splink").level))
    return SparkAPI(spark_session=spark, break_lineage_method=break_lineage_method)


def _linker(spark: SparkSession, records: DataFrame, model):
    from splink import Linker

    api = db_api(spark)
    if not isinstance(model, dict):
        return Linker(api.register(records), model)
    frequencies = model.get(TERM_FREQUENCIES, {})
    linker = Linker(api.register(records), {k: v for k, v in model.items() if k != TERM_FREQUENCIES})
    for column, table in frequencies.items():
        lookup = spark.createDataFrame(sorted(table.items()), f"{column} STRING, tf_{column} DOUBLE")
        linker.table_management.register_term_frequency_lookup(api.register(lookup), column)
    return linker


def term_frequencies(records: DataFrame) -> dict[str, dict[str, float]]:
    """Share of `records` holding each value of every `TF_COLUMNS` column (among records that have one).

    Saved with the model, so a pair of names weighs the same on every later day,
    however many records have arrived since.
    """
    out = {}
    for column in TF_COLUMNS:
        counts = records.where(F.col(column).isNotNull()).groupBy(column).count()
        rows = counts.select(column, (F.col("count") / F.sum("count").over(Window.partitionBy())).alias("tf")).collect()
        out[column] = {r[column]: r["tf"] for r in rows}
    return out


def training_sample(records: DataFrame, count: int, max_records: int) -> DataFrame:
    """At most about `max_records` of `records`, chosen by a hash of record_id (the same records every time).

    A uniform record sample keeps a fraction f of the records and f squared of both the
    matching and all pairs, so m, u and the prior match probability keep their values.
    """
    if count <= max_records:
        return records
    fraction = max_records / count
    bucket = F.pmod(F.xxhash64("record_id"), F.lit(1_000_000))
    return records.where(bucket < F.lit(int(fraction * 1_000_000))).localCheckpoint()


def train(spark: SparkSession, records: DataFrame, u_max_pairs: int, em_max_pairs: int | None = None,
          extra_comparisons: tuple = (), population: DataFrame | None = None) -> dict | None:
    """Estimate the model on `records`; returns Splink's settings dict with the parameters.

    The name frequencies (`term_frequencies`) are counted on `population` (all
    profile records, of which `records` may be a sample), or on `records`.

    None when no two records agree on any anchor rule (records without personal data, say:
    a loyalty export of card numbers only): such data gives a match model nothing to learn.
    """
    from splink.internals.exceptions import SplinkException

    linker = _linker(spark, records, settings(extra_comparisons))
    linker.training.estimate_probability_two_random_records_match(list(ANCHOR_RULES), recall=0.7)
    if not linker._settings_obj._probability_two_random_records_match > 0:
        return None
    # One pass over the sampled pairs: the chunked probe re-runs the comparison for every chunk.
    linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=7, num_chunks=1, min_count_per_level=None)
    for rule in TRAINING_RULES:
        # A training session edits the model in place (it drops the rule's comparisons and
        # adjusts the prior) before it finds out the rule has no pairs; a skipped rule must
        # leave the model as it was.
        before = linker._settings_obj.core_model_settings.copy()
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True, max_pairs=em_max_pairs)
        except (ValueError, ZeroDivisionError, SplinkException) as exc:
            linker._settings_obj.core_model_settings = before
            log.warning("match model: EM on %r skipped, the data gives it nothing to learn from (%s)", rule,
                        str(exc).splitlines()[0])
    model = {**agreement_floor(linker.misc.save_model_to_json()), TERM_FREQUENCIES: term_frequencies(
        records if population is None else population)}
    return with_household_dependence(model, household_dependence(spark, records, model))


def agreement_floor(model: dict) -> dict:
    """The model with no level of agreement weighing less than its comparison's "all other" level.

    EM gives a level the data's matches never reach (nicknames in an export that has none)
    an m probability of about zero, a weight near minus infinity: one such level would veto
    any pair, however much else agrees. A partial agreement is never stronger evidence
    against a match than no agreement at all, so such a level gets the else level's weight.
    """
    comparisons = []
    for comparison in model["comparisons"]:
        levels = comparison["comparison_levels"]
        other = levels[-1]
        m_else, u_else = other.get("m_probability"), other.get("u_probability")
        if not m_else or not u_else:
            comparisons.append(comparison)
            continue
        fixed = []
        for level in levels[:-1]:
            m, u = level.get("m_probability"), level.get("u_probability")
            if not level.get("is_null_level") and m is not None and u and m / u < m_else / u_else:
                level = {**level, "m_probability": u * m_else / u_else}
            fixed.append(level)
        comparisons.append({**comparison, "comparison_levels": [*fixed, other]})
    return {**model, "comparisons": comparisons}


def _level_u(model: dict, comparison: str, labels: tuple[str, ...]) -> float:
    """Sum of the u probabilities of `comparison`'s levels named `labels`."""
    levels = next(c for c in model["comparisons"] if c["output_column_name"] == comparison)["comparison_levels"]
    return sum(level.get("u_probability") or 0.0 for level in levels if level.get("label_for_charts") in labels)


def household_dependence(spark: SparkSession, records: DataFrame, model: dict, max_iterations: int = 100) -> float:
    """How many times more often two different persons share a surname and an address than chance says.

    The model multiplies the evidence of a shared surname and of a shared address
    as if they were independent. Among different persons they are not: members of
    a household share both. The rate at which two different persons share them,
    u, is estimated on the pairs that do (blocked on postcode and on street) with
    the model's other evidence, by expectation maximisation: a pair with match
    probability p counts 1 - p towards u; p is scored again with the new u; until
    u settles. The result is u over the rate independence gives, at least 1 (a
    set without households, such as one export of persons, gives about 1).
    """
    probe = {**model, "blocking_rules_to_generate_predictions": list(_HOUSEHOLD_BLOCKING)}
    gamma = f"gamma_{HOUSEHOLD}"
    scored = _linker(spark, records, {**probe, "retain_intermediate_calculation_columns": True}).inference.predict()
    weights = [r[0] for r in scored.as_spark_dataframe().where(F.col(gamma) == 1).select("match_weight").collect()]
    n = records.count()
    independent = _level_u(model, *_SURNAME_LEVELS) * _level_u(model, *_ADDRESS_LEVELS)
    ratio = dependence_ratio(weights, n * (n - 1) / 2, independent, max_iterations)
    log.info("match model: %d pairs share a surname and an address; different persons do %.1f times as often "
             "as independence says", len(weights), ratio)
    return ratio


def dependence_ratio(weights, pairs: float, independent: float, max_iterations: int = 100) -> float:
    """The fixed point of u = sum(1 - p) / pairs, where p is each pair's match probability with u in place.

    `weights` are the pairs' match weights (log2 odds) scored as if independent,
    `independent` the rate of agreement independence gives among `pairs` pairs.
    Returns u / independent, at least 1.
    """
    w = np.asarray(weights, dtype=float)
    if not len(w) or not independent or not pairs:
        return 1.0
    ratio = 1.0
    for _ in range(max_iterations):
        p = 1.0 / (1.0 + np.exp2(np.log2(ratio) - w))
        new = max(1.0, float((1.0 - p).sum()) / pairs / independent)
        settled = abs(new - ratio) <= 1e-4 * ratio
        ratio = new
        if settled:
            break
    return ratio


def with_household_dependence(model: dict, ratio: float) -> dict:
    """The model with `household_dependence`'s ratio set as the weight of one surname at one address."""
    comparisons = []
    for comparison in model["comparisons"]:
        if comparison["output_column_name"] == HOUSEHOLD:
            first, *rest = comparison["comparison_levels"]
            comparison = {**comparison, "comparison_levels": [{**first, "m_probability": 1.0 / ratio,
                                                               "u_probability": 1.0}, *rest]}
        comparisons.append(comparison)
    return {**model, "comparisons": comparisons}


def _equalities(rule: str) -> list[tuple[str, str]] | None:
    """A blocking rule's `l.<expr> = r.<expr>` conjuncts as (left, right) expressions on one record, or None
    when the rule is not a conjunction of such equalities."""
    pairs = []
    for part in re.split(r"\s+and\s+", rule.strip(), flags=re.IGNORECASE):
        sides = part.split(" = ")
        if len(sides) != 2:
            return None
        left, right = (side.strip() for side in sides)
        if any(side.count("(") != side.count(")") for side in (left, right)):
            return None
        if re.search(r"\br\.", left) or re.search(r"\bl\.", right) or not (
                re.search(r"\bl\.", left) and re.search(r"\br\.", right)):
            return None
        pairs.append((re.sub(r"\bl\.", "", left), re.sub(r"\br\.", "", right)))
    return pairs


def pairable_with_new(records: DataFrame, model: dict) -> DataFrame:
    """The new records (`is_new`) and the others that some blocking rule of `model` pairs with one of them.

    Blocking rules are equi-joins, so a record can meet a new record only when it agrees with one
    on every equality of a rule (either way round). Scoring the new pairs on these records alone
    finds the same pairs with the same scores as on every record (a pair's score depends on the
    pair and the model only), while the blocks joined hold the day's new records, not the
    whole population. A rule that is not a conjunction of equalities keeps every record, and so
    does a model without the term frequencies of its names saved (Splink would count them on the
    records scored, so a pair's weight would depend on which records they are).
    """
    adjusted = {level["tf_adjustment_column"] for comparison in model.get("comparisons", [])
                for level in comparison.get("comparison_levels", []) if level.get("tf_adjustment_column")}
    if not adjusted <= set(model.get(TERM_FREQUENCIES, {})):
        return records
    sides = []  # per rule and orientation: (the record's side, the new record's side) as expressions
    for rule in model["blocking_rules_to_generate_predictions"]:
        equalities = _equalities(rule["blocking_rule"] if isinstance(rule, dict) else rule)
        if equalities is None:
            return records
        # The new record on the right, then on the left (once for a symmetric rule).
        for pairs in {tuple(equalities), tuple((right, left) for left, right in equalities)}:
            sides.append(([left for left, _ in pairs], [right for _, right in pairs]))

    def keys(side: int) -> Column:
        """Per rule and orientation, a hash of one side's values (null when one is null): one pass over the records.
        Two records whose values agree have the same hash; a collision only keeps a record more."""
        hashed = []
        for rule, exprs in enumerate(pair[side] for pair in sides):
            values = [F.expr(e) for e in exprs]
            present = functools.reduce(lambda a, b: a & b, [v.isNotNull() for v in values])
            hashed.append(F.struct(F.lit(rule).alias("_rule"), F.when(present, F.xxhash64(*values)).alias("_hash")))
        return F.explode(F.array(*hashed)).alias("_key")

    def keyed(rows: DataFrame, side: int) -> DataFrame:
        return rows.select("record_id", keys(side)).select("record_id", "_key._rule", "_key._hash").where(
            F.col("_hash").isNotNull())

    new = records.where("is_new")
    theirs = keyed(new, 1).select("_rule", "_hash").distinct()
    met = keyed(records, 0).join(theirs, ["_rule", "_hash"], "left_semi").select("record_id")
    ids = met.unionByName(new.select("record_id")).distinct()
    return records.join(ids, "record_id", "left_semi")


def only_new_pairs(model: dict) -> dict:
    """The model with every blocking rule restricted to pairs that involve a new record."""
    rules = []
    for rule in model["blocking_rules_to_generate_predictions"]:
        sql = rule["blocking_rule"] if isinstance(rule, dict) else rule
        rules.append({**(rule if isinstance(rule, dict) else {}), "blocking_rule": f"({sql}) and (l.is_new or r.is_new)"})
    return {**model, "blocking_rules_to_generate_predictions": rules}


def predict(spark: SparkSession, records: DataFrame, model: dict, threshold: float) -> DataFrame:
    """Scored pairs at or above `threshold`: record_id_l, record_id_r, match_probability, match_weight."""
    linker = _linker(spark, records, model)
    scored = linker.inference.predict(threshold_match_probability=threshold).as_spark_dataframe()
    return scored.select(
        F.col("record_id_l"), F.col("record_id_r"),
        F.col("match_probability").cast("double"), F.col("match_weight").cast("double"),
    )
