"""Right to erasure: requests resolve to persons, who are gone from every file; the others stay.

The end-to-end test erases three persons of a copy of the shared lake (and of its landing
files) with `c360 erase --request-file`, then searches every file under the lake root and the
landing folder for them. The unit tests check the transforms on tiny frames.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from jobs import pipeline
from jobs.cli import main
from jobs.common import match_model_file as model_file
from jobs.common.lake import Lake
from jobs.common.landing_contract import source
from jobs.common.normalize import e164_text
from jobs.common.stage import Days
from jobs.privacy.erase import erased_values, given_identifiers, resolve, scrub_pattern
from jobs.privacy.main import ERASURE_LOG, ErasureRequestError, parse_requests
from jobs.privacy.proof import Person, hits
from tests.conftest import reset_catalog
from tests.support.runtime import runtime_for

PROFILE_SOURCES = ("crm_customers", "web_accounts", "loyalty_members")


# -- units -------------------------------------------------------------------------------------

def test_a_request_file_with_a_line_lacking_every_identifier_names_the_file_and_line():
    text = "request_id,received_at,email\nR1,2026-10-02T09:00:00Z,a@b.com\nR2,2026-10-02T09:00:00Z,\n"
    with pytest.raises(ErasureRequestError, match=r"req\.csv line 3: no identifier; give at least one of email"):
        parse_requests(text, "req.csv")
    with pytest.raises(ErasureRequestError, match=r"req\.csv: the header lacks received_at"):
        parse_requests("request_id,email\nR1,a@b.com\n", "req.csv")
    [one] = parse_requests(text.rsplit("R2", 1)[0], "req.csv")
    assert (one.request_id, one.received_at, one.identifiers) == ("R1", dt.datetime(2026, 10, 2, 9), {"email": "a@b.com"})


def test_an_email_two_customers_share_names_neither_and_stays_theirs(spark):
    records = spark.createDataFrame([
        ("crm_customers:C1", "K1", "crm_id", "c1"), ("crm_customers:C1", "K1", "email", "home@example.com"),
        ("crm_customers:C2", "K2", "crm_id", "c2"), ("crm_customers:C2", "K2", "email", "home@example.com"),
        ("crm_customers:C2", "K2", "phone", "+447911123456"),
    ], "record_id STRING, customer_key STRING, kind STRING, value STRING")
    identity_map = records.select("record_id", "customer_key").distinct()
    requests = spark.createDataFrame([("R1", "Home@Example.com ", None, None, None, None),
                                      ("R2", "home@example.com", "07911 123456", None, None, None)],
                                     "request_id STRING, email STRING, phone STRING, loyalty_id STRING, "
                                     "account_id STRING, crm_id STRING")
    given = given_identifiers(requests)
    keys = resolve(given, records)
    assert {(r.request_id, r.customer_key) for r in keys.collect()} == {("R2", "K2")}  # by the phone, not the email
    values = {(r.kind, r.value) for r in erased_values(records, keys, given, identity_map).collect()}
    assert {("customer_key", "k2"), ("crm_id", "c2"), ("phone", "+447911123456"),
            ("record_id", "crm_customers:c2")} <= values
    assert ("email", "home@example.com") not in values  # K1 keeps it


def test_the_match_model_forgets_the_names_nobody_holds_and_keeps_the_others_shares():
    model = {"comparisons": [], model_file.TERM_FREQUENCIES: {"first_name": {"ann": 0.5, "zebedee": 0.25, "bo": 0.25},
                                                               "last_name": {"okafor": 1.0}}}
    forgotten, gone = model_file.forget_names(model, {"first_name": {"ann", "bo"}, "last_name": {"okafor"}})
    assert gone == 1 and forgotten["comparisons"] == []
    assert forgotten[model_file.TERM_FREQUENCIES] == {"first_name": {"ann": 0.5, "bo": 0.25}, "last_name": {"okafor": 1.0}}
    assert model_file.forget_names({"comparisons": []}, {}) == ({"comparisons": []}, 0)


def test_the_scrub_pattern_matches_whole_tokens_only():
    pattern = scrub_pattern(["c0001", "ann.lee@example.com"])
    import re

    regex = re.compile(pattern)
    assert regex.search('"C0001",Ann') and regex.search("mail ANN.LEE@example.com;")
    assert not regex.search("C00012") and not regex.search("xann.lee@example.com")
    assert scrub_pattern([]) is None


def test_the_scrub_pattern_finds_what_a_plain_alternation_finds_with_words_that_prefix_each_other():
    import random
    import re

    rng = random.Random(5)
    words = {"".join(rng.choice("ab1.@") for _ in range(rng.randint(1, 6))) for _ in range(300)} | {"zoë", "ab", "abab"}
    plain = re.compile("(?i)(?<![0-9a-z])(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
                       + ")(?![0-9a-z])")
    trie = re.compile(scrub_pattern(words))
    texts = ["".join(rng.choice("ab1.@ ,x") for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    texts += ["ZOË,x", "abab", "ababa", "x,AB;"]
    found = [bool(trie.search(t)) for t in texts]
    assert found == [bool(plain.search(t)) for t in texts]
    assert sum(found) > 100 and trie.search("ZOË,x") and not trie.search("ababa")


def test_the_proof_finds_whole_identifiers_and_groups_in_one_line_only(tmp_path):
    (tmp_path / "a.csv").write_text("id,email,name\n1,SamuelLees@gmail.com,Sam Lees\n2,x,Lisa;Lees;SE16 7SJ\n"
                                    "3,llees@gmail.com,\n")
    (tmp_path / "b.jsonl").write_text('{"e":"samuellees@gmail.com","n":"lisa","p":"se16 7sj"}\n')
    lisa = Person("lisa", ("llees@gmail.com",), (("lisa", "lees", "se16 7sj"),))
    found = hits([tmp_path], [lisa])
    assert found == sorted([("lisa", "llees@gmail.com", str(tmp_path / "a.csv")),
                            ("lisa", "lisa + lees + se16 7sj", str(tmp_path / "a.csv"))])
    assert hits([tmp_path], [Person("nobody", ("lees@gmail.com", "16 7s"))]) == []


# -- the shared lake ---------------------------------------------------------------------------

def _copy(e2e, tmp_path: Path) -> tuple[Path, Path]:
    root = Path(e2e.rt.lake.root)
    lake_copy, landing_copy = tmp_path / "lake", tmp_path / "landing"
    shutil.copytree(root, lake_copy)
    shutil.copytree(e2e.sample / "landing", landing_copy)
    return lake_copy, landing_copy


def _persons(truth: Path, keys_of) -> dict[str, dict]:
    """Three persons to erase: one sharing the household email, one known by several records, one by an id only."""
    people = pd.read_parquet(truth / "persons").set_index("person_id")
    records = pd.read_parquet(truth / "records")
    profile = records[records.source.isin(PROFILE_SOURCES)]
    by_person = profile.groupby("person_id")
    household = people.groupby("household_id").size()

    def apart(pid: str) -> bool:
        """Identity resolution keeps the person apart from every housemate (else they would go too)."""
        mine = keys_of(pid)
        others = people[(people.household_id == people.loc[pid, "household_id"]) & (people.index != pid)]
        return bool(mine) and all(not (mine & keys_of(o)) and keys_of(o) for o in others.index)

    chosen: dict[str, dict] = {}
    for pid, rows in by_person:
        person = people.loc[pid]
        if person.erasure_date is not None or household[person.household_id] < 2 or not apart(pid):
            continue
        ids = dict(zip(rows.source, rows.record_id, strict=True))
        if "shared" not in chosen and person.shares_household_email and "crm_customers" in ids:
            chosen["shared"] = {"pid": pid, "crm_id": ids["crm_customers"], "email": person.email}
        elif "several" not in chosen and not person.shares_household_email and len(rows) >= 2:
            chosen["several"] = {"pid": pid, "email": person.email, "phone": person.phone}
        elif "id_only" not in chosen and "web_accounts" in ids and not person.shares_household_email:
            chosen["id_only"] = {"pid": pid, "account_id": ids["web_accounts"]}
        if len(chosen) == 3:
            return chosen
    raise AssertionError(f"the shared lake has no three persons to erase: {sorted(chosen)}")


def test_erasing_three_persons_leaves_no_trace_on_disk_and_their_housemates_untouched(
        e2e, test_profile, tmp_path, monkeypatch, capsys):
    lake_root, landing = _copy(e2e, tmp_path)
    reset_catalog(e2e.rt.spark)
    lake = Lake(e2e.rt.spark, dataclasses.replace(e2e.rt.config.lake, root=str(lake_root)))
    lake.register_all()
    truth = e2e.sample / "truth"
    records = pd.read_parquet(truth / "records")
    identity = {r.record_id: r.customer_key for r in lake.read("silver.identity_map").collect()}

    def record_ids(pid: str) -> list[str]:
        return [f"{s}:{r}" for s, r in records[records.person_id == pid][["source", "record_id"]].values]

    def keys_of(pid: str) -> set[str]:
        return {identity[r] for r in record_ids(pid) if r in identity}

    chosen = _persons(truth, keys_of)
    people = pd.read_parquet(truth / "persons").set_index("person_id")
    housemates = sorted({o for c in chosen.values() for o in people.index
                         if people.loc[o, "household_id"] == people.loc[c["pid"], "household_id"] and o != c["pid"]})
    kept_before = {o: (keys_of(o), sorted(r for r in record_ids(o) if r in identity)) for o in housemates}
    crm_version = lake.version("silver.crm_customers")

    requests = tmp_path / "requests.csv"
    lines = ["request_id,received_at,email,phone,loyalty_id,account_id,crm_id"]
    for label, c in chosen.items():
        lines.append(",".join([f"R-{label}", "2026-10-10T12:00:00Z", c.get("email", ""), c.get("phone", ""), "",
                               c.get("account_id", ""), c.get("crm_id", "")]))
    requests.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("C360_LAKE_ROOT", str(lake_root))
    code = main(["erase", "--profile", test_profile, "--date", e2e.last.isoformat(), "--landing", str(landing),
                 "--request-file", str(requests)])
    assert code == 0, capsys.readouterr().err
    logged = {r.request_id: r for r in lake.read(ERASURE_LOG).collect()}
    for label in chosen:
        assert logged[f"R-{label}"].status == "erased" and logged[f"R-{label}"].customer_keys >= 1, label
    assert logged["R-shared"].shared_identifiers == ["email"]  # the household email named nobody by itself
    assert lake.read(ERASURE_LOG).where(F.col("person_hmac").isNull()).count() == 0

    # The proof: every file under the lake root (tables, logs, reports, MLflow, checkpoints) and the landing area.
    persons = []
    for label, c in chosen.items():
        person = people.loc[c["pid"]]
        emails = {person.email.lower(), person.alt_email.lower()} - (
            {person.email.lower()} if label == "shared" else set())
        phone = e164_text(person.phone)
        ids = {r.split(":", 1)[1].lower() for r in record_ids(c["pid"]) if not r.startswith("email_events:")}
        persons.append(Person(label, tuple(sorted(emails | {person.phone.lower(), phone.lower()} | ids)),
                              ((person.first_name.lower(), person.last_name.lower(), person.postcode.lower()),)))
    assert hits([lake_root, landing], persons) == []

    # The identity model's name frequencies hold no name that no silver record holds.
    model = model_file.load(str(lake_root / "_models" / "identity"))  # identity.model_dir under the lake copy
    for column, table in model[model_file.TERM_FREQUENCIES].items():
        held = set()
        for t in (t for t in lake.table_names() if t.startswith("silver.")):
            if column in lake.read(t).columns:
                held |= {r.n for r in lake.read(t).select(F.lower(F.trim(column)).alias("n")).distinct().collect()}
        assert set(table) <= held, column

    # The housemates keep their keys and records.
    identity = {r.record_id: r.customer_key for r in lake.read("silver.identity_map").collect()}
    assert {o: (keys_of(o), sorted(r for r in record_ids(o) if r in identity)) for o in housemates} == kept_before
    # Time travel to before the erasure finds no files.
    with pytest.raises(Exception):  # noqa: B017 - Spark's error for files VACUUM removed
        lake.read("silver.crm_customers", version=crm_version).collect()

    # A file holding an erased person sent again, and the day ingested again: suppressed, not back.
    crm = source("crm_customers")
    resent = landing / crm.day_folder(e2e.last.isoformat()) / "crm_customers_resent.csv"
    originals = sorted((e2e.sample / "landing" / "crm_customers").rglob("*.csv"))
    resent.write_text(originals[0].read_text() + "".join(p.read_text().split("\n", 1)[1] for p in originals[1:]))
    rt = runtime_for(e2e.rt.config, lake, landing)
    [again] = pipeline.stage("ingest").run(rt, Days.of(e2e.last), sources=("crm_customers",)).sources
    assert again.rows_suppressed >= 1 and again.rows_loaded > 0
    [logged_file] = lake.read("ops.ingest_log").where(
        F.col("path").endswith("crm_customers_resent.csv") & (F.col("outcome") != "loading")).collect()
    assert logged_file.rows_in_file == logged_file.rows_loaded + logged_file.rows_quarantined + again.rows_suppressed
    assert f"{again.rows_suppressed} row(s) of persons erased at their request dropped" in logged_file.message
    assert lake.read("bronze.crm_customers").where(F.lower("crm_id") == chosen["shared"]["crm_id"].lower()).count() == 0
    # A rerun of the erasure finds the requests done.
    again = main(["erase", "--profile", test_profile, "--date", e2e.last.isoformat(), "--landing", str(landing),
                  "--request-file", str(requests)])
    assert again == 0 and lake.read(ERASURE_LOG).count() == len(logged)
    reset_catalog(e2e.rt.spark)  # the next test registers the shared lake again


def test_a_raw_layer_keeps_no_statistics_of_identifying_columns_in_its_log(lake, spark):
    """Delta's min/max of an email would outlive an erasure in the table's log: raw layers keep none."""
    rows = spark.createDataFrame([("Ann.Lee@example.com", "C0001", 12.5), ("bob@example.com", "C0002", 3.0)],
                                 "email STRING, crm_id STRING, amount DOUBLE")
    lake.append(rows, "silver.people")
    lake.append(rows, "gold.people_facts")
    log = "".join(p.read_text() for p in sorted(Path(lake.path("silver.people"), "_delta_log").glob("*.json")))
    assert "example.com" not in log and "C0001" not in log
    assert '\\"amount\\":3.0' in log  # statistics of the other columns stay, for data skipping
    gold = "".join(p.read_text() for p in sorted(Path(lake.path("gold.people_facts"), "_delta_log").glob("*.json")))
    assert "C0001" in gold  # gold holds no raw personal data (checked after every build) and keeps them all
