"""The S3 landing path, against moto's S3 server on 127.0.0.1 (a real HTTP endpoint)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from jobs.common.bronze import INGEST_LOG_TABLE
from jobs.common.rates import VariationRates
from jobs.common.stage import Days
from jobs.generate.main import generate
from jobs.ingest.main import run as ingest_run
from tests.support.runtime import runtime_for

DAY = dt.date(2026, 10, 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    """moto_server on a free loopback port, stopped after the module."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        server.kill()
        pytest.fail(f"moto_server did not start: {log.read_text()[-2000:]}")
    yield endpoint
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def aws_env(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)


def test_ingest_reads_an_s3_landing_area_through_boto3(lake, spark, config, tmp_path, s3_endpoint, aws_env):
    out = tmp_path / "sample"
    generate(out, customers=200, days=1, seed=3, start=DAY, rates=VariationRates(dirty_rows=0.0), log=lambda *_: None)
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket="landing")
    local_files = sorted(p for p in (out / "landing").rglob("*") if p.is_file())
    for path in local_files:
        client.upload_file(str(path), "landing", f"exports/{path.relative_to(out / 'landing').as_posix()}")

    s3_config = dataclasses.replace(config, landing=dataclasses.replace(config.landing, s3_endpoint_url=s3_endpoint))
    sources = ["crm_customers", "web_events", "products"]
    report = ingest_run(runtime_for(s3_config, lake, "s3://landing/exports"), Days.of(DAY), sources=sources)
    assert not report.failed and report.files_loaded > 0
    log = lake.read(INGEST_LOG_TABLE).where("outcome = 'loaded'").collect()
    assert sorted(r["path"] for r in log) == sorted(
        f"s3://landing/exports/{p.relative_to(out / 'landing').as_posix()}"
        for p in local_files if p.parts[-3] in sources
    )
    for r in log:
        local = out / "landing" / r["path"].removeprefix("s3://landing/exports/")
        assert r["rows_loaded"] == local.read_bytes().count(b"\n") - (1 if local.suffix == ".csv" else 0)
        assert r["size_bytes"] == local.stat().st_size
    assert lake.read("bronze.web_events").count() == sum(r["rows_loaded"] for r in log if r["source"] == "web_events")

    again = ingest_run(runtime_for(s3_config, lake, "s3://landing/exports"), Days.of(DAY), sources=sources)
    assert [s.files_loaded for s in again.sources] == [0, 0, 0]


def test_an_unreachable_bucket_is_named(lake, spark, config, s3_endpoint, aws_env):
    s3_config = dataclasses.replace(config, landing=dataclasses.replace(config.landing, s3_endpoint_url=s3_endpoint))
    with pytest.raises(Exception, match="cannot list s3://no-such-bucket/exports/crm_customers/ds=2026-10-01/"):
        ingest_run(runtime_for(s3_config, lake, "s3://no-such-bucket/exports"), Days.of(DAY), sources=["crm_customers"])
