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
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jobs.common.errors import C360Error


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
    )
    print(f"wrote {report.files} files for {report.persons} persons to {args.out} in {report.seconds:.1f} s")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from jobs.common import runtime
    from jobs.ingest.main import ingest

    rt = runtime.start(args.profile, app_name="c360 ingest")
    report = ingest(rt.spark, rt.lake, rt.config, args.date, args.until, landing=args.landing)
    rows = [
        {"source": s.source, "files": s.files_seen, "skipped": s.files_skipped, "loaded": s.files_loaded,
         "changed": s.files_changed, "rows": s.rows_loaded, "quarantined": s.rows_quarantined,
         "status": "FAILED" if s.error else "ok"}
        for s in report.sources
    ]
    print(f"batch {report.batch_id}: {report.start} .. {report.end}")
    print(render(rows, list(rows[0]), "table"))
    report.raise_for_failures()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from jobs import pipeline

    steps = tuple(args.steps.split(",")) if args.steps else pipeline.STEPS
    known = pipeline.STEPS + pipeline.WEEKLY_STEPS
    unknown = [s for s in steps if s not in known]
    if unknown:
        raise C360Error(f"unknown step(s) {', '.join(unknown)}; steps: {', '.join(known)}")
    print(f"c360 run {args.date}{f' .. {args.until}' if args.until else ''}: {' -> '.join(steps)}")
    pipeline.run(args.date, args.until, landing=args.landing, profile=args.profile, steps=steps)
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from jobs.common import runtime
    from jobs.identity.main import resolve_identities

    rt = runtime.start(args.profile, app_name="c360 resolve")
    report = resolve_identities(rt.spark, rt.lake, rt.config, args.date, retrain=args.retrain)
    rows = [{"figure": k, "value": v} for k, v in asdict(report).items()]
    print(render(rows, ["figure", "value"], "table"))
    return 0


def cmd_build_features(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from jobs.common import runtime
    from jobs.features.main import build_features

    rt = runtime.start(args.profile, app_name="c360 build-features")
    report = build_features(rt.spark, rt.lake, rt.config.lake.reports, args.date, docs=not args.no_docs)
    rows = [{"figure": k, "value": v} for k, v in asdict(report).items()]
    print(render(rows, ["figure", "value"], "table"))
    return 0


def cmd_train_recommender(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from jobs.common import runtime
    from jobs.recommend.main import train_recommender

    rt = runtime.start(args.profile, app_name="c360 train-recommender")
    report = train_recommender(rt.spark, rt.lake, rt.config, args.date, compare_implicit=args.implicit or None)
    rows = [{"figure": k, "value": v} for k, v in asdict(report).items()]
    print(render(rows, ["figure", "value"], "table"))
    return 0


def cmd_score_recommendations(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from jobs.common import runtime
    from jobs.recommend.main import score_recommendations

    rt = runtime.start(args.profile, app_name="c360 score-recommendations")
    report = score_recommendations(rt.spark, rt.lake, rt.config, args.date)
    rows = [{"figure": k, "value": v} for k, v in asdict(report).items()]
    print(render(rows, ["figure", "value"], "table"))
    return 0


def cmd_tables(args: argparse.Namespace) -> int:
    from jobs.common.lake import Lake
    from jobs.common.spark import build_spark

    config = _config(args)
    spark = build_spark(config, app_name="c360 tables", register_tables=False)
    infos = Lake(spark, config.lake).tables()
    rows = [{"table": i.name, "layer": i.layer, "version": i.version, "rows": i.rows} for i in infos]
    if not rows:
        print(f"no tables yet under {config.lake.root}")
        return 0
    print(render(rows, ["table", "layer", "version", "rows"], args.format))
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    from jobs.common.spark import build_spark
    from jobs.common.sql import run_query

    if bool(args.query) == bool(args.file):
        raise C360Error("give one SQL statement, or --file with statements separated by ';'")
    statements = [(None, args.query)] if args.query else split_statements(_read_sql_file(args.file))
    config = _config(args)
    spark = build_spark(config, app_name="c360 sql")
    for title, statement in statements:
        columns, rows, truncated = run_query(spark, statement, args.limit)
        if title:
            print(f"\n-- {title}")
        print(render(rows, columns, args.format))
        if truncated:
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
        return json.dumps([{c: _jsonable(r[c]) for c in columns} for r in rows], indent=None)
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


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="c360", description="Retail Customer 360 lakehouse on Spark and Delta Lake.")
    parser.add_argument(
        "--profile", default=None,
        help="config profile: a name in conf/ or the path of a YAML file (default: $C360_PROFILE, else local)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
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
    gen.add_argument("--overwrite", action="store_true", help="replace landing/ and truth/ if present")

    ing = command("ingest", cmd_ingest, "landing files of a day (or days) -> bronze, bad rows -> ops.quarantine")
    ing.add_argument("--date", type=_date, required=True, help="landing day YYYY-MM-DD")
    ing.add_argument("--until", type=_date, default=None, help="last day of a range (inclusive)")
    ing.add_argument("--landing", default=None, help="landing folder or s3://bucket/prefix (default: the profile's)")

    run = command("run", cmd_run,
                  "the daily pipeline (ingest -> quality gate -> silver -> identities -> features -> "
                  "recommendations) for a day or a range")
    run.add_argument("--date", type=_date, required=True, help="first day YYYY-MM-DD")
    run.add_argument("--until", type=_date, default=None, help="last day of a range (inclusive)")
    run.add_argument("--landing", default=None, help="landing folder or s3://bucket/prefix (default: the profile's)")
    run.add_argument("--steps", default=None,
                     help="comma-separated subset of: ingest,quality_gate,silver,resolve_identities,build_features,"
                          "score_recommendations (and train_recommender, the weekly step)")

    res = command("resolve", cmd_resolve, "identity resolution as of a day: silver records -> customer keys")
    res.add_argument("--date", type=_date, required=True, help="resolve everything landed up to this day")
    res.add_argument("--retrain", action="store_true", help="estimate the match model again and score every pair")

    feat = command("build-features", cmd_build_features,
                   "dbt build of the feature layer as of a day: silver -> gold marts (RFM, features, customer_360)")
    feat.add_argument("--date", type=_date, required=True, help="the as-of day: only events up to it count")
    feat.add_argument("--no-docs", action="store_true", help="skip dbt docs generate")

    train = command("train-recommender", cmd_train_recommender,
                    "search, train and evaluate the recommender as of a day; log it to MLflow, register it, "
                    "promote it to champion if it beats the current one on the same holdout")
    train.add_argument("--date", type=_date, required=True, help="the last day of data (the holdout ends on it)")
    train.add_argument("--implicit", action="store_true",
                       help="also train the `implicit` library's ALS on the same split, for comparison")

    score = command("score-recommendations", cmd_score_recommendations,
                    "the champion recommender's top N for every customer as of a day -> serving.recommendations")
    score.add_argument("--date", type=_date, required=True, help="the run day")

    tables = command("tables", cmd_tables, "list every lake table with its layer, Delta version and row count")
    tables.add_argument("--format", choices=("table", "csv", "json"), default="table")

    sql = command("sql", cmd_sql, "run SQL over the lake tables (bronze.x, silver.y, ...)")
    sql.add_argument("query", nargs="?", help="one SQL statement")
    sql.add_argument("--file", help="a .sql file of statements separated by ';' (a leading -- comment titles each)")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.add_argument("--limit", type=int, default=1000, help="rows to print at most (0: all; default 1000)")

    bench = command("bench", cmd_bench, "run a benchmark under bench/ and print its figures")
    bench.add_argument("name", help="benchmark name (a module in bench/, e.g. lake, generate)")
    bench.add_argument("--scale", type=_positive, default=None, help="rows or persons (default: the benchmark's own)")
    bench.add_argument("--json", action="store_true", help="also print the figures as one JSON object (last line)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except C360Error as exc:
        print(f"c360: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
