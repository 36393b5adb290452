"""`c360 serve`: a real uvicorn server on loopback over serving tables Spark wrote, and a real HTTP client."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from jobs.common.pseudonym import keyed_hash
from jobs.common.serving_contract import SERVING_TABLES, serving_table
from jobs.serving.api import create_app

KEY = b"k" * 32
DAY1, DAY2 = dt.date(2026, 10, 10), dt.date(2026, 10, 11)
CUSTOMERS = [f"CK{n:016X}" for n in range(1, 41)]  # 40 customers
SHARED = keyed_hash("home@example.com", KEY)


def _ddl(name: str) -> str:
    return serving_table(name).ddl()


def write_day(lake, day: dt.date, tag: str, scores: bool = True) -> None:
    """One serving day as the stages write it: a replaceWhere commit of the run_date per table.

    Every product id and rfm_segment carries `tag`, so an answer shows which day it came from."""
    spark, at = lake.spark, dt.datetime(2026, 12, 1, 3, 0)
    lookup = [("customer_key", k, k, 1) for k in CUSTOMERS]
    lookup += [("crm_id", f"C{n}", k, 1) for n, k in enumerate(CUSTOMERS)]
    lookup += [("email_hmac", keyed_hash(f"p{n}@example.com", KEY), k, 1) for n, k in enumerate(CUSTOMERS)]
    lookup += [("email_hmac", SHARED, None, 2), ("customer_key", "CK00000000000000FF", CUSTOMERS[0], 1)]
    rows = {
        "customer_lookup": [(*r, at, day) for r in lookup],
        "customer_segments": [(k, "545", f"Champions {tag}", 2, "Weekend browsers", "c360_segments/3", at, day)
                              for k in CUSTOMERS],
        "recommendations": [(k, rank, f"{tag}-SKU-{rank:03d}", 1.0 / rank, "als", "bought together", "c360_rec/2",
                             at, day) for k in CUSTOMERS[:-1] for rank in range(1, 21)],
    }
    if scores:
        rows["customer_scores"] = [(k, 1.5, 0.8, 120.0, 0.2, "low", ["few visits"], "c360_clv/1", "c360_churn/1",
                                    at, day) for k in CUSTOMERS[::2]]
    for name, data in rows.items():
        table = serving_table(name).name
        lake.replace_where(spark.createDataFrame(data, _ddl(name)), table, f"run_date = '{day}'",
                           partition_by=["run_date"])


@contextmanager
def running(app):
    """uvicorn serving `app` on a free loopback port in this process; yields the base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _config(config, **serving):
    import dataclasses

    return dataclasses.replace(config, serving=dataclasses.replace(config.serving, **serving))


def test_the_api_answers_every_id_type_with_segments_scores_and_ranked_recommendations(lake, config):
    write_day(lake, DAY1, "d1")
    app = create_app(_config(config, refresh_seconds=3600), lake.root)
    with running(app) as url, httpx.Client(base_url=url) as http:
        health = http.get("/health").json()
        assert (health["status"], health["run_date"]) == ("ok", DAY1.isoformat())
        assert health["rows"]["serving.recommendations"] == 39 * 20 and health["last_error"] is None

        got = http.get("/customers/crm_id/C2").json()
        assert got["customer_key"] == CUSTOMERS[2] and got["run_date"] == DAY1.isoformat()
        assert got["segments"]["rfm_segment"] == "Champions d1" and got["scores"]["churn_drivers"] == ["few visits"]
        assert http.get("/customers/crm_id/C1").json()["scores"] is None  # no score row for that customer
        by_email = http.get(f"/customers/email_hmac/{keyed_hash('p2@example.com', KEY).upper()}")
        assert by_email.json()["customer_key"] == CUSTOMERS[2]
        assert http.get("/customers/customer_key/CK00000000000000FF").json()["customer_key"] == CUSTOMERS[0]

        recs = http.get("/customers/crm_id/C2/recommendations", params={"limit": 3}).json()
        assert [i["rank"] for i in recs["items"]] == [1, 2, 3]
        assert recs["items"][0] == {"rank": 1, "product_id": "d1-SKU-001", "score": 1.0, "source": "als",
                                    "reason": "bought together"}
        assert recs["model_version"] == "c360_rec/2"
        assert len(http.get("/customers/crm_id/C2/recommendations").json()["items"]) == 10
        assert http.get(f"/customers/customer_key/{CUSTOMERS[-1]}/recommendations").json()["items"] == []
        # The lookups are answered before FastAPI's routing; a query it must validate goes to the route.
        # Both give the same bytes and status.
        for fast, routed in (("/customers/crm_id/C2/recommendations?limit=3",
                              "/customers/crm_id/C2/recommendations?limit=03&utm=x"),
                             ("/customers/crm_id/C2/recommendations", "/customers/crm_id/C2/recommendations?x=1"),
                             ("/customers/crm_id/C999/recommendations?limit=3",
                              "/customers/crm_id/C999/recommendations?limit=+3"),
                             (f"/customers/email_hmac/{SHARED}/recommendations",
                              f"/customers/email_hmac/{SHARED}/recommendations?limit=10&a=b")):
            a, b = http.get(fast), http.get(routed)
            assert (a.status_code, a.content, a.headers["content-type"]) == (
                b.status_code, b.content, b.headers["content-type"]), fast

        errors = {
            "/customers/crm_id/C999": 404, f"/customers/email_hmac/{SHARED}": 409,
            "/customers/passport/123": 400, "/customers/email_hmac/not-a-hash": 400,
            "/customers/customer_key/ck1": 400, "/customers/crm_id/C2/recommendations?limit=0": 400,
            "/customers/crm_id/C2/recommendations?limit=many": 400,
            "/customers/crm_id/C2/recommendations?limit=101": 400, "/customers/crm_id/" + "x" * 200: 400,
        }
        for path, status in errors.items():
            answer = http.get(path)
            assert answer.status_code == status, (path, answer.text)
            assert answer.json()["error"], path
        assert http.get("/customers/crm_id/C999").json() == {"error": "no customer has this crm_id on 2026-10-10"}
        assert "@" not in http.get("/customers/crm_id/ann@example.com").text  # what was sent is not echoed
        assert "2 customers" in http.get(f"/customers/email_hmac/{SHARED}").json()["error"]

        docs = http.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        spec = http.get("/openapi.json").json()
        assert {"/customers/{id_type}/{id}", "/customers/{id_type}/{id}/recommendations", "/health"} <= set(
            spec["paths"])
        assert "email_hmac" in spec["info"]["description"]


def test_a_new_day_is_switched_to_under_load_without_a_failed_or_mixed_answer_and_an_unreadable_lake_keeps_it(
        lake, config):
    write_day(lake, DAY1, "d1")
    app = create_app(_config(config, refresh_seconds=0.2), lake.root)
    answers: Counter = Counter()
    problems: list[str] = []
    stop = threading.Event()

    def hammer(url: str, n: int) -> None:
        with httpx.Client(base_url=url) as http:
            while not stop.is_set():
                key = CUSTOMERS[n % 39]
                for path in (f"/customers/customer_key/{key}/recommendations?limit=20", f"/customers/customer_key/{key}"):
                    answer = http.get(path)
                    if answer.status_code != 200:
                        problems.append(f"{path}: {answer.status_code} {answer.text}")
                        continue
                    body = answer.json()
                    tag = {DAY1.isoformat(): "d1", DAY2.isoformat(): "d2"}[body["run_date"]]
                    seen = ({i["product_id"].split("-")[0] for i in body["items"]} if "items" in body
                            else {body["segments"]["rfm_segment"].split()[-1]})
                    if seen != {tag} or ("items" in body and len(body["items"]) != 20):
                        problems.append(f"{path}: day {body['run_date']} answered with {seen}")
                    answers[body["run_date"]] += 1
                n += 1

    with running(app) as url:
        clients = [threading.Thread(target=hammer, args=(url, n)) for n in range(4)]
        for c in clients:
            c.start()
        time.sleep(1.0)
        write_day(lake, DAY2, "d2", scores=False)  # the scores of a day are optional: not waited for
        deadline = time.monotonic() + 120
        with httpx.Client(base_url=url) as http:
            while http.get("/health").json()["run_date"] != DAY2.isoformat():
                assert time.monotonic() < deadline, "the service never switched to the new day"
                time.sleep(0.1)
            time.sleep(1.0)
            stop.set()
            for c in clients:
                c.join(timeout=30)
            assert problems == []
            assert answers[DAY1.isoformat()] > 0 and answers[DAY2.isoformat()] > 0
            assert http.get("/customers/crm_id/C2").json()["scores"] is None  # day 2 has no scores

            # the lake goes away: the day stays served, and /health says why it is not refreshed
            moved = Path(lake.root).with_name("moved")
            shutil.move(Path(lake.root) / "serving", moved)
            time.sleep(1.0)
            health = http.get("/health").json()
            assert health["run_date"] == DAY2.isoformat() and "still serving 2026-10-11" in health["last_error"]
            assert http.get("/customers/crm_id/C2/recommendations").status_code == 200
            shutil.move(moved, Path(lake.root) / "serving")


def test_the_installed_command_serves_only_with_the_bearer_token_its_profile_asks_for(lake, config, tmp_path):
    write_day(lake, DAY1, "d1")
    profile = tmp_path / "serve.yaml"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    profile.write_text(f"serving:\n  require_token: true\n  port: {port}\n")
    c360 = str(Path(sys.executable).with_name("c360"))
    env = {**os.environ, "C360_LAKE_ROOT": lake.root}
    env.pop("C360_API_TOKEN", None)
    refused = subprocess.run([c360, "--profile", str(profile), "serve"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 2 and "C360_API_TOKEN" in refused.stderr, refused.stderr
    server = subprocess.Popen([c360, "--profile", str(profile), "serve"], env={**env, "C360_API_TOKEN": "s3cret"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read() if server.poll() else ""
            time.sleep(0.2)
        assert httpx.get(f"{url}/customers/crm_id/C2").status_code == 401
        wrong = httpx.get(f"{url}/customers/crm_id/C2", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "bearer token" in wrong.json()["error"]
        right = httpx.get(f"{url}/customers/crm_id/C2", headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200 and right.json()["customer_key"] == CUSTOMERS[2]
        assert httpx.get(f"{url}/docs").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_answers_show_contract_columns_the_index_reads():
    from jobs.serving.api import Item, Scores, Segments
    from jobs.serving.index import ITEM_FIELDS, SCORE_FIELDS, SEGMENT_FIELDS

    for model, fields, table in ((Segments, SEGMENT_FIELDS, "customer_segments"),
                                 (Scores, SCORE_FIELDS, "customer_scores"), (Item, ITEM_FIELDS, "recommendations")):
        assert list(model.model_fields) == list(fields)
        assert set(fields) <= set(serving_table(table).column_names), table
    assert all(t.column_names[-1] == "run_date" for t in SERVING_TABLES)
    with pytest.raises(KeyError, match="serving.customer_lookup"):
        serving_table("nope")


def test_items_are_written_as_json_in_arrow_exactly_as_json_would_read_them():
    import json

    import pyarrow as pa

    from jobs.serving.index import json_objects

    table = pa.table({"rank": pa.array([0, 1, 2, None], pa.int32()), "product_id": ["x", 'a"b', "c\\d", None],
                      "score": [0.0, 1.5, float("nan"), None], "source": ["x", "als", "line\nbreak", "café"],
                      "reason": ["x", "r", None, "tab\there"],
                      "drivers": pa.array([["x"], ['few "visits"', "less"], None, []], pa.list_(pa.string()))})
    table = table.slice(1)  # a slice: its list offsets do not start at 0
    got = [json.loads(o) for o in json_objects(table, tuple(table.column_names)).to_pylist()]
    assert got == [
        {"rank": 1, "product_id": 'a"b', "score": 1.5, "source": "als", "reason": "r",
         "drivers": ['few "visits"', "less"]},
        {"rank": 2, "product_id": "c\\d", "score": None, "source": "line\nbreak", "reason": None, "drivers": None},
        {"rank": None, "product_id": None, "score": None, "source": "café", "reason": "tab\there", "drivers": []},
    ]


def test_the_index_finds_each_key_of_sliced_chunked_and_uneven_columns():
    import pyarrow as pa

    from jobs.serving.index import _Index

    even = pa.chunked_array([pa.array(["CK00", "CK01", "CK02", "CK03"]).slice(1), pa.array(["CK05", "CK05"])])
    uneven = pa.chunked_array([pa.array(["A1", "A22", "B"])])
    for column in (even, uneven):
        index = _Index.of(column)
        for key in column.to_pylist():
            assert index.find(key) == column.to_pylist().index(key), key
    assert _Index.of(even).span("CK05") == (3, 5) and _Index.of(even).find("CK04") is None
    assert _Index.of(uneven).find("A2") is None and _Index.of(uneven).find("A222") is None
