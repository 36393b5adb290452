"""`c360 bench serving`: the read API's latency and throughput at N customers x 20 recommendations.

1. Spark writes one serving day of N customers (default 1 M): serving.customer_lookup (a CRM id,
   an email pseudonym and the key per customer), customer_segments, customer_scores and 20
   recommendations each, through `jobs.common.lake` as the stages write them. The lake is
   kept under `data/bench/serving_<N>` and reused.
2. `c360 serve` starts in its own process on a free loopback port; its load time and memory.
3. A load generator in this process (asyncio, raw HTTP/1.1 keep-alive connections) sends:
   - closed loop: 50 concurrent clients for 60 s per endpoint, random existing customers by
     CRM id plus 5 % unknown ids (expected 404s); p50, p99, throughput, unexpected errors;
   - open loop: fixed request rates on the recommendations endpoint (latency counted from
     each request's scheduled time, so a stalled server is not flattered); the highest
     rate whose p99 stays under 10 ms, against 16.7 k/s (1 M requests a minute);
   - the switch: a second run_date lands while 50 clients run; the time until it is served,
     the server's load time, and failed or mixed answers during the switch.
4. The same recommendations lookup per request through Spark SQL and through delta-rs,
   for comparison.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pyspark.sql import functions as F

from jobs.common.bench import Figures, peak_rss_mb
from jobs.common.config import CHECKOUT, load_config
from jobs.common.lake import Lake
from jobs.common.serving_contract import serving_table
from jobs.common.spark import build_spark

DAY1, DAY2 = dt.date(2026, 10, 10), dt.date(2026, 10, 11)
RECS = 20
CLIENTS = 50
SECONDS = 60
UNKNOWN_SHARE = 0.05
RATES = (1000, 2000, 3000, 4000, 6000, 8000, 12000, 16700)
TARGET_P99_MS = 10.0


def _key(n):
    return F.concat(F.lit("CK"), F.upper(F.lpad(F.hex(n), 16, "0")))


def write_day(lake: Lake, n: int, day: dt.date) -> None:
    """One serving day of `n` customers, each table one replaceWhere commit of the run_date."""
    spark = lake.spark
    ids = spark.range(n, numPartitions=max(2, n // 250_000))
    at = F.lit(dt.datetime(2026, 12, 1, 3, 0)).cast("timestamp").alias("generated_at")
    run_date = F.lit(day).alias("run_date")
    tag = day.strftime("%m%d")

    def write(name: str, df) -> None:
        table = serving_table(name)
        lake.replace_where(df.select(*table.column_names), table.name, f"run_date = '{day}'",
                           partition_by=["run_date"])

    lookup = ids.select(F.explode(F.array(
        F.struct(F.lit("crm_id").alias("id_type"), F.concat(F.lit("C"), F.col("id").cast("string")).alias("id")),
        F.struct(F.lit("email_hmac").alias("id_type"), F.sha2(F.col("id").cast("string"), 256).alias("id")),
        F.struct(F.lit("customer_key").alias("id_type"), _key(F.col("id")).alias("id")),
    )).alias("i"), F.col("id").alias("n")).select(
        "i.id_type", "i.id", _key(F.col("n")).alias("customer_key"), F.lit(1).alias("candidates"), at, run_date)
    write("customer_lookup", lookup.orderBy("id_type", "id"))
    write("customer_segments", ids.select(
        _key(F.col("id")).alias("customer_key"), F.lit("545").alias("rfm_score"),
        F.concat(F.lit("Champions "), F.lit(tag)).alias("rfm_segment"), (F.col("id") % 6).cast("int").alias("cluster_id"),
        F.lit("Weekend browsers").alias("cluster_name"), F.lit("c360_segments/1").alias("segment_model_version"),
        at, run_date).orderBy("customer_key"))
    write("customer_scores", ids.select(
        _key(F.col("id")).alias("customer_key"), (F.col("id") % 7 / 3.0).alias("expected_purchases_90d"),
        F.lit(0.8).alias("p_alive"), (F.col("id") % 500 * 1.5).alias("clv_12m"),
        (F.col("id") % 100 / 100.0).alias("churn_probability"), F.lit("low").alias("churn_risk_band"),
        F.array(F.lit("fewer visits lately")).alias("churn_drivers"), F.lit("c360_clv/1").alias("clv_model_version"),
        F.lit("c360_churn/1").alias("churn_model_version"), at, run_date).orderBy("customer_key"))
    recs = ids.select(F.col("id"), F.explode(F.sequence(F.lit(1), F.lit(RECS))).alias("rank"))
    write("recommendations", recs.select(
        _key(F.col("id")).alias("customer_key"), F.col("rank").cast("int").alias("rank"),
        F.concat(F.lit(f"{tag}-SKU-"), F.lpad(((F.col("id") * 31 + F.col("rank") * 7) % 20000).cast("string"), 6, "0"))
        .alias("product_id"), (1.0 / F.col("rank")).alias("score"), F.lit("als").alias("source"),
        F.lit("customers who bought what you bought also bought this").alias("reason"),
        F.lit("c360_recommender/4").alias("model_version"), at, run_date).orderBy("customer_key", "rank"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _get(reader, writer, path: str) -> tuple[int, bytes]:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


def _paths(n: int, endpoint: str, rng: random.Random):
    while True:
        known = rng.random() >= UNKNOWN_SHARE
        id_ = f"C{rng.randrange(n)}" if known else f"X{rng.randrange(10 ** 9)}"
        yield known, f"/customers/crm_id/{id_}{endpoint}"


async def closed_loop(port: int, n: int, endpoint: str, clients: int, seconds: float, keep: bool = False,
                      stop: asyncio.Event | None = None) -> dict:
    """`clients` connections each sending one request after another for `seconds` (or until `stop`);
    `keep`: also return the bodies of the answers to known ids."""
    latencies, unexpected, answers = [], [], []
    end = time.perf_counter() + seconds

    async def client(seed: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        paths = _paths(n, endpoint, random.Random(seed))
        while time.perf_counter() < end and not (stop is not None and stop.is_set()):
            known, path = next(paths)
            t0 = time.perf_counter()
            status, body = await _get(reader, writer, path)
            latencies.append(time.perf_counter() - t0)
            if status != (200 if known else 404):
                unexpected.append(f"{path}: {status}")
            elif keep and known:
                answers.append(body)
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(client(s) for s in range(clients)))
    elapsed = time.perf_counter() - began
    return {**_summary(latencies, elapsed), "unexpected": len(unexpected),
            "unexpected_examples": unexpected[:3], "answers": answers}


async def open_loop(port: int, n: int, endpoint: str, rate: float, seconds: float, connections: int = 128) -> dict:
    """Requests scheduled at `rate` per second; latency from each one's scheduled start."""
    latencies, unexpected = [], 0
    start = time.perf_counter() + 0.2
    total = int(rate * seconds)
    next_index = 0

    async def worker(seed: int) -> None:
        nonlocal next_index, unexpected
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        paths = _paths(n, endpoint, random.Random(seed))
        while next_index < total:
            i = next_index
            next_index += 1
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            known, path = next(paths)
            status, _ = await _get(reader, writer, path)
            latencies.append(time.perf_counter() - scheduled)
            unexpected += status != (200 if known else 404)
        writer.close()

    await asyncio.gather(*(worker(s) for s in range(connections)))
    return {**_summary(latencies, time.perf_counter() - start), "unexpected": unexpected}


def _summary(latencies: list[float], elapsed: float) -> dict:
    ordered = sorted(latencies)
    pick = (lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000) if ordered else (lambda q: 0.0)
    return {"requests": len(ordered), "throughput_per_s": round(len(ordered) / elapsed, 1),
            "p50_ms": round(pick(0.50), 2), "p99_ms": round(pick(0.99), 2), "max_ms": round(pick(1.0), 2)}


def _health(port: int) -> dict:
    import httpx

    return httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json()


def _start_server(lake_root: str, port: int, profile: str | None) -> subprocess.Popen:
    env = {**os.environ, "C360_LAKE_ROOT": lake_root}
    serving_profile = Path(lake_root).parent / "serve.yaml"
    serving_profile.write_text("serving:\n  refresh_seconds: 1\n")
    c360 = str(Path(sys.executable).with_name("c360"))
    server = subprocess.Popen([c360, "--profile", str(serving_profile), "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 900
    while True:
        try:
            if _health(port).get("run_date"):
                return server
        except Exception:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"c360 serve did not come up: {server.stderr.read() if server.poll() else 'timeout'}")
        time.sleep(0.5)


def _per_request(fn, keys: list[str]) -> float:
    times = []
    for key in keys:
        t0 = time.perf_counter()
        fn(key)
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1000, 1)


def run(scale: int | None = None, profile: str | None = None) -> Figures:
    n = scale or 1_000_000
    config = load_config(profile)
    root = CHECKOUT / "data" / "bench" / f"serving_{n}"
    lake_root = str(root / "lake")
    spark = build_spark(config, app_name="c360-bench-serving")
    lake = Lake(spark, dataclasses.replace(config.lake, root=lake_root))
    figures: Figures = {"customers": n, "recommendations_per_customer": RECS}
    marker = root / "day1.done"
    if not marker.exists():
        t0 = time.perf_counter()
        write_day(lake, n, DAY1)
        figures["write_day_s"] = round(time.perf_counter() - t0, 1)
        marker.write_text("ok")
    elif lake.exists("serving.recommendations"):  # a second day from an earlier run: back to one day
        for name in ("customer_lookup", "customer_segments", "customer_scores", "recommendations"):
            lake.spark.sql(f"DELETE FROM delta.`{lake.path(serving_table(name).name)}` WHERE run_date = '{DAY2}'")

    # the same lookup per request without the service, for comparison
    rng = random.Random(7)
    sample = [f"CK{rng.randrange(n):016X}" for _ in range(20)]
    recs_path = lake.path("serving.recommendations")

    def spark_sql(k: str):
        return spark.sql(f"SELECT rank, product_id, score, source, reason FROM delta.`{recs_path}` "
                         f"WHERE run_date = '{DAY1}' AND customer_key = '{k}' ORDER BY rank").collect()

    spark_sql(sample[0])  # warm
    figures["spark_sql_per_request_ms_p50"] = _per_request(spark_sql, sample[:10])
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    def delta_rs(k: str):
        return DeltaTable(recs_path).to_pyarrow_dataset().to_table(
            filter=(pc.field("run_date") == pa.scalar(DAY1, pa.date32())) & (pc.field("customer_key") == k))

    figures["deltalake_per_request_ms_p50"] = _per_request(delta_rs, sample[:10])

    port = _free_port()
    t0 = time.perf_counter()
    server = _start_server(lake_root, port, profile)
    try:
        health = _health(port)
        figures["server_start_to_ready_s"] = round(time.perf_counter() - t0, 1)
        figures["server_load_day_s"] = health["load_seconds"]
        figures["server_peak_rss_after_load_mb"] = round(peak_rss_mb(server.pid), 0)
        for endpoint, label in (("/recommendations?limit=20", "recommendations"), ("", "customer")):
            got = asyncio.run(closed_loop(port, n, endpoint, CLIENTS, SECONDS))
            for k in ("requests", "throughput_per_s", "p50_ms", "p99_ms", "max_ms", "unexpected"):
                figures[f"{label}_{CLIENTS}_clients_{k}"] = got[k]
        best = 0
        for rate in RATES:
            got = asyncio.run(open_loop(port, n, "/recommendations?limit=20", rate, 10))
            figures[f"open_loop_{rate}_per_s_p99_ms"] = got["p99_ms"]
            figures[f"open_loop_{rate}_per_s_achieved"] = got["throughput_per_s"]
            if got["p99_ms"] < TARGET_P99_MS and got["unexpected"] == 0:
                best = rate
            else:
                break
        figures["highest_rate_with_p99_under_10ms_per_s"] = best
        figures["headline_rate_per_s"] = 16_700

        # a second day lands under load: how long until it is served, and nothing fails or mixes
        def mixed(answers: list[bytes]) -> int:
            bad = 0
            for body in answers:
                doc = json.loads(body)
                tag = dt.date.fromisoformat(doc["run_date"]).strftime("%m%d")
                bad += any(not i["product_id"].startswith(tag) for i in doc["items"])
            return bad

        async def switch() -> tuple[dict, float, float]:
            stop = asyncio.Event()
            load = asyncio.create_task(closed_loop(port, n, "/recommendations?limit=20", CLIENTS, 1e9, keep=True,
                                                   stop=stop))
            began = time.perf_counter()
            await asyncio.to_thread(write_day, lake, n, DAY2)
            written = time.perf_counter()
            while (await asyncio.to_thread(_health, port))["run_date"] != DAY2.isoformat():
                await asyncio.sleep(0.2)
            served = time.perf_counter()
            await asyncio.sleep(2)
            stop.set()
            return await load, written - began, served - written

        got, write_s, to_served_s = asyncio.run(switch())
        figures["switch_write_day2_s"] = round(write_s, 1)
        figures["switch_commit_to_served_s"] = round(to_served_s, 1)
        figures["switch_server_load_day_s"] = _health(port)["load_seconds"]
        figures["switch_requests"] = got.get("requests", 0)
        figures["switch_unexpected"] = got.get("unexpected", 0)
        figures["switch_mixed_answers"] = mixed(got.get("answers", []))
        figures["server_peak_rss_mb"] = round(peak_rss_mb(server.pid), 0)
    finally:
        server.terminate()
        server.wait(timeout=60)
        spark.stop()
    return figures
