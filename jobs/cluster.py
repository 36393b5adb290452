"""A Spark standalone cluster and an S3 endpoint on this machine's loopback: the `cluster-local` profile's world.

`LocalCluster` starts, from the pyspark install and the virtualenv, what a real deployment has
elsewhere:
- a moto S3 server (`moto_server`) holding the buckets of `conf/cluster-local.yaml`: the lake
  (`s3a://`), the landing area (`s3://`) and MLflow's artifacts;
- a Spark standalone master (`spark-class org.apache.spark.deploy.master.Master`) and workers
  (`...deploy.worker.Worker`), each in its own JVM, each with its own work folder: executors
  run there, never in the driver's process.

A driver started with `--profile cluster-local` then runs every stage against it exactly as it
would against a remote cluster: Spark at `spark://127.0.0.1:7077`, the lake through `hadoop-aws`.
`run_sample` is what `make cluster` runs: a generated sample's days through `c360 run`.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from jobs.common.config import CHECKOUT, Config, load_config
from jobs.common.errors import C360Error, SetupError

PROFILE = "cluster-local"
HOST = "127.0.0.1"
# The credentials moto accepts (any); the profile names the same pair for Hadoop's S3A client.
ACCESS_KEY = "c360-local"
SECRET_KEY = "c360-local-secret"  # noqa: S105 - moto's loopback endpoint, no secret
REGION = "us-east-1"
MASTER_UI_PORT = 8090


@dataclass(frozen=True)
class Endpoints:
    """Where the profile expects the cluster's parts, read from the profile itself."""

    master: str  # spark://host:port
    s3: str  # http://host:port
    buckets: tuple[str, ...]  # every bucket a URI of the profile names

    @classmethod
    def of(cls, config: Config) -> Endpoints:
        s3 = config.landing.s3_endpoint_url or config.spark.conf.get("spark.hadoop.fs.s3a.endpoint", "")
        if not config.spark.master.startswith("spark://"):
            raise SetupError(f"profile '{PROFILE}': spark.master must be spark://host:port, got {config.spark.master}")
        if not s3.startswith("http://"):
            raise SetupError(f"profile '{PROFILE}': landing.s3_endpoint_url must be http://host:port, got '{s3}'")
        uris = (config.lake.root, config.landing.uri, config.mlflow.artifact_root)
        buckets = tuple(dict.fromkeys(u.split("://", 1)[1].split("/", 1)[0] for u in uris if "://" in u))
        return cls(config.spark.master, s3, buckets)

    @property
    def master_port(self) -> int:
        return int(self.master.rsplit(":", 1)[1])

    @property
    def s3_port(self) -> int:
        return int(self.s3.rsplit(":", 1)[1])


def aws_env(endpoint: str) -> dict[str, str]:
    """What boto3 (landing, MLflow's artifacts) and the AWS SDK need to reach the loopback endpoint."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",  # deltalake (the serving API's reader) on a plain-HTTP endpoint
        "MLFLOW_S3_ENDPOINT_URL": endpoint,
    }


def s3_client(endpoint: str):
    """boto3's S3 client for the loopback endpoint, with the credentials moto accepts."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint or None, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, region_name=REGION)


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


@dataclass
class LocalCluster:
    """moto's S3 server, a Spark master and `workers` workers on 127.0.0.1, with their logs under `workdir`."""

    workdir: Path
    endpoints: Endpoints
    workers: int = 2
    worker_cores: int = 1
    worker_memory: str = "2g"
    log: Callable[[str], None] = print
    _procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self) -> None:
        for port, what in ((self.endpoints.s3_port, "the S3 endpoint"), (self.endpoints.master_port, "the Spark master"),
                           (MASTER_UI_PORT, "the Spark master's web UI")):
            if _listening(port):
                raise SetupError(f"port {port} on {HOST} ({what}) is taken: stop what listens there "
                                 "(another `make cluster`?) and try again")
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._spawn("s3", [str(Path(sys.executable).with_name("moto_server")), "-H", HOST,
                               "-p", str(self.endpoints.s3_port)])
            _wait_for(lambda: _listening(self.endpoints.s3_port), 60, "moto_server", self._log_of("s3"))
            self._create_buckets()
            self._spawn("master", [*self._spark_class("org.apache.spark.deploy.master.Master"), "--host", HOST,
                                   "--port", str(self.endpoints.master_port), "--webui-port", str(MASTER_UI_PORT)])
            _wait_for(lambda: _listening(self.endpoints.master_port), 120, "the Spark master", self._log_of("master"))
            for n in range(1, self.workers + 1):
                work = self.workdir / f"worker-{n}"
                work.mkdir(exist_ok=True)
                self._spawn(f"worker-{n}", [*self._spark_class("org.apache.spark.deploy.worker.Worker"),
                                            "--host", HOST, "--cores", str(self.worker_cores),
                                            "--memory", self.worker_memory, "--webui-port", "0",
                                            "--work-dir", str(work), self.endpoints.master])
            _wait_for(lambda: self.alive_workers() == self.workers, 120, f"{self.workers} Spark workers",
                      self._log_of(f"worker-{self.workers}"))
        except BaseException:
            self.stop()
            raise
        self.log(f"cluster: master {self.endpoints.master} (UI http://{HOST}:{MASTER_UI_PORT}), "
                 f"{self.workers} workers x {self.worker_cores} core(s) {self.worker_memory}; "
                 f"S3 {self.endpoints.s3} (buckets {', '.join(self.endpoints.buckets)}); logs in {self.workdir}")

    def alive_workers(self) -> int:
        """The workers the master counts alive (its UI's `/json/`); 0 while the UI is not up yet, or still
        answers with its HTML page (a master just started can, before its JSON view is attached)."""
        try:
            with urllib.request.urlopen(f"http://{HOST}:{MASTER_UI_PORT}/json/", timeout=5) as answer:
                return int(json.load(answer).get("aliveworkers", 0))
        except (OSError, ValueError):
            return 0

    def stop(self) -> None:
        for _, proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
        for _, proc in reversed(self._procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()

    def _spark_class(self, main_class: str) -> list[str]:
        return [str(spark_home() / "bin" / "spark-class"), main_class]

    def _spawn(self, name: str, argv: list[str]) -> None:
        env = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": HOST, "SPARK_NO_DAEMONIZE": "1",
               "PYSPARK_PYTHON": sys.executable, **aws_env(self.endpoints.s3)}
        with self._log_of(name).open("w") as out:
            self._procs.append((name, subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                                       start_new_session=True)))

    def _log_of(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def _create_buckets(self) -> None:
        s3 = s3_client(self.endpoints.s3)
        for bucket in self.endpoints.buckets:
            s3.create_bucket(Bucket=bucket)


@contextmanager
def local_cluster(workdir: Path, config: Config | None = None, log: Callable[[str], None] = print,
                  **sizes) -> Iterator[LocalCluster]:
    """A started `LocalCluster` for the `cluster-local` profile (or `config`), stopped on the way out."""
    cluster = LocalCluster(workdir, Endpoints.of(config or load_config(PROFILE)), log=log, **sizes)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def upload_landing(landing: Path, uri: str, endpoint: str) -> int:
    """Copy a landing folder's files to the profile's landing URI (`s3://bucket/prefix`); how many."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    s3 = s3_client(endpoint)
    files = sorted(p for p in landing.rglob("*") if p.is_file())
    for path in files:
        s3.upload_file(str(path), bucket, "/".join(p for p in (prefix.strip("/"), path.relative_to(landing).as_posix())
                                                   if p))
    return len(files)


def run_days(first: dt.date, last: dt.date, profile: str, env: Mapping[str, str], log_file: Path,
             landing: str | None = None) -> float:
    """`c360 --profile <profile> run --date first --until last` in a fresh process (the cluster's driver);
    its seconds. The driver's output goes to `log_file`.

    Raises:
        C360Error: the run failed; the message holds the end of its output.
    """
    c360 = Path(sys.executable).with_name("c360")
    argv = [str(c360), "--profile", profile, "run", "--date", first.isoformat(), "--until", last.isoformat(),
            *(["--landing", landing] if landing else [])]
    started = time.perf_counter()
    with log_file.open("w") as out:
        done = subprocess.run(argv, env={**os.environ, **env}, cwd=CHECKOUT, stdout=out, stderr=subprocess.STDOUT,
                              check=False)
    if done.returncode != 0:
        tail = log_file.read_text(errors="replace")[-4000:]
        raise C360Error(f"`{' '.join(argv)}` failed (exit {done.returncode}), its output ends ({log_file}):\n{tail}")
    return time.perf_counter() - started


@dataclass(frozen=True)
class SampleRun:
    """What `run_sample` did: the same days of one sample through a local session and through the cluster."""

    days: tuple[dt.date, dt.date]
    local_root: str
    cluster_root: str
    local_seconds: float
    cluster_seconds: float
    tables: tuple[str, ...]  # the tables the cluster run wrote
    differ: dict[str, str]  # per table that is not the same in both lakes, how


# `run_local(first, last, landing_uri, lake_root, env)`: the days run on a local session; its seconds.
LocalRun = Callable[[dt.date, dt.date, str, str, Mapping[str, str]], float]


def run_sample(workdir: Path, persons: int = 40, days: int = 2, seed: int = 11, first: dt.date = dt.date(2026, 10, 1),
               local_profile: str = "local", cluster_profile: str = PROFILE, run_local: LocalRun | None = None,
               keep: Callable[[], None] | None = None, log: Callable[[str], None] = print) -> SampleRun:
    """A generated sample's days through `c360 run` twice, both reading the landing files from the S3 endpoint
    of a `LocalCluster`: on a local session (lake in `workdir`), then on the cluster with the lake and
    MLflow's artifacts on S3; the two lakes compared table by table. `workdir` is emptied first (the S3
    server starts empty too).

    Args:
        run_local: runs the local days (default: `c360 --profile <local_profile> run` in a fresh process).
        keep: called while the cluster still runs (e.g. to wait for the user).
    """
    from jobs.generate.main import generate

    config = load_config(cluster_profile)
    shutil.rmtree(workdir, ignore_errors=True)
    tracking = config.mlflow.tracking_uri
    if tracking.startswith("sqlite:///") and "://" in config.mlflow.artifact_root:
        # The S3 server starts empty: a registry left by an earlier cluster would name artifacts it no longer has.
        Path(tracking.removeprefix("sqlite:///")).unlink(missing_ok=True)
    workdir.mkdir(parents=True)
    key = {"C360_PSEUDONYM_KEY": f"{PROFILE}-sample-key-" + "0" * 32}  # both lakes, the same pseudonyms
    last = first + dt.timedelta(days=days - 1)
    landing = workdir / "sample" / "landing"
    generate(workdir / "sample", customers=persons, days=days, seed=seed, start=first, log=lambda *_: None)
    log(f"sample: {persons} persons x {days} days ({first} .. {last}) in {landing}")

    local_root = str(workdir / "local-lake")
    with local_cluster(workdir / "cluster", config, log=log) as cluster:
        endpoint = cluster.endpoints.s3
        files = upload_landing(landing, config.landing.uri, endpoint)
        log(f"landing: {files} files uploaded to {config.landing.uri}")
        # Both runs read the same landing files (the file's URI is part of the lineage columns).
        env = {**key, **aws_env(endpoint)}
        if run_local is None:
            local_seconds = run_days(first, last, local_profile, {**env, "C360_LAKE_ROOT": local_root},
                                     workdir / "local-run.log", config.landing.uri)
        else:
            local_seconds = run_local(first, last, config.landing.uri, local_root, env)
        log(f"local run ({local_profile}): {local_seconds:.1f} s, lake {local_root}")
        cluster_seconds = run_days(first, last, cluster_profile, env, workdir / "cluster-run.log")
        log(f"cluster run ({cluster_profile}): {cluster_seconds:.1f} s, lake {config.lake.root}")
        tables = table_names(config.lake.root, endpoint)
        differ = differing_tables(local_root, config.lake.root, b_endpoint=endpoint)
        if keep is not None:
            keep()
    return SampleRun((first, last), local_root, config.lake.root, local_seconds, cluster_seconds, tuple(tables),
                     differ)


# What differs between two runs of the same days by design: the run's identity and clock.
RUN_STAMPS = frozenset({"_batch_id", "_ingested_at", "batch_id", "run_id", "orchestrator_run", "started_at",
                        "finished_at", "seconds", "ingested_at", "validated_at", "run_at", "generated_at",
                        "computed_at", "code_version"})


def table_names(root: str, endpoint: str = "") -> list[str]:
    """The `<layer>.<table>` Delta tables under a lake root (a folder, or s3a:// through `endpoint`)."""
    if "://" not in root or root.startswith("file:"):
        base = Path(root.removeprefix("file://").removeprefix("file:"))
        return sorted(f"{log.parent.parent.name}.{log.parent.name}" for log in base.glob("*/*/_delta_log"))
    bucket, _, prefix = root.split("://", 1)[1].partition("/")
    s3 = s3_client(endpoint)
    found = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix.strip('/')}/"):
        for obj in page.get("Contents", []):
            parts = obj["Key"].removeprefix(f"{prefix.strip('/')}/").split("/")
            if len(parts) > 3 and parts[2] == "_delta_log" and not parts[0].startswith("_"):
                found.add(f"{parts[0]}.{parts[1]}")
    return sorted(found)


def table_rows(root: str, table: str, endpoint: str = "") -> Counter:
    """A table's rows (its columns but the run stamps, in name order; a map's entries sorted) as a multiset;
    read with deltalake."""
    import pyarrow as pa
    from deltalake import DeltaTable

    layer, name = table.split(".")
    uri = f"{root.rstrip('/')}/{layer}/{name}".replace("s3a://", "s3://", 1)
    options = {"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": ACCESS_KEY,
               "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": REGION} if uri.startswith("s3://") else None
    data = DeltaTable(uri, storage_options=options).to_pyarrow_table()
    columns = sorted(c for c in data.column_names if c not in RUN_STAMPS)
    # A map's entries come in the order its rows were collected, which the partitioning decides.
    maps = {c for c in columns if pa.types.is_map(data.schema.field(c).type)}
    return Counter(tuple(tuple(sorted(row[c])) if c in maps and row[c] is not None else _hashable(row[c])
                         for c in columns) for row in data.select(columns).to_pylist())


def differing_tables(a: str, b: str, a_endpoint: str = "", b_endpoint: str = "") -> dict[str, str]:
    """Per table that is not the same in lakes `a` and `b` (every column but the run stamps, row for row),
    what differs; empty when every table matches."""
    names_a, names_b = set(table_names(a, a_endpoint)), set(table_names(b, b_endpoint))
    out = {t: f"only in {a}" for t in names_a - names_b} | {t: f"only in {b}" for t in names_b - names_a}
    for table in sorted(names_a & names_b):
        rows_a, rows_b = table_rows(a, table, a_endpoint), table_rows(b, table, b_endpoint)
        if rows_a != rows_b:
            out[table] = (f"{sum(rows_a.values())} vs {sum(rows_b.values())} rows; "
                          f"{sum((rows_a - rows_b).values())} only in the first, "
                          f"{sum((rows_b - rows_a).values())} only in the second")
    return out


def _hashable(value):
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, float):
        return float(f"{value:.10g}")  # sums over other partitionings differ in the last bits
    return value


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def _wait_for(ready: Callable[[], bool], seconds: float, what: str, log_file: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.5)
    tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
    raise SetupError(f"{what} did not start within {seconds:.0f} s (log {log_file}):\n{tail}")
