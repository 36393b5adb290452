"""Damaged and re-delivered landing files, through `c360 ingest` and `c360 run` as a user runs them.

Every file either loads (each record loaded or quarantined, with its line number) or
fails alone with one message and a `failed` entry in the ingest log; a file delivered
again on another day never reaches silver twice.
"""
from __future__ import annotations

import datetime as dt
import gzip
import shutil
from pathlib import Path

from pyspark.sql import functions as F

from jobs.cli import main
from jobs.common.bronze import INGEST_LOG_TABLE, QUARANTINE_TABLE
from jobs.common.landing_contract import source
from jobs.ingest.inspect import UnreadableFileError, inspect_file
from tests.support.frames import same_rows
from tests.support.later_events import add_events_after
from tests.test_features import declared_unit_tests

DAY1 = dt.date(2026, 10, 1)
TS = "2026-10-01T10:00:00Z"


def _header(name: str, drop: tuple[str, ...] = ()) -> str:
    return ",".join(c for c in source(name).column_names if c not in drop)


def _put(landing: Path, name: str, file_name: str, content: bytes) -> Path:
    path = landing / source(name).day_folder(DAY1.isoformat()) / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _damaged_landing(landing: Path) -> dict[str, Path]:
    """One day of files a careless export produces; the records each holds are in the test below."""
    crm = _header("crm_customers", drop=("tax_id",))
    files = {
        # Bare CR line endings, and a bare CR inside a quoted field.
        "crm_cr": _put(landing, "crm_customers", "crm_customers_20261001.csv", (
            f"{crm}\r"
            f'C1,Ann,Lee,ann@x.com,,,,"1 Main St\rFlat 2",Leeds,LS1 1AA,GB,{TS},{TS}\r'
            f"C2,Bo,Li,bo@x.com,,,,2 High St,York,YO1 1AA,GB,{TS},{TS}\r").encode()),
        # Header names in another case.
        "crm_case": _put(landing, "crm_customers", "crm_customers_20261001_b.csv", (
            crm.upper().replace("EMAIL", "Email") + "\n"
            f"C3,Cy,Ma,cy@x.com,,,,3 Low St,Hull,HU1 1AA,GB,{TS},{TS}\n").encode()),
        # A quoted line break in the last column; 12.345 in a 2-decimal column.
        "orders": _put(landing, "orders", "orders_20261001.csv", (
            f"{_header('orders')}\n"
            f'O1,A1,a@x.com,{TS},web,GBP,10.50,1 St,Leeds,LS1,"ck\n1"\n'
            f"O2,A2,b@x.com,{TS},web,GBP,12.345,1 St,Leeds,LS1,ck2\n").encode()),
        # Names Hadoop would read as a glob or refuse.
        "lines_brackets": _put(landing, "order_lines", "order_lines_20261001[1].csv",
                               f"{_header('order_lines')}\nO1,1,S1,1,10.50,0.00\n".encode()),
        "lines_colon": _put(landing, "order_lines", "order_lines_20261001_a:b.csv",
                            f"{_header('order_lines')}\nO1,2,S2,1,1.00,0.00\n".encode()),
        # Named .gz but plain text; gzip under a .gz name.
        "pos_plain_gz": _put(landing, "pos_transactions", "pos_transactions_20261001.csv.gz",
                             f"{_header('pos_transactions')}\nT1,1,ST1,{TS},,,S1,1,2.00,0.00\n".encode()),
        "pos_gzip": _put(landing, "pos_transactions", "pos_transactions_20261001_z.csv.gz", gzip.compress(
            f"{_header('pos_transactions')}\nT2,1,ST1,{TS},,,S1,2,3.00,0.00\n".encode())),
        # A gzip file cut short, beside a good file of the same source.
        "returns_corrupt": _put(landing, "returns", "returns_20261001.csv.gz", gzip.compress(
            f"{_header('returns')}\n".encode() + f"R9,O1,,1,S1,1,1.00,damaged,{TS}\n".encode() * 500)[:40]),
        "returns_good": _put(landing, "returns", "returns_20261001_b.csv",
                             f"{_header('returns')}\nR1,O1,,1,S1,1,10.50,damaged,{TS}\n".encode()),
        # Text after the JSON object.
        "web": _put(landing, "web_events", "web_events_20261001.jsonl", (
            f'{{"event_id":"E1","event_ts":"{TS}","event_type":"view","cookie_id":"c1","session_id":"s1",'
            '"device":"web"}\n'
            f'{{"event_id":"E2","event_ts":"{TS}","event_type":"view","cookie_id":"c1","session_id":"s1",'
            '"device":"web"} trailing\n').encode()),
    }
    return files


def test_damaged_files_load_or_fail_alone_and_every_record_is_accounted_for(lake, test_profile, tmp_path,
                                                                          monkeypatch, capsys):
    monkeypatch.setenv("C360_LAKE_ROOT", lake.root)
    files = _damaged_landing(tmp_path / "landing")
    command = ["ingest", "--profile", test_profile, "--date", DAY1.isoformat(), "--landing", str(tmp_path / "landing")]

    assert main(command) == 2
    err = capsys.readouterr().err
    # The progress lines of each source come first, then the error.
    error = err[err.index("c360: error: "):]
    assert error.startswith("c360: error: ingest of 1 file(s) failed"), err
    assert f"returns: {files['returns_corrupt']}: gzip-compressed but corrupt or cut short" in err, err

    entries = lake.read(INGEST_LOG_TABLE).collect()
    log = {Path(r["path"]).name: r for r in entries if r["outcome"] != "loading"}
    assert len(log) == len(files) and sum(r["outcome"] == "loading" for r in entries) == len(files) - 1
    failed = log.pop(files["returns_corrupt"].name)
    assert (failed["outcome"], failed["rows_loaded"]) == ("failed", 0)
    assert "gzip-compressed but corrupt" in failed["message"]
    # file -> (records, loaded, quarantined): a record over two lines is one record.
    expected = {
        "crm_cr": (2, 2, 0), "crm_case": (1, 1, 0), "orders": (2, 1, 1), "lines_brackets": (1, 1, 0),
        "lines_colon": (1, 1, 0), "pos_plain_gz": (1, 1, 0), "pos_gzip": (1, 1, 0), "returns_good": (1, 1, 0),
        "web": (2, 1, 1),
    }
    got = {key: (log[files[key].name]["rows_in_file"], log[files[key].name]["rows_loaded"],
                 log[files[key].name]["rows_quarantined"]) for key in expected}
    assert got == expected
    assert {r["outcome"] for r in log.values()} == {"loaded"}
    assert log[files["pos_plain_gz"].name]["message"] == "named .gz but not gzip-compressed: read as plain text"
    assert all(r["path"] == str(files[k].resolve()) for k, r in [(k, log[files[k].name]) for k in expected])

    crm = {r["crm_id"]: r for r in lake.read("bronze.crm_customers").collect()}
    assert crm["C1"]["street"] == "1 Main St\nFlat 2" and crm["C1"]["_line_no"] == 1
    assert (crm["C2"]["city"], crm["C2"]["_line_no"]) == ("York", 3)  # its line after the two-line record
    assert crm["C3"]["email"] == "cy@x.com"  # the header said Email
    order = lake.read("bronze.orders").collect()
    assert [(o["order_id"], o["cookie_id"]) for o in order] == [("O1", "ck\n1")]
    assert lake.read("bronze.order_lines").count() == 2
    assert sorted(r["transaction_id"] for r in lake.read("bronze.pos_transactions").collect()) == ["T1", "T2"]
    assert [r["return_id"] for r in lake.read("bronze.returns").collect()] == ["R1"]
    quarantine = {(q["source"], q["line_no"]): q["reason"] for q in lake.read(QUARANTINE_TABLE).collect()}
    assert quarantine == {
        ("orders", 3): "column order_total: '12.345' has more decimal places than decimal(12,2) keeps",
        ("web_events", 2): "text after the JSON object: one object per line",
    }

    # A rerun retries the failed file only: nothing else is written again.
    versions = {t: lake.version(t) for t in lake.table_names() if t.startswith("bronze.")}
    assert main(command) == 2
    assert {t: lake.version(t) for t in versions} == versions
    gz = lake.read(INGEST_LOG_TABLE).where(F.col("path").endswith(".csv.gz") & (F.col("outcome") != "loading"))
    assert sorted(r["outcome"] for r in gz.collect()) == ["failed", "failed", "loaded", "loaded"]


def test_a_landing_folder_spelt_another_way_is_the_same_files(lake, test_profile, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("C360_LAKE_ROOT", lake.root)
    monkeypatch.chdir(tmp_path)
    products = _put(tmp_path / "landing", "products", "products_20261001.csv", (
        f"{_header('products')}\nS1,Soap,Beauty,,Acme,1.99,GBP,true,true,2026-01-01\n").encode())
    spellings = ["landing", str(tmp_path / "landing"), "./landing/../landing/"]
    for landing in spellings:
        assert main(["ingest", "--profile", test_profile, "--date", DAY1.isoformat(), "--landing", landing]) == 0
    entries = lake.read(INGEST_LOG_TABLE).where("outcome != 'loading'").collect()
    assert [(e["path"], e["outcome"]) for e in entries] == [(str(products.resolve()), "loaded")]
    assert lake.read("bronze.products").count() == 1


def test_inspect_counts_lines_as_spark_splits_them_and_names_what_it_cannot_read(tmp_path):
    crm = source("crm_customers")
    header = _header("crm_customers", drop=("tax_id",))
    row = f"C1,Ann,Lee,a@x.com,,,,St,Leeds,LS1,GB,{TS},{TS}"
    cases = {b"\r": 3, b"\r\n": 3, b"\n": 3}
    for ending, lines in cases.items():
        path = tmp_path / "crm.csv"
        path.write_bytes(ending.join([header.encode(), row.encode(), row.encode(), b""]))
        assert inspect_file(path, str(path), crm).data_lines == lines - 1
    path.write_bytes(header.encode() + b"\r" + row.encode())  # no line break after the last line
    assert inspect_file(path, str(path), crm).data_lines == 1

    gz = tmp_path / "crm.csv.gz"
    gz.write_bytes(gzip.compress(f"{header}\n{row}\n".encode()))
    facts = inspect_file(gz, str(gz), crm)
    assert (facts.gzip, facts.data_lines, facts.note) == (True, 1, None)
    checks = {
        b"PK\x03\x04rest": "zip-compressed, which ingest does not read",
        b"\x1f\x8b\x08\x00garbage": "gzip-compressed but corrupt or cut short",
        gzip.compress(b"caf\xe9\n"): "not UTF-8 text",
        f"{header}\n{row}".replace("updated_at", "updated").encode(): "missing required column(s) updated_at",
        f"{header},Email\n{row},x\n".encode(): "column(s) email appear more than once in the header",
    }
    for content, message in checks.items():
        path.write_bytes(content)
        try:
            inspect_file(path, "crm.csv", crm)
        except UnreadableFileError as exc:
            assert message in str(exc), (content, str(exc))
        else:
            raise AssertionError(f"{content!r} was accepted; expected {message}")

    web = tmp_path / "web.jsonl"
    web.write_text(f'{{"event_id":"E1","event_ts":"{TS}","event_type":"view","cookie_id":"c","session_id":"s",'
                   '"device":"web","Account_ID":"A1"}\n')
    try:
        inspect_file(web, "web.jsonl", source("web_events"))
    except UnreadableFileError as exc:
        assert "'Account_ID' (contract: 'account_id') differ from the contract only in case" in str(exc)
    else:
        raise AssertionError("a JSON key differing only in case was accepted")


def test_a_file_delivered_again_on_a_later_day_reaches_silver_once_and_gold_is_unchanged(
        e2e, test_profile, monkeypatch, capsys):
    """Day 9's orders and order lines sent again on day 10 under new names, then the day run again.

    Before the rebuild, copies of day 10's events a day and a week later go into silver: the
    rebuilt gold must equal the day's first gold with those too (a build as of a day sees
    nothing after it), so one build shows both.
    """
    lake, day9, day10 = e2e.rt.lake, e2e.history_last, e2e.last
    landing = e2e.sample / "landing"
    copies = []
    for name in ("orders", "order_lines"):
        src = source(name)
        original = landing / src.day_folder(day9.isoformat()) / src.file_name(day9.isoformat())
        copies.append(landing / src.day_folder(day10.isoformat()) / f"resent_{original.name}")
        shutil.copy(original, copies[-1])
    gold = {t: lake.version(t) for t in lake.table_names() if t.startswith("gold.")}
    silver_before = {t: lake.read(t).where(F.col("_ds") == F.lit(day10)).count() for t in ("silver.orders",
                                                                                          "silver.order_lines")}
    monkeypatch.setenv("C360_LAKE_ROOT", lake.root)
    try:
        code = main(["run", "--profile", test_profile, "--date", day10.isoformat(), "--landing", str(landing),
                     "--stages", "ingest,quality_gate,silver"])
    finally:
        for copy in copies:
            copy.unlink()
    assert code == 0, capsys.readouterr().err
    silver_after = {t: lake.read(t).where(F.col("_ds") == F.lit(day10)).count() for t in silver_before}
    for table, key in (("silver.orders", ["order_id"]), ("silver.order_lines", ["order_id", "line_no"])):
        assert lake.read(table).groupBy(*key).count().where("count > 1").count() == 0, table
    add_events_after(lake, day10)
    capsys.readouterr()
    # The rebuild runs dbt's unit tests too (the daily build leaves them out).
    assert main(["build-features", "--profile", test_profile, "--date", day10.isoformat(), "--no-docs",
                 "--unit-tests"]) == 0
    report = {}  # the printed report's table: figure, value
    for line in capsys.readouterr().out.splitlines():
        if len(words := line.split()) > 1:
            report[words[0]] = words[-1]
    assert report["unit_tests"] == str(len(declared_unit_tests()))

    resent = lake.read(INGEST_LOG_TABLE).where(F.col("path").contains("resent_") & (F.col("outcome") != "loading")).collect()
    assert {r["outcome"] for r in resent} == {"loaded"} and all(r["duplicate_of"] for r in resent)
    warned = lake.read("ops.dq_results").where(
        (F.col("run_date") == F.lit(day10)) & (F.col("column") == "_ref_landed_on")).collect()
    by_source = {w["source"]: w for w in warned}
    for name in ("orders", "order_lines"):
        rows = next(r for r in resent if r["source"] == name)["rows_loaded"]
        assert (by_source[name]["success"], by_source[name]["unexpected_count"]) == (False, rows)
        assert day9.isoformat() in by_source[name]["observed_value"]
    assert all(w["success"] for s, w in by_source.items() if s not in ("orders", "order_lines"))

    assert silver_after == silver_before
    quarantined = lake.read(QUARANTINE_TABLE).where(F.col("reason").startswith("redelivered: ")).collect()
    assert len(quarantined) == sum(r["rows_loaded"] for r in resent)
    assert {q["reason"] for q in quarantined if q["source"] == "orders"} == {
        f"redelivered: order_id already landed on {day9.isoformat()} (silver keeps the first delivery)"}

    # the rebuilt gold equals the gold of the day without the re-delivery and without the later events
    for table, version in gold.items():
        assert same_rows(lake.read(table), lake.read(table, version=version)), table
