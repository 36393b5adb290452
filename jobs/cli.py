"""`c360`: the command line. Every command takes `--profile NAME`.

Exit code 0 on success; on an error one clear message on stderr and exit code 2
(1 for an unexpected failure, with its traceback).
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jobs.common.errors import C360Error
from jobs.common.stage import jsonable


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date: use YYYY-MM-DD") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be greater than 0")
    return value


def _config(args: argparse.Namespace):
    from jobs.common.config import load_config

    return load_config(args.profile)


def cmd_generate(args: argparse.Namespace) -> int:
    from jobs.generate.main import generate

    config = _config(args)
    report = generate(
        out=Path(args.out),
        customers=args.customers,
        days=args.days,
        seed=args.seed,
        start=args.start,
        rates=config.generator.rates(args.difficulty),
        overwrite=args.overwrite,
        **({"skus": args.skus} if args.skus else {}),
    )
    print(f"wrote {report.files} files for {report.persons} persons to {args.out} in {report.seconds:.1f} s")
    if args.json:
        print(json.dumps({
            "persons": report.persons, "files": report.files, "seconds": round(report.seconds, 2),
            "rows_per_source": report.rows_per_source,
            "duplicate_rate_measured": report.duplicate_rate_measured,
            "duplicate_rate_configured": report.duplicate_rate_configured,
        }))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from jobs import pipeline
    from jobs.common.stage import Days

    names = tuple(n.strip() for n in args.stages.split(",")) if args.stages else pipeline.DAILY_NAMES
    unknown = [n for n in names if n not in pipeline.STAGES]
    if unknown:
        raise C360Error(f"unknown stage(s) {', '.join(unknown)}; stages: {', '.join(pipeline.STAGES)}")
    days = Days.of(args.date, args.until)
    options: dict[str, dict[str, Any]] = {}
    for name, chosen in pipeline.STAGES.items():
        for option in chosen.options:
            value = getattr(args, option.keyword)
            if value is None:
                continue
            if name not in names:
                raise C360Error(f"{option.flag} is an option of the {name} stage, which this run does not include "
                                f"(--stages {','.join(names)})")
            options.setdefault(name, {})[option.keyword] = value
    print(f"c360 run {days}: {' -> '.join(n for n in pipeline.STAGES if n in names)}")
    pipeline.run(_runtime(args, "c360 run"), days, names, options=options)
    return 0


def _runtime(args: argparse.Namespace, app_name: str):
    from jobs.common import logs, runtime
    from jobs.common.config import load_config

    config = load_config(args.profile)
    logs.PROGRESS.info("%s: details in %s", app_name, logs.log_to_file(config.lake.root))
    return runtime.start(config=config, app_name=app_name).with_landing(getattr(args, "landing", None))


def stage_command(name: str) -> Callable[[argparse.Namespace], int]:
    """The body of a stage's own command: run it over the days given, print its report."""

    def command(args: argparse.Namespace) -> int:
        from jobs import pipeline
        from jobs.common.stage import Days, StageError

        chosen = pipeline.stage(name)
        options = {o.keyword: getattr(args, o.keyword) for o in chosen.options
                   if getattr(args, o.keyword) is not None}
        days = Days.of(args.date, args.until)
        try:
            report = chosen.run(_runtime(args, f"c360 {chosen.command}"), days, **options)
        except StageError as exc:
            if exc.report is not None:
                print(render_report(exc.report.as_dict()))
            raise
        print(render_report(report.as_dict()))
        return 0

    return command


def _add_option(parser: argparse.ArgumentParser, option, help_text: str) -> None:
    """A stage option as a flag (its value None unless given)."""
    if option.metavar:
        parser.add_argument(option.flag, dest=option.keyword, metavar=option.metavar, default=None, help=help_text)
    else:
        parser.add_argument(option.flag, dest=option.keyword, action="store_const", const=option.value,
                            default=None, help=help_text)


def render_report(figures: dict[str, Any]) -> str:
    """A stage report as a table: one row per figure; a list of records (per source) as its own table."""
    tables = {k: v for k, v in figures.items() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)}
    rows = [{"figure": k, "value": v} for k, v in _flat(figures).items() if k.split(".")[0] not in tables]
    parts = [render(rows, ["figure", "value"], "table")]
    for records in tables.values():
        parts.append(render(records, list(records[0]), "table"))
    return "\n".join(parts)


def _flat(figures: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in figures.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = ", ".join(map(str, value)) if isinstance(value, list) else value
    return out


def cmd_tables(args: argparse.Namespace) -> int:
    from jobs.common.spark import build_spark

    config = _config(args)
    print(_tables_listing(build_spark(config, app_name="c360 tables", register_tables=False, read_only=True), config,
                          args.format))
    return 0


def _tables_listing(spark, config, fmt: str) -> str:
    """Every lake table with its layer, Delta version and row count, rendered."""
    from jobs.common.lake import Lake

    rows = [{"table": i.name, "layer": i.layer, "version": i.version, "rows": i.rows}
            for i in Lake(spark, config.lake).tables()]
    return render(rows, ["table", "layer", "version", "rows"], fmt) if rows else f"no tables yet under {config.lake.root}"


def cmd_sql(args: argparse.Namespace) -> int:
    from jobs.common.lake import Lake
    from jobs.common.spark import build_spark
    from jobs.common.sql import register_named_tables, run_query

    if bool(args.query) == bool(args.file):
        raise C360Error("give one SQL statement, or --file with statements separated by ';'")
    statements = [(None, args.query)] if args.query else split_statements(_read_sql_file(args.file))
    config = _config(args)
    spark = build_spark(config, app_name="c360 sql", register_tables=False, read_only=True)
    lake = Lake(spark, config.lake)
    if args.tables:
        print(_tables_listing(spark, config, args.format))
    for title, statement in statements:
        register_named_tables(lake, statement)
        columns, rows, truncated = run_query(spark, statement, args.limit, known_tables=lake.table_names)
        if title:
            print(f"\n-- {title}")
        print(render(rows, columns, args.format))
        if truncated:
            print(f"(showing the first {args.limit} rows; --limit 0 shows all)", file=sys.stderr)
    return 0


def cmd_duckdb(args: argparse.Namespace) -> int:
    from jobs.serving.duckdb_lake import BI_LAYERS, connect, view_statements

    config = _config(args)
    layers = tuple(args.layers.split(",")) if args.layers else BI_LAYERS
    if args.print_views:
        print("\n".join(view_statements(config.lake.root, layers)))
        return 0
    if args.query and args.file:
        raise C360Error("give one SQL statement or --file, not both")
    con = connect(config.lake.root, layers)
    if args.query or args.file:
        statements = [(None, args.query)] if args.query else split_statements(_read_sql_file(args.file))
    else:  # a shell: statements from standard input, one per line ending in ';'
        if sys.stdin.isatty():
            print("DuckDB over the lake's " + ", ".join(layers) + " tables (views <layer>.<name>); end a statement "
                  "with ';', Ctrl-D quits", file=sys.stderr)
        statements = split_statements(sys.stdin.read())
    import duckdb

    for title, statement in statements:
        try:
            cursor = con.execute(statement)
        except duckdb.Error as exc:
            raise C360Error(f"DuckDB: {str(exc).splitlines()[0]}") from None
        if cursor.description is None:
            continue
        columns = [d[0] for d in cursor.description]
        fetched = cursor.fetchmany(args.limit + 1) if args.limit else cursor.fetchall()
        rows = [dict(zip(columns, r, strict=True)) for r in fetched[: args.limit or None]]
        if title:
            print(f"\n-- {title}")
        print(render(rows, columns, args.format))
        if args.limit and len(fetched) > args.limit:
            print(f"(showing the first {args.limit} rows; --limit 0 shows all)", file=sys.stderr)
    return 0


def _read_sql_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise C360Error(f"cannot read SQL file {path}: {exc.strerror}") from None


def split_statements(text: str) -> list[tuple[str | None, str]]:
    """Statements separated by ';' at a line end; a leading `-- comment` becomes the title."""
    out = []
    for chunk in text.split(";\n"):
        lines = [line for line in chunk.strip().splitlines() if line.strip()]
        comments = [line.strip()[2:].strip() for line in lines if line.strip().startswith("--")]
        body = "\n".join(line for line in lines if not line.strip().startswith("--")).strip().rstrip(";")
        if body:
            out.append((comments[0] if comments else None, body))
    return out


def cmd_serve(args: argparse.Namespace) -> int:
    from jobs.serving.api import serve

    config = _config(args)
    host, port = args.host or config.serving.host, args.port or config.serving.port
    print(f"c360 serve: the serving tables of {config.lake.root} on http://{host}:{port} (docs at /docs)", flush=True)
    serve(config, host, port)
    return 0


def cmd_bi(args: argparse.Namespace) -> int:
    from jobs.serving.bi import run_bi

    config = _config(args)
    run_bi(config, args.host or config.serving.bi_host, args.port or config.serving.bi_port,
           ready=lambda line: print(line, flush=True))
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from jobs import cluster

    def interrupt(signum, frame):  # noqa: ARG001 - signal handler signature
        raise KeyboardInterrupt

    # Ctrl-C, or a TERM from a supervisor (or from a shell that started this in the background, where
    # SIGINT is ignored): either stops the cluster's processes on the way out.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)

    def wait() -> None:
        print("the cluster runs until Ctrl-C: `c360 --profile cluster-local ...` uses it "
              f"(with the AWS_* variables of jobs/cluster.py's aws_env); Spark UI http://{cluster.HOST}:"
              f"{cluster.MASTER_UI_PORT}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping the cluster")

    run = cluster.run_sample(Path(args.workdir).resolve(), persons=args.persons, days=args.days, first=args.date,
                             keep=wait if args.keep else None)
    rows = [{"run": "local", "profile": "local", "lake": run.local_root, "seconds": round(run.local_seconds, 1)},
            {"run": "cluster", "profile": cluster.PROFILE, "lake": run.cluster_root,
             "seconds": round(run.cluster_seconds, 1)}]
    print(render(rows, ["run", "profile", "lake", "seconds"], "table"))
    if run.differ:
        raise C360Error(f"{len(run.differ)} of {len(run.tables)} tables differ between the local and the cluster "
                        "run:\n  " + "\n  ".join(f"{t}: {why}" for t, why in run.differ.items()))
    print(f"all {len(run.tables)} tables the cluster run wrote equal the local run's, row for row")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from jobs.common.bench import run_bench

    figures = run_bench(args.name, args.scale, args.profile)
    rows = [{"figure": k, "value": v} for k, v in figures.items()]
    print(render(rows, ["figure", "value"], "table"))
    if args.json:
        print(json.dumps(figures, sort_keys=False))
    return 0


def render(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str) -> str:
    """Rows as an aligned text table, CSV or a JSON array."""
    if fmt == "json":
        return json.dumps([{c: jsonable(r[c]) for c in columns} for r in rows], indent=None)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_text(r[c]) for c in columns] for r in rows])
        return buf.getvalue().rstrip("\n")
    cells = [[_text(r[c]) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([line, sep, *body, f"({len(rows)} row{'s' if len(rows) != 1 else ''})"])


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.0f}"
    return str(value)


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _days_arguments(p: argparse.ArgumentParser, today_by_default: bool = False) -> None:
    if today_by_default:
        p.add_argument("--date", type=_date, default=dt.datetime.now(dt.UTC).date(),
                       help="(first) landing day YYYY-MM-DD (default: today, UTC)")
    else:
        p.add_argument("--date", type=_date, required=True, help="(first) landing day YYYY-MM-DD")
    p.add_argument("--until", type=_date, default=None, help="last day of a range (inclusive)")
    p.add_argument("--landing", default=None, help="landing folder or s3://bucket/prefix (default: the profile's)")


def build_parser() -> argparse.ArgumentParser:
    from jobs import pipeline

    parser = argparse.ArgumentParser(prog="c360", description="Retail Customer 360 lakehouse on Spark and Delta Lake.")
    parser.add_argument(
        "--profile", default=None,
        help="config profile: a name in conf/ or the path of a YAML file (default: $C360_PROFILE, else local)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable[[argparse.Namespace], int], help_: str,
                aliases: Sequence[str] = ()) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, aliases=list(aliases))
        p.add_argument("--profile", default=argparse.SUPPRESS, help="config profile (as above)")
        p.set_defaults(func=func)
        return p

    gen = command("generate", cmd_generate, "write synthetic landing files and ground truth")
    gen.add_argument("--customers", type=_positive, required=True, help="number of persons")
    gen.add_argument("--days", type=_positive, default=30, help="days of activity (default 30)")
    gen.add_argument("--seed", type=int, default=42, help="random seed (same seed, same files)")
    gen.add_argument("--start", type=_date, default=dt.date(2026, 10, 1), help="first day (default 2026-10-01)")
    gen.add_argument("--out", required=True, help="output folder: landing/ and truth/ go below it")
    gen.add_argument("--difficulty", choices=("default", "hard"), default="default",
                     help="variation rates from the config's generator section")
    gen.add_argument("--skus", type=_positive, default=None,
                     help="catalog size on the first day (default: the generator's, 2000), about 1.5 %% more "
                          "launched each week; the products feed is a full snapshot a day: SKUs x days rows")
    gen.add_argument("--overwrite", action="store_true", help="replace landing/ and truth/ if present")
    gen.add_argument("--json", action="store_true", help="also print the report as one JSON object (last line)")

    run = command("run", cmd_run, "the daily pipeline (ingest -> quality gate -> silver -> identities -> features -> "
                  "recommendations) for a day or a range, without Airflow")
    _days_arguments(run)
    run.add_argument("--stages", "--steps", dest="stages", default=None,
                     help=f"comma-separated subset of the stages: {','.join(pipeline.STAGES)} (default: the daily ones)")
    for chosen in pipeline.STAGES.values():
        for option in chosen.options:  # every stage's options, for the stage of the run that takes it
            _add_option(run, option, f"{option.help} ({chosen.name})")

    for chosen in pipeline.STAGES.values():
        p = command(chosen.command, stage_command(chosen.name),
                    f"{chosen.summary} (the `{chosen.name}` {chosen.cadence} task)", aliases=chosen.aliases)
        _days_arguments(p, today_by_default=chosen.cadence == "privacy")
        for option in chosen.options:
            _add_option(p, option, option.help)

    tables = command("tables", cmd_tables, "list every lake table with its layer, Delta version and row count")
    tables.add_argument("--format", choices=("table", "csv", "json"), default="table")

    sql = command("sql", cmd_sql, "run SQL over the lake tables (bronze.x, silver.y, ...)")
    sql.add_argument("query", nargs="?", help="one SQL statement")
    sql.add_argument("--file", help="a .sql file of statements separated by ';' (a leading -- comment titles each)")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.add_argument("--limit", type=int, default=1000, help="rows to print at most (0: all; default 1000)")
    sql.add_argument("--tables", action="store_true", help="first list every table, as `c360 tables` does")

    serve = command("serve", cmd_serve, "start the read API over the latest complete serving day (docs/serving.md)")
    serve.add_argument("--host", default=None, help="address to listen on (default: serving.host, 127.0.0.1)")
    serve.add_argument("--port", type=_positive, default=None, help="port (default: serving.port, 8360)")

    bi = command("bi", cmd_bi, "start Spark's Thrift JDBC/ODBC server over the lake (jdbc:hive2://127.0.0.1:10000, "
                 "every table by <layer>.<name>) for BI tools")
    bi.add_argument("--host", default=None, help="address to listen on (default: serving.bi_host, 127.0.0.1)")
    bi.add_argument("--port", type=_positive, default=None, help="port (default: serving.bi_port, 10000)")

    duck = command("duckdb", cmd_duckdb, "SQL over the gold and serving tables in DuckDB, no JVM (delta-rs -> Arrow); "
                   "--print-views gives the views for another DuckDB client")
    duck.add_argument("query", nargs="?", help="one SQL statement (none: statements from standard input)")
    duck.add_argument("--file", help="a .sql file of statements separated by ';'")
    duck.add_argument("--format", choices=("table", "csv", "json"), default="table")
    duck.add_argument("--limit", type=int, default=1000, help="rows to print at most (0: all; default 1000)")
    duck.add_argument("--layers", default=None, help="comma-separated layers to expose (default: gold,serving)")
    duck.add_argument("--print-views", action="store_true",
                      help="print CREATE SCHEMA / CREATE VIEW statements (read_parquet over each table's current "
                           "files) for the DuckDB CLI or another client, and exit")

    command("source-freshness", cmd_source_freshness,
            "dbt source freshness: the newest landing day of each daily source against now (exit 2 when stale)")
    campaign = command("campaign", cmd_campaign, "campaign statistics (docs/campaigns.md)")
    what = campaign.add_subparsers(dest="what", required=True, metavar="WHAT")
    size = what.add_parser("size", help="customers (and days) a campaign needs to detect an uplift, before launch",
                           description="customers (and days) a campaign needs to detect an uplift, before launch")
    size.add_argument("--baseline", type=float, default=None,
                      help="the holdout's expected conversion rate in the attribution window, e.g. 0.05 "
                           "(default: the campaign's readout.baseline_conversion, with --campaign)")
    size.add_argument("--uplift", type=float, default=None,
                      help="the smallest absolute uplift worth detecting, e.g. 0.01 (one percentage point; default: "
                           "the campaign's readout.minimum_uplift)")
    size.add_argument("--holdout-share", type=float, default=None,
                      help="the holdout's share (default: the campaign's, with --campaign; else 0.1)")
    size.add_argument("--campaign", default=None, help="a campaign id in campaigns.dir: its holdout share")
    size.add_argument("--alpha", type=float, default=None,
                      help="two-sided significance level (default: the campaign's readout.alpha, else 0.05)")
    size.add_argument("--power", type=float, default=None, help="power (default: the campaign's readout.power, else 0.8)")
    size.add_argument("--per-day", type=_positive, default=None,
                      help="customers entering the audience per day: also say how many days it takes")

    report = what.add_parser("report", help="a campaign's read-out: uplift, interval, p-value (gold.campaign_results)",
                             description="a campaign's read-out: uplift, interval, p-value (gold.campaign_results)")
    report.add_argument("id", help="the campaign id")
    report.add_argument("--date", type=_date, default=None, help="the read-out as of this day (default: the latest)")

    cl = command("cluster", cmd_cluster,
                 "start a Spark standalone master and two workers and an S3 server (moto) on 127.0.0.1, run a "
                 "generated sample's days on them (--profile cluster-local) and on a local session, compare the "
                 "two lakes table by table (docs/cluster.md)")
    cl.add_argument("--persons", type=_positive, default=40, help="persons in the sample (default 40)")
    cl.add_argument("--days", type=_positive, default=2, help="days of the sample (default 2)")
    cl.add_argument("--date", type=_date, default=dt.date(2026, 10, 1), help="the first day (default 2026-10-01)")
    cl.add_argument("--workdir", default=".cluster/sample",
                    help="the sample, the local lake, the run logs and the cluster's logs (emptied first)")
    cl.add_argument("--keep", action="store_true", help="keep the cluster running after the comparison, until Ctrl-C")

    bench = command("bench", cmd_bench, "run a benchmark under bench/ and print its figures")
    bench.add_argument("name", help="benchmark name (a module in bench/, e.g. lake, generate)")
    bench.add_argument("--scale", type=_positive, default=None, help="rows or persons (default: the benchmark's own)")
    bench.add_argument("--json", action="store_true", help="also print the figures as one JSON object (last line)")
    return parser


def cmd_source_freshness(args: argparse.Namespace) -> int:
    from jobs.features.main import source_freshness

    found = source_freshness(_runtime(args, "c360 source-freshness"))
    print(f"{'source':<20}{'status':<16}{'newest landing day':<28}{'age (hours)':>12}")
    for f in found:
        print(f"{f.source:<20}{f.status:<16}{f.max_loaded_at or '-':<28}{f.age_hours if f.age_hours is not None else '-':>12}")
    stale = [f.source for f in found if f.status not in ("pass", "warn")]
    if stale:
        raise C360Error(f"source freshness: {', '.join(stale)} older than their error_after (or unreadable); "
                        f"see dbt_project/models/staging/__sources.yml")
    return 0


def cmd_campaign(args: argparse.Namespace) -> int:
    from jobs.common import campaigns as definitions
    from jobs.common import stats

    if args.what == "report":
        from jobs.campaigns import report

        print(report.render(report.read(_config(args).lake.root, args.id, args.date)))
        return 0
    share, baseline, uplift, alpha, power = args.holdout_share, args.baseline, args.uplift, args.alpha, args.power
    if args.campaign:
        config = _config(args)
        found = {c.id: c for c in definitions.load(config.campaigns.dir)}
        if args.campaign not in found:
            raise C360Error(f"no campaign {args.campaign!r} in {config.campaigns.dir}; campaigns there: "
                            f"{', '.join(sorted(found)) or 'none'}")
        campaign = found[args.campaign]
        share = share or campaign.holdout_share
        baseline = baseline if baseline is not None else campaign.baseline_conversion
        uplift = uplift if uplift is not None else campaign.minimum_uplift
        alpha = alpha if alpha is not None else campaign.alpha
        power = power if power is not None else campaign.power
    if baseline is None or uplift is None:
        raise C360Error("campaign size: give --baseline and --uplift, or --campaign with a readout block that "
                        "sets baseline_conversion and minimum_uplift")
    share, alpha, power = share or 0.1, alpha or 0.05, power or 0.8
    try:
        needed = stats.sample_size(baseline, uplift, share, alpha, power)
    except ValueError as exc:
        raise C360Error(f"campaign size: {exc}") from None
    print(f"to detect {uplift:+.4g} over a baseline of {baseline:.4g} (two-sided alpha {alpha}, "
          f"power {power}) with a holdout share of {share:.4g}:")
    print(f"  holdout  {needed.holdout:>12,}")
    print(f"  treated  {needed.treated:>12,}")
    print(f"  total    {needed.total:>12,}")
    if args.per_day:
        print(f"  at {args.per_day:,} customers a day: {math.ceil(needed.total / args.per_day):,} days of "
              "assignment, then the attribution window")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from jobs.common import logs

    args = build_parser().parse_args(argv)
    logs.quiet_env()
    logs.setup_console(verbose=bool(os.environ.get("C360_VERBOSE")))
    try:
        return args.func(args)
    except C360Error as exc:
        print(f"c360: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
