"""Ingest: exactly once per file, quarantine with reasons, an unreadable file fails alone."""
from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from jobs.common.bronze import INGEST_LOG_TABLE, QUARANTINE_TABLE, latest_file_versions
from jobs.common.landing import LandingError
from jobs.common.landing_contract import SOURCES, source
from jobs.common.rates import VariationRates
from jobs.common.stage import Days
from jobs.generate.main import generate
from jobs.ingest.inspect import UnreadableFileError, inspect_file
from jobs.ingest.main import IngestError
from jobs.ingest.main import run as ingest_run
from tests.support.runtime import runtime_for

DAY1 = dt.date(2026, 10, 1)
DAY2 = dt.date(2026, 10, 2)
# A CRM export as most CRMs write it: without the optional tax_id column.
CRM_HEADER = ",".join(c for c in source("crm_customers").column_names if c != "tax_id")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """Two days of generated landing files (with dirty rows and a duplicated file) and their truth."""
    out = tmp_path_factory.mktemp("sample")
    generate(out, customers=400, days=2, seed=11, start=DAY1, rates=VariationRates(dirty_rows=0.01), log=lambda *_: None)
    return out


def _landing_copy(sample: Path, tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    shutil.copytree(sample / "landing", landing)
    return landing


def _write(landing: Path, src: str, day: dt.date, text: str | bytes, suffix: str = "") -> Path:
    s = source(src)
    path = landing / s.day_folder(day.isoformat()) / s.file_name(day.isoformat(), suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def _lines(path: Path) -> int:
    lines = path.read_bytes().count(b"\n")
    return lines - 1 if path.suffix == ".csv" else lines


def test_every_row_of_every_file_is_loaded_or_quarantined(e2e):
    """Over the shared lake's ten days (history in one batch, the last day through Airflow)."""
    lake, landing = e2e.rt.lake, e2e.sample / "landing"
    log = lake.read(INGEST_LOG_TABLE).where("outcome = 'loaded'").toPandas()
    files = sorted(p for p in landing.rglob("*") if p.is_file())
    assert sorted(log["path"]) == [str(p) for p in files]
    for row in log.itertuples():
        assert row.rows_loaded + row.rows_quarantined == row.rows_in_file == _lines(Path(row.path)), row.path
    bronze_rows = sum(lake.read(f"bronze.{s.name}").count() for s in SOURCES)
    assert bronze_rows == log["rows_loaded"].sum()
    # the quarantine holds exactly the generator's unparseable rows (unknown SKUs are well-typed: for the gate)
    truth = pd.read_parquet(e2e.sample / "truth" / "dirty_rows")
    truth = truth[truth["kind"].isin(["bad_date", "negative_quantity", "truncated_line"])]
    expected = {(str(landing / f), int(n)) for f, n in zip(truth["file"], truth["line_no"], strict=True)}
    # Ingest's rows only: silver quarantines returns that break a rule needing their line (`rule ...`).
    ingested = lake.read(QUARANTINE_TABLE).where(~F.col("reason").startswith("rule "))
    quarantined = {(r["file"], r["line_no"]) for r in ingested.collect()}
    assert quarantined == expected and expected
    # the duplicated file is flagged in the log
    copies = log[log["path"].str.contains("_copy.")]
    assert len(copies) == 1 and copies["duplicate_of"].iloc[0] == copies["path"].iloc[0].replace("_copy", "")


def test_a_rerun_is_a_no_op_and_a_changed_file_is_loaded_again_as_a_new_version(lake, spark, config, sample, tmp_path):
    landing = _landing_copy(sample, tmp_path)
    sources = ["crm_customers", "web_events"]
    ingest_run(runtime_for(config, lake, str(landing)), Days.of(DAY1, DAY2), sources=sources)
    tables = ["bronze.crm_customers", "bronze.web_events", INGEST_LOG_TABLE]
    versions = {t: lake.version(t) for t in tables}
    counts = {t: lake.read(t).count() for t in tables}

    again = ingest_run(runtime_for(config, lake, str(landing)), Days.of(DAY1, DAY2), sources=sources)
    assert [(s.files_loaded, s.rows_loaded) for s in again.sources] == [(0, 0), (0, 0)]
    assert all(s.files_skipped == s.files_seen > 0 for s in again.sources)
    assert {t: lake.version(t) for t in tables} == versions
    assert {t: lake.read(t).count() for t in tables} == counts

    crm_day2 = landing / "crm_customers" / "ds=2026-10-02" / "crm_customers_20261002.csv"
    ts = "2026-10-02T09:00:00Z"
    crm_day2.write_text(f"{CRM_HEADER}\nC9000001,Ann,Lee,,,,,,,,GB,{ts},{ts}\nC9000002,Bo,Li,,,,,,,,GB,{ts},{ts}\n")
    changed = ingest_run(runtime_for(config, lake, str(landing)), Days.of(DAY2), sources=["crm_customers"])
    assert (changed.sources[0].files_changed, changed.sources[0].rows_loaded) == (1, 2)
    entry = lake.read(INGEST_LOG_TABLE).where(F.col("path") == str(crm_day2)).orderBy("file_version").collect()
    assert [(e["file_version"], e["outcome"]) for e in entry if e["outcome"] != "loading"] == [
        (1, "loaded"), (2, "reloaded_changed")
    ]
    assert "ingested again as version 2" in [e for e in entry if e["outcome"] == "reloaded_changed"][0]["message"]
    day2 = lake.read("bronze.crm_customers").where(F.col("_source_file") == str(crm_day2))
    assert latest_file_versions(day2).count() == 2
    assert day2.where("_file_version = 1").count() > 0  # bronze keeps the first version
    assert sorted(r["crm_id"] for r in latest_file_versions(day2).collect()) == ["C9000001", "C9000002"]


def test_bad_rows_go_to_quarantine_with_line_number_raw_text_and_reason(lake, spark, config, tmp_path):
    landing = tmp_path / "landing"
    ts = "2026-10-01T10:00:00Z"
    rows = [
        f"C1,Ann,Lee,ann@x.com,07700 900123,1990-01-02,F,1 High St,Leeds,LS1 1AA,GB,{ts},{ts}",
        f"C2,Bob,Ray,bob@x.com,,1990-13-40,M,,,,GB,{ts},{ts}",  # bad date
        f",Cy,Day,cy@x.com,,,,,,,GB,{ts},{ts}",  # required id empty
        "C4,Di,Fox,di@x.com",  # wrong column count (truncated)
        f'C5,"Eve, Jr",Gray,eve@x.com,,,,"2, The Mews",York,YO1 7HH,GB,{ts},{ts}',  # quoted commas: good
        f"C6,Fay,Hill,fay@x.com,,,,,,,GB,yesterday,{ts}",  # wrong type
    ]
    _write(landing, "crm_customers", DAY1, CRM_HEADER + "\n" + "\n".join(rows) + "\n")
    pos = ",".join(source("pos_transactions").column_names) + "\n"
    pos += f"T1,1,S1,{ts},,,SKU-000001,2,1.50,0.00\nT1,2,S1,{ts},,,SKU-000002,-3,1.50,0.00\n"
    pos += f"T1,3,S1,{ts},,,SKU-000003,x,1.50,0.00\n"
    pos += f"T1,4,S1,{ts},,,SKU-000004,2,1.50,3.01\nT1,5,S1,{ts},,,SKU-000005,2,1.50,3.00\n"  # a rule over columns
    _write(landing, "pos_transactions", DAY1, pos)
    email = '{"event_id":"E1","event_ts":"' + ts + '","event_type":"open","email":"a@b.com","campaign_id":"K1"}\n'
    email += '{"event_id":"E2","event_ts":"' + ts + '","event_ty\n\n'
    _write(landing, "email_events", DAY1, email)
    ingest_run(runtime_for(config, lake, str(landing)), Days.of(DAY1),
               sources=["crm_customers", "pos_transactions", "email_events"])
    assert sorted(r["crm_id"] for r in lake.read("bronze.crm_customers").collect()) == ["C1", "C5"]
    assert lake.read("bronze.crm_customers").where("crm_id = 'C5'").first()["street"] == "2, The Mews"
    got = {(r["source"], r["line_no"]): (r["reason"], r["raw"]) for r in lake.read(QUARANTINE_TABLE).collect()}
    assert got[("crm_customers", 2)][0] == "column date_of_birth: '1990-13-40' is not a valid date"
    assert got[("crm_customers", 2)][1] == rows[1]
    assert got[("crm_customers", 3)][0] == "required column crm_id is empty"
    assert got[("crm_customers", 4)][0] == "expected 13 fields, found 4"
    assert got[("crm_customers", 6)][0] == "column created_at: 'yesterday' is not a valid timestamp"
    assert got[("pos_transactions", 2)][0] == "column quantity: '-3' breaks the rule quantity > 0"
    assert got[("pos_transactions", 3)][0] == "column quantity: 'x' is not a valid int"
    assert got[("pos_transactions", 4)][0] == \
        "column discount: '3.01' breaks the rule discount >= 0 AND discount <= quantity * unit_price"
    assert got[("email_events", 2)][0] == "not a valid JSON object (truncated or malformed line)"
    assert got[("email_events", 3)][0] == "empty line"
    assert len(got) == 9
    log = {r["source"]: r for r in lake.read(INGEST_LOG_TABLE).where("outcome = 'loaded'").collect()}
    assert (log["crm_customers"]["rows_loaded"], log["crm_customers"]["rows_quarantined"]) == (2, 4)
    assert (log["email_events"]["rows_in_file"], log["email_events"]["rows_loaded"]) == (3, 1)


UNREADABLE = [
    ("empty", b"", "file is empty (0 bytes)"),
    ("semicolons", CRM_HEADER.replace(",", ";").encode() + b"\nC1;Ann\n", "columns are separated by ';', not by commas"),
    ("no id column", CRM_HEADER.replace("crm_id,", "").encode() + b"\n", "missing required column(s) crm_id in the header"),
    ("latin-1", (CRM_HEADER + "\nC1,Zoë\n").encode("latin-1"), "not UTF-8 text (invalid byte at offset"),
]


@pytest.mark.parametrize("case, content, message", UNREADABLE, ids=[c[0] for c in UNREADABLE])
def test_an_unreadable_file_fails_alone_with_one_clear_message(lake, spark, config, tmp_path, case, content, message):
    landing = tmp_path / "landing"
    ts = "2026-10-01T10:00:00Z"
    good = f"C0,Al,Bo,al@x.com,,,,,,,GB,{ts},{ts}\n"
    _write(landing, "crm_customers", DAY1, CRM_HEADER + "\n" + good)
    bad = _write(landing, "crm_customers", DAY1, content, suffix="late")
    _write(landing, "consent_events", DAY1,
           f'{{"event_id":"X1","event_ts":"{ts}","subject_type":"crm_id","subject_id":"C0",'
           '"purpose":"all","action":"opt_in","source_system":"crm"}\n')
    with pytest.raises(IngestError) as err:
        ingest_run(runtime_for(config, lake, str(landing)), Days.of(DAY1), sources=["crm_customers", "consent_events"])
    text = str(err.value)
    assert f"crm_customers: {bad}: " in text and message in text, text
    assert "consent_events" not in text
    loaded = {r.source: r.files_loaded for r in err.value.report.sources}  # the error carries what was done
    assert loaded == {"crm_customers": 1, "consent_events": 1}
    assert [r["crm_id"] for r in lake.read("bronze.crm_customers").collect()] == ["C0"]  # the good file of the source
    assert lake.read("bronze.consent_events").count() == 1
    failed = lake.read(INGEST_LOG_TABLE).where("outcome = 'failed'").collect()
    assert [(f["path"], message in f["message"]) for f in failed] == [(str(bad), True)]


def test_a_json_file_without_objects_or_required_keys_is_refused(tmp_path):
    src = source("web_events")
    path = tmp_path / "web_events_20261001.jsonl"
    path.write_text("event_id,event_ts\nE1,2026-10-01\n")
    with pytest.raises(UnreadableFileError, match="none of the first 2 lines is a JSON object"):
        inspect_file(path, str(path), src)
    path.write_text('{"event_ts": "2026-10-01T00:00:00Z"}\n')
    with pytest.raises(UnreadableFileError, match="missing required column.s. event_id, event_type, cookie_id"):
        inspect_file(path, str(path), src)
    with pytest.raises(UnreadableFileError, match="file is missing"):
        inspect_file(tmp_path / "gone.jsonl", "s3://b/gone.jsonl", src)


def test_a_missing_landing_folder_is_named(lake, spark, config, tmp_path):
    with pytest.raises(LandingError, match=f"landing folder {tmp_path / 'nowhere'} does not exist"):
        ingest_run(runtime_for(config, lake, str(tmp_path / "nowhere")), Days.of(DAY1))


def test_a_run_cut_short_before_its_log_entry_is_repaired_not_doubled(lake, spark, config, sample, tmp_path, monkeypatch):
    landing = _landing_copy(sample, tmp_path)
    original = type(lake).append

    def dies_before_the_final_log_entry(self, df, table, *args, **kwargs):
        if table == INGEST_LOG_TABLE and df.where("outcome != 'loading'").count():
            raise RuntimeError("driver lost")
        return original(self, df, table, *args, **kwargs)

    monkeypatch.setattr(type(lake), "append", dies_before_the_final_log_entry)
    with pytest.raises(RuntimeError, match="driver lost"):
        ingest_run(runtime_for(config, lake, str(landing)), Days.of(DAY1), sources=["orders"])
    written = lake.read("bronze.orders").count()
    assert written > 0
    monkeypatch.setattr(type(lake), "append", original)
    ingest_run(runtime_for(config, lake, str(landing)), Days.of(DAY1), sources=["orders"])
    assert lake.read("bronze.orders").count() == written
    outcomes = [r["outcome"] for r in lake.read(INGEST_LOG_TABLE).orderBy("ingested_at", "outcome").collect()]
    assert sorted(outcomes) == ["loaded", "loading", "loading"]


def test_bronze_carries_lineage_columns(lake, spark, config, sample, tmp_path):
    landing = _landing_copy(sample, tmp_path)
    report = ingest_run(runtime_for(config, lake, str(landing)), Days.of(DAY1), sources=["products"])
    bronze = lake.read("bronze.products")
    assert bronze.columns[-6:] == ["_ds", "_source_file", "_file_version", "_line_no", "_ingested_at", "_batch_id"]
    row = bronze.orderBy("_line_no").first()
    assert (row["_ds"], row["_file_version"], row["_line_no"], row["_batch_id"]) == (DAY1, 1, 1, report.batch_id)
    assert row["_source_file"].endswith("products/ds=2026-10-01/products_20261001.csv")
    assert dataclasses.asdict(report.sources[0])["files_loaded"] == 1


def test_files_and_folders_that_do_not_belong_are_logged_ignored_and_the_rest_loads(lake, spark, config, tmp_path,
                                                                                   caplog):
    """A new user's landing area: a README beside the day's products, a folder that is no source,
    day folders that are not dates. Each is an `ignored` entry with its reason and a warning; the
    products file beside the README loads as usual."""
    landing = tmp_path / "landing"
    products = _write(landing, "products", DAY1, ",".join(source("products").column_names) + "\n"
                      "SKU-000001,Tea,Grocery,,Brew,2.50,GBP,true,true,2026-01-01\n")
    readme = products.parent / "README.txt"
    readme.write_text("exported by ACME 5.2\n")
    stray = landing / "loyalty_cards" / "ds=2026-10-01" / "cards.csv"
    stray.parent.mkdir(parents=True)
    stray.write_text("card\n1\n")
    for folder in ("ds=2026-10-5", "ds=2026-13-45", "ds=latest"):
        (landing / "orders" / folder).mkdir(parents=True)
    rt = runtime_for(config, lake, landing)
    with caplog.at_level("WARNING", logger="jobs.ingest.main"):
        report = ingest_run(rt, Days.of(DAY1), sources=["products", "orders"])
    assert report.files_loaded == 1 and lake.read("bronze.products").count() == 1
    log = {r.path: r for r in lake.read(INGEST_LOG_TABLE).where("outcome = 'ignored'").collect()}
    assert set(log) == {str(readme), str(landing / "loyalty_cards"), *(str(landing / "orders" / f) for f in (
        "ds=2026-10-5", "ds=2026-13-45", "ds=latest"))}
    assert log[str(readme)].source == "products" and log[str(readme)].ds == DAY1
    assert log[str(readme)].message.startswith("not a products export: its files are .csv (or .csv.gz)")
    assert "unknown source folder 'loyalty_cards'" in log[str(landing / "loyalty_cards")].message
    assert "is not ds=YYYY-MM-DD with a real date" in log[str(landing / "orders" / "ds=latest")].message
    assert len(report.ignored) == 4 and report.sources[0].ignored == (f"{readme}: {log[str(readme)].message}",)
    warned = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert len(warned) == 5 and any("README.txt" in w for w in warned)
