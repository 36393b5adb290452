"""Identity resolution parts on tiny DataFrames: rules, keys, clusters, golden record, metrics."""
from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from jobs.common.frames import same_rows
from jobs.identity import model as match_model
from jobs.identity.clusters import cluster
from jobs.identity.evaluate import accuracy
from jobs.identity.golden import carried_forward, changed_keys, golden_records
from jobs.identity.keys import assign_keys
from jobs.identity.main import CUSTOMERS, _previous_golden, golden_stamp
from jobs.identity.model import training_sample
from jobs.identity.records import nickname_groups, with_name_groups
from jobs.identity.rules import deterministic_links

DAY = dt.date(2026, 10, 5)
RECORD_DDL = "record_id STRING, first_name STRING, last_name STRING, email_match_key STRING, phone STRING"


def _rule_links(spark, rows):
    records = with_name_groups(spark.createDataFrame(rows, RECORD_DDL), nickname_groups(spark))
    return {(r.record_id_l, r.record_id_r, r.rule) for r in deterministic_links(records).collect()}


def test_a_shared_household_email_links_only_records_whose_first_names_agree(spark):
    assert _rule_links(spark, [
        ("crm:1", "sarah", "burgess", "burgess@x.com", None),
        ("web:1", "sarah", "burgess", "burgess@x.com", None),
        ("loy:1", "dawn", "burgess", "burgess@x.com", None),  # same household address, another person
        ("crm:2", "chris", "ward", None, "+447700900001"),
        ("web:2", "christopher", "ward", None, "+447700900001"),  # a short form of the same first name
        ("crm:3", "maggie", "okafor", None, "+447700900003"),
        ("web:3", "margaret", "okafor", None, "+447700900003"),  # a nickname
    ]) == {
        ("crm:1", "web:1", "email+name"),
        ("crm:2", "web:2", "phone+name"),
        ("crm:3", "web:3", "phone+name"),
    }


def test_a_pair_found_by_both_rules_is_linked_once(spark):
    assert _rule_links(spark, [
        ("a", "jo", "fry", "jo@x.com", "+447700900002"),
        ("b", "jo", "fry", "jo@x.com", "+447700900002"),
    ]) == {("a", "b", "email+name")}


def _previous(spark, rows):
    return spark.createDataFrame(rows, "record_id STRING, customer_key STRING, key_created_ds DATE")


def _clusters(spark, rows):
    return spark.createDataFrame(rows, "record_id STRING, cluster_id STRING")


def test_when_clusters_merge_the_older_key_wins_and_the_other_points_forward(spark):
    previous = _previous(spark, [
        ("a", "CK_OLD", dt.date(2026, 10, 1)), ("b", "CK_NEW", dt.date(2026, 10, 3)),
    ])
    keys, history = assign_keys(_clusters(spark, [("a", "a"), ("b", "a")]), previous, DAY)
    assert [(r.cluster_id, r.customer_key) for r in keys.collect()] == [("a", "CK_OLD")]
    assert [(r.customer_key, r.event, r.current_key, r.records) for r in history.collect()] == [
        ("CK_NEW", "merged", "CK_OLD", 1)
    ]


def test_a_split_keeps_the_key_where_most_records_stay_and_logs_the_rest(spark):
    previous = _previous(spark, [(r, "CK1", dt.date(2026, 10, 1)) for r in ("a", "b", "c")])
    keys, history = assign_keys(_clusters(spark, [("a", "a"), ("b", "a"), ("c", "c")]), previous, DAY)
    by_cluster = {r.cluster_id: r.customer_key for r in keys.collect()}
    assert by_cluster["a"] == "CK1"
    assert by_cluster["c"] != "CK1" and by_cluster["c"].startswith("CK")
    assert [(r.customer_key, r.event, r.current_key, r.records) for r in history.collect()] == [
        ("CK1", "split", by_cluster["c"], 1)
    ]


def test_new_keys_depend_only_on_the_cluster_and_the_day(spark):
    clusters = _clusters(spark, [("x", "x"), ("y", "x")])
    first, _ = assign_keys(clusters, None, DAY)
    again, _ = assign_keys(clusters, None, DAY)
    other_day, _ = assign_keys(clusters, None, DAY + dt.timedelta(days=1))
    assert first.collect() == again.collect()
    assert first.first().customer_key != other_day.first().customer_key
    assert first.first().key_created_ds == DAY


def test_an_oversized_cluster_is_relinked_with_strict_links_and_reported(spark):
    nodes = spark.createDataFrame([(f"r{i}",) for i in range(6)], "record_id STRING")
    # A chain r0-r1-...-r5 of weak links, with one strong link r0-r1.
    links = spark.createDataFrame(
        [("r0", "r1", 1.0)] + [(f"r{i}", f"r{i + 1}", 0.995) for i in range(1, 5)],
        "record_id_l STRING, record_id_r STRING, match_probability DOUBLE",
    )
    result = cluster(spark, nodes, links, max_size=4, strict_threshold=0.9999)
    members = {r.record_id: r.cluster_id for r in result.members.collect()}
    assert members["r0"] == members["r1"]
    assert len(set(members.values())) == 5  # r0+r1, then r2..r5 alone
    (report,) = result.oversized.collect()
    assert report.records == 6 and report.resolution == "re-linked with strict links only"


def test_small_clusters_pass_the_guard_untouched(spark):
    nodes = spark.createDataFrame([("a",), ("b",), ("c",)], "record_id STRING")
    links = spark.createDataFrame([("a", "b", 0.995)], "record_id_l STRING, record_id_r STRING, match_probability DOUBLE")
    result = cluster(spark, nodes, links, max_size=4, strict_threshold=0.9999)
    members = {r.record_id: r.cluster_id for r in result.members.collect()}
    assert members["a"] == members["b"] != members["c"]
    assert result.oversized.count() == 0


def test_pairwise_and_bcubed_scores_match_a_hand_computed_example(spark):
    # Truth: {1,2,3} and {4}; predicted: {1,2} and {3,4}.
    truth = spark.createDataFrame([("1", "P"), ("2", "P"), ("3", "P"), ("4", "Q")], "record_id STRING, person_id STRING")
    predicted = spark.createDataFrame([("1", "A"), ("2", "A"), ("3", "B"), ("4", "B")], "record_id STRING, customer_key STRING")
    scores = accuracy(predicted, truth)
    # Pairs: true {12,13,23}, predicted {12,34}: one in common.
    assert scores["pairwise_precision"] == pytest.approx(0.5)
    assert scores["pairwise_recall"] == pytest.approx(1 / 3, abs=1e-5)
    # B-cubed precision: (1 + 1 + 1/2 + 1/2) / 4; recall: (2/3 + 2/3 + 1/3 + 1) / 4.
    assert scores["bcubed_precision"] == pytest.approx(0.75)
    assert scores["bcubed_recall"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1) / 4, abs=1e-5)
    assert scores["persons_split"] == 1 and scores["keys_with_several_persons"] == 1


def test_golden_record_takes_the_most_frequent_name_the_latest_email_and_the_earliest_signup(spark):
    ts = lambda d: dt.datetime(2026, 10, d)  # noqa: E731
    profiles = spark.createDataFrame([
        ("crm_customers:1", "Sarah", "Fry", None, "old@x.com", "+441", ts(1), ts(1)),
        ("web_accounts:1", "Sarah", "Fry", dt.date(1972, 7, 25), "new@x.com", None, ts(3), ts(4)),
        ("loyalty_members:1", "Sara", "Fry", None, None, None, ts(2), ts(5)),
    ], "record_id STRING, display_first_name STRING, display_last_name STRING, display_date_of_birth DATE, "
       "display_email STRING, display_phone STRING, created_at TIMESTAMP, updated_at TIMESTAMP")
    for c in ("street", "city", "postcode"):
        profiles = profiles.withColumn(f"display_{c}", F.lit(None).cast("string"))
    identity_map = spark.createDataFrame([
        ("crm_customers:1", "crm_customers", "CK1", "old@x.com", DAY),
        ("web_accounts:1", "web_accounts", "CK1", "new@x.com", DAY),
        ("loyalty_members:1", "loyalty_members", "CK1", None, DAY),
        ("orders:9", "orders", "CK1", "new@x.com", DAY),
    ], "record_id STRING, source STRING, customer_key STRING, email STRING, key_created_ds DATE")
    (g,) = golden_records(identity_map, profiles).collect()
    assert (g.first_name, g.first_name_source) == ("Sarah", "web_accounts:1")  # 2 of 3, newest of the two
    assert (g.email, g.email_source) == ("new@x.com", "web_accounts:1")
    assert (g.phone, g.phone_source) == ("+441", "crm_customers:1")  # the only one
    assert g.date_of_birth == dt.date(1972, 7, 25)
    assert (g.signup_at, g.signup_at_source) == (ts(1), "crm_customers:1")
    assert g.sources == ["crm_customers", "loyalty_members", "orders", "web_accounts"]
    assert (g.profile_records, g.records) == (3, 4)


def _golden_inputs(spark, profile_rows, map_rows):
    profiles = spark.createDataFrame(profile_rows, "record_id STRING, display_first_name STRING, display_phone STRING, "
                                                   "created_at TIMESTAMP, updated_at TIMESTAMP, _ds DATE")
    for c in ("last_name", "date_of_birth", "email", "street", "city", "postcode"):
        profiles = profiles.withColumn(f"display_{c}", F.lit(None).cast("date" if c == "date_of_birth" else "string"))
    identity_map = spark.createDataFrame(map_rows, "record_id STRING, source STRING, customer_key STRING, "
                                                   "email STRING, key_created_ds DATE")
    return profiles, identity_map


def test_golden_records_of_the_changed_keys_and_the_others_carried_equal_computing_every_key(spark):
    ts = lambda d: dt.datetime(2026, 10, d)  # noqa: E731
    before, after = DAY, DAY + dt.timedelta(days=1)
    kept = [("crm_customers:1", "Ann", "+441", ts(1), ts(1), before)]  # CK1: nothing changes
    profiles_then, map_then = _golden_inputs(spark, [
        *kept,
        ("crm_customers:2", "Bob", "+442", ts(1), ts(1), before),  # CK2: a newer version lands
        ("crm_customers:3", "Cy", None, ts(1), ts(1), before),  # CK3: merged into CK4
        ("crm_customers:4", "Cyrus", "+444", ts(2), ts(2), before),
        ("crm_customers:5", "Di", None, ts(1), ts(1), before),  # CK5: erased from the sources
        ("crm_customers:8", "Eve", None, ts(1), ts(1), before),  # CK8: a new order
    ], [
        ("crm_customers:1", "crm_customers", "CK1", "ann@x.com", before),
        ("orders:1", "orders", "CK1", "ann@x.com", before),
        ("crm_customers:2", "crm_customers", "CK2", None, before),
        ("crm_customers:3", "crm_customers", "CK3", None, before),
        ("crm_customers:4", "crm_customers", "CK4", None, before),
        ("crm_customers:5", "crm_customers", "CK5", None, before),
        ("orders:6", "orders", "CK6", "guest@x.com", before),  # CK6: a guest whose order's email is corrected
        ("crm_customers:8", "crm_customers", "CK8", None, before),
    ])
    profiles_now, map_now = _golden_inputs(spark, [
        *kept,
        ("crm_customers:2", "Robert", "+442", ts(1), ts(3), after),
        ("crm_customers:3", "Cy", None, ts(1), ts(1), before),
        ("crm_customers:4", "Cyrus", "+444", ts(2), ts(2), before),
        ("crm_customers:8", "Eve", None, ts(1), ts(1), before),
    ], [
        ("crm_customers:1", "crm_customers", "CK1", "ann@x.com", before),
        ("orders:1", "orders", "CK1", "ann@x.com", before),
        ("crm_customers:2", "crm_customers", "CK2", None, before),
        ("crm_customers:8", "crm_customers", "CK8", None, before),
        ("orders:8", "orders", "CK8", "eve@x.com", after),
        ("crm_customers:3", "crm_customers", "CK4", None, before),
        ("crm_customers:4", "crm_customers", "CK4", None, before),
        ("orders:6", "orders", "CK6", "guest@y.com", before),
        ("web_accounts:7", "web_accounts", "CK7", "new@x.com", after),  # a new customer
    ])
    previous = golden_records(map_then, profiles_then)
    keys = changed_keys(map_now, map_then, profiles_now.where(F.col("_ds") > F.lit(before)))
    assert {r.customer_key for r in keys.collect()} == {"CK2", "CK3", "CK4", "CK5", "CK6", "CK7", "CK8"}
    computed = golden_records(map_now.join(keys, "customer_key", "left_semi"), profiles_now)
    assert same_rows(carried_forward(previous, keys).unionByName(computed), golden_records(map_now, profiles_now))


def test_golden_records_are_carried_only_from_the_table_the_last_run_wrote(lake, spark):
    key, rows = b"k" * 32, spark.createDataFrame([("CK1", "Ann")], "customer_key STRING, first_name STRING")
    base = {"ds": DAY, "map_version": 3}  # the run the day starts from: it wrote version 3 of the identity map
    lake.overwrite(rows, CUSTOMERS, metadata=f"{golden_stamp(DAY, 3, key)} 1 of 1 keys computed")
    assert same_rows(_previous_golden(lake, base, key), rows)
    for metadata in (
        f"{golden_stamp(DAY, 4, key)} 1 of 1 keys computed",  # a rerun of that day failed after writing the table
        f"{golden_stamp(DAY - dt.timedelta(days=1), 3, key)} 1 of 1 keys computed",  # an earlier run's table
        f"{golden_stamp(DAY, 3, b'another key of 32 characters....')} 1 of 1 keys computed",  # the key rotated
        None,  # rewritten since (an erasure)
    ):
        lake.overwrite(rows, CUSTOMERS, metadata=metadata)
        assert _previous_golden(lake, base, key) is None, metadata


def test_the_training_sample_is_uniform_repeatable_and_skipped_for_small_inputs(spark):
    records = spark.range(20_000).select(F.concat(F.lit("crm_customers:C"), F.col("id").cast("string")).alias("record_id"))
    assert training_sample(records, 20_000, 20_000) is records
    first = {r.record_id for r in training_sample(records, 20_000, 5_000).collect()}
    again = {r.record_id for r in training_sample(records, 20_000, 5_000).collect()}
    assert first == again
    assert 4_500 < len(first) < 5_500


PROFILE_DDL = ("record_id STRING, first_name STRING, last_name STRING, date_of_birth DATE, email_match_key STRING, "
               "email_user STRING, phone STRING, tax_id STRING, street STRING, city STRING, postcode STRING, "
               "is_new BOOLEAN")


def _levels(spark, comparison: str, pairs: list[tuple[tuple, tuple]]) -> list[str]:
    """The level of `comparison` the match model puts each pair of PROFILE_DDL rows (without record_id) in."""
    from splink import Linker

    rows = [(f"crm_customers:{n}{side}", *row, True)
            for n, pair in enumerate(pairs) for side, row in zip("ab", pair, strict=True)]
    records = with_name_groups(spark.createDataFrame(rows, PROFILE_DDL), nickname_groups(spark))
    model = match_model.settings().create_settings_dict("spark")
    model["retain_intermediate_calculation_columns"] = True
    linker = Linker(match_model.db_api(spark).register(records), model)
    gamma = {(r.record_id_l, r.record_id_r): r[f"gamma_{comparison}"]
             for r in linker.inference.predict().as_spark_dataframe().collect()}
    found = next(c for c in model["comparisons"] if c["output_column_name"] == comparison)
    levels = [lvl for lvl in found["comparison_levels"] if not lvl.get("is_null_level")]
    return [levels[len(levels) - 1 - gamma[(f"crm_customers:{n}a", f"crm_customers:{n}b")]]["label_for_charts"]
            for n in range(len(pairs))]


def _address_levels(spark, same: tuple, others: list[tuple]) -> list[str]:
    """The address comparison level the match model puts `same` and each of `others` (street, city, postcode) in."""
    def row(address):
        return ("ann", "lee", dt.date(1980, 1, 2), None, None, None, None, *address)

    return _levels(spark, "address", [(row(same), row(other)) for other in others])


def test_an_address_typed_twice_with_a_slip_in_postcode_or_city_is_still_the_same_street(spark):
    same = ("51 hurley street", "kempsey", "5162")
    assert _address_levels(spark, same, [
        same,
        ("51 hurley street", "kempsdy", "5612"),
        ("51 hurely street", "kempsey", "5126"),
        ("51 hurley street", "perth", "6000"),
        ("51 hurley stret", "kempsey", "5162"),
        ("53 hurley street", "kempsey", "5162"),
        (None, "kempsey", "5162"),
        ("9 bay road", "kempsey", "2440"),
        ("9 bay road", "kempsdy", "5612"),
        ("7 ocean road", "perth", "6000"),
        ("51 hurly street", "perth", "6000"),
    ]) == [
        "same street and postcode",
        "same street, postcode or city one slip apart",
        "similar street, postcode or city the same or one slip apart",
        "same street, another place",
        "same postcode and house number, street one or two slips apart",
        "same postcode, another street",  # a neighbour as often as a slip
        "same postcode, a street missing",
        "same city",
        "postcode or city one slip apart",
        "All other comparisons",
        "same house number, street one or two slips apart, another place",
    ]
    # A street without a house number, typed twice with a slip, is still the same street.
    assert _address_levels(spark, ("studley street", "riverwood", "4869"), [
        ("studley steet", "riverwood", "4869"), ("stanley road", "riverwood", "4869"),
    ]) == ["same postcode and house number, street one or two slips apart", "same postcode, another street"]


def test_a_user_name_that_only_spells_the_name_weighs_nothing_at_another_provider(spark):
    def pair(user):
        return tuple(("ann", "smith", None, f"{user}@{provider}", user, None, None, None, None, None)
                     for provider in ("gmail.com", "yahoo.co.uk"))

    assert _levels(spark, "email_match_key", [
        pair("annsmith"), pair("ann.smith"), pair("asmith"), pair("smithann1984"), pair("sunnydays"),
    ]) == ["same user name at another provider, spelling the name"] * 4 + ["same user name at another provider"]
    model = match_model.settings().create_settings_dict("spark")
    email = next(c for c in model["comparisons"] if c["output_column_name"] == "email_match_key")
    level = next(lvl for lvl in email["comparison_levels"] if lvl["label_for_charts"].endswith("spelling the name"))
    assert level["m_probability"] == level["u_probability"]


def test_a_common_name_weighs_less_than_a_rare_one_by_the_frequencies_saved_at_training(spark):
    def row(last):
        return ("ann", last, dt.date(1980, 1, 2), None, None, None, None, None, None, None)

    lasts = ["smith"] * 6 + ["featherstonehaugh", "lee", "lee", None]
    population = spark.createDataFrame([(f"r{n}", "ann", last) for n, last in enumerate(lasts)],
                                       "record_id STRING, first_name STRING, last_name STRING")
    frequencies = match_model.term_frequencies(population)
    assert frequencies["last_name"] == pytest.approx({"smith": 6 / 9, "featherstonehaugh": 1 / 9, "lee": 2 / 9})
    assert frequencies["first_name"] == {"ann": 1.0}

    rows = [(f"crm_customers:{n}{side}", *row(last), True) for n, last in enumerate(["smith", "featherstonehaugh",
                                                                                     "zimmermann"]) for side in "ab"]
    records = with_name_groups(spark.createDataFrame(rows, PROFILE_DDL), nickname_groups(spark))
    frequencies = {"first_name": {"ann": 0.01}, "last_name": {"smith": 0.05, "featherstonehaugh": 0.00001}}
    model = {**match_model.settings().create_settings_dict("spark"), match_model.TERM_FREQUENCIES: frequencies}

    def weights(model):
        return {r.record_id_l[-2]: r.match_weight for r in match_model.predict(spark, records, model, 0.0).collect()
                if r.record_id_l[:-1] == r.record_id_r[:-1]}

    weight = weights(model)
    # common < a name the frequencies do not hold (the average weight) < rare
    assert weight["0"] < weight["2"] < weight["1"]
    # a pair weighs the same scored alone: the frequencies are the model's, not the scored records'
    alone = records.where(F.col("record_id").startswith("crm_customers:1"))
    assert [r.match_weight for r in match_model.predict(spark, alone, model, 0.0).collect()] == [
        pytest.approx(weight["1"])]


def test_no_level_of_agreement_weighs_less_than_no_agreement():
    def level(label, m, u, **extra):
        return {"label_for_charts": label, "m_probability": m, "u_probability": u, **extra}

    model = {"comparisons": [{"output_column_name": "first_name", "comparison_levels": [
        level("null", None, None, is_null_level=True),
        level("exact", 0.6, 0.003),
        level("nickname", 0.0, 0.001),  # EM never saw a match here: weight minus infinity
        level("close", 0.01, 0.02),
        level("else", 0.2, 0.9),
    ]}]}
    levels = match_model.agreement_floor(model)["comparisons"][0]["comparison_levels"]
    ratio = {lvl["label_for_charts"]: lvl["m_probability"] / lvl["u_probability"] for lvl in levels[1:]}
    assert ratio["nickname"] == pytest.approx(0.2 / 0.9)
    assert ratio["exact"] == pytest.approx(200) and ratio["close"] == pytest.approx(0.5)
    assert levels[0]["m_probability"] is None


def test_a_shared_email_weighs_nothing_unless_both_first_names_are_given_and_agree(spark):
    def pair(first_a, last_a, first_b, last_b):
        return ((first_a, last_a, None, "ann.lee@x.com", "ann.lee", None, None, None, None, None),
                (first_b, last_b, None, "ann.lee@x.com", "ann.lee", None, None, None, None, None))

    assert _levels(spark, "email_match_key", [
        pair("ann", "lee", "ann", "lee"),
        pair("ann", "lee", "lee", "ann"),  # entered the wrong way round
        pair("ann", "lee", None, "lee"),  # no first name to tell a housemate from her
        pair("lee", "mark", "ann", "lee"),  # a first name that is the other's last name, no more
        pair("ann", "lee", "tom", "lee"),
    ]) == ["same email, first names agree"] * 2 + ["same email, other first names or none"] * 3


def test_households_are_estimated_from_the_pairs_that_share_a_surname_and_an_address():
    # 10 pairs of different persons would share both by chance; 1,000 do (households), which
    # the model scores as likely matches (+3: p 0.89); 500 true matches score +20.
    weights = [3.0] * 1000 + [20.0] * 500
    ratio = match_model.dependence_ratio(weights, pairs=1e8, independent=1e-7)
    assert 85 < ratio < 100
    # scored again with the ratio, a household pair is now unlikely to be one person
    assert 1 / (1 + ratio / 2 ** 3) < 0.1
    # without households every pair that agrees is a match: independence holds
    assert match_model.dependence_ratio([20.0] * 500, pairs=1e8, independent=1e-7) == 1.0
    assert match_model.dependence_ratio([], pairs=1e8, independent=1e-7) == 1.0

    model = {"comparisons": [{"output_column_name": match_model.HOUSEHOLD, "comparison_levels": [
        {"label_for_charts": "one surname at one address", "m_probability": 1.0, "u_probability": 1.0},
        {"label_for_charts": "All other comparisons", "m_probability": 1.0, "u_probability": 1.0},
    ]}]}
    levels = match_model.with_household_dependence(model, 50.0)["comparisons"][0]["comparison_levels"]
    assert levels[0]["m_probability"] / levels[0]["u_probability"] == pytest.approx(1 / 50)
    assert levels[1]["m_probability"] == levels[1]["u_probability"]


def test_new_pairs_scored_among_the_records_pairable_with_a_new_one_equal_those_scored_among_all(spark):
    def row(rid, first, last, dob=None, email=None, phone=None, tax=None, street=None, city=None, postcode=None,
            new=False):
        user = email.split("@")[0] if email else None
        return (rid, first, last, dob, email, user, phone, tax, street, city, postcode, new)

    born = dt.date(1980, 1, 2)
    rows = [
        row("crm_customers:n1", "ann", "smith", email="ann.smith@x.com", new=True),
        row("web_accounts:o1", "anne", "smyth", email="ann.smith@x.com"),  # the same email
        row("crm_customers:n2", "lee", "jones", new=True),
        row("loyalty_members:o2", "jones", "lee"),  # names the wrong way round
        row("crm_customers:n3", "mary", "brown", dob=born, new=True),
        row("web_accounts:o3", "maria", "browne", dob=born),  # birthday and first initial
        row("crm_customers:n4", "tom", "hill", tax="AB123456", new=True),
        row("loyalty_members:n5", "thomas", "hill", tax="AB123456", new=True),  # two new records
        row("crm_customers:o4", "kate", "moss", phone="0700111"),
        row("web_accounts:o5", "katie", "moss", phone="0700111"),  # a pair of old records: not scored again
        row("crm_customers:o6", "bob", "stone", dob=dt.date(1970, 5, 6), city="york", postcode="YO1"),
    ]
    records = with_name_groups(spark.createDataFrame(rows, PROFILE_DDL), nickname_groups(spark))
    untrained = match_model.settings().create_settings_dict("spark")
    # Name frequencies as training saves them: a pair's weight then depends on the pair and the model only.
    model = {**untrained, match_model.TERM_FREQUENCIES: match_model.term_frequencies(records)}

    pairable = match_model.pairable_with_new(records, model)
    assert sorted(r.record_id for r in pairable.collect()) == sorted(
        r[0] for r in rows if r[0][-2:] not in ("o4", "o5", "o6"))

    def scored(among):
        return {(r.record_id_l, r.record_id_r): round(r.match_weight, 9)
                for r in match_model.predict(spark, among, match_model.only_new_pairs(model), 0.0).collect()}

    everyone = scored(records)
    assert {frozenset(pair) for pair in everyone} == {
        frozenset({f"{a}:{x}", f"{b}:{y}"}) for a, x, b, y in [
            ("crm_customers", "n1", "web_accounts", "o1"), ("crm_customers", "n2", "loyalty_members", "o2"),
            ("crm_customers", "n3", "web_accounts", "o3"), ("crm_customers", "n4", "loyalty_members", "n5")]}
    assert scored(pairable) == everyone
    # A rule that is not a conjunction of equalities keeps every record; so does a model without saved frequencies.
    loose = {**model, "blocking_rules_to_generate_predictions": ["l.phone = r.phone or l.city = r.city"]}
    assert match_model.pairable_with_new(records, loose).count() == len(rows)
    assert match_model.pairable_with_new(records, untrained).count() == len(rows)
