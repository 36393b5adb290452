"""Data Docs of the quality gate, under `<reports_dir>/data_docs/`.

- `validations/<day>/<source>/bronze/results.html`: GX's page of one validation
  (one page per day and source; a rerun replaces it);
- `expectations/<source>.html`: GX's page of a suite;
- `index.html`: every day and source in `ops.dq_results`, newest day first, with
  its status, counts and failing expectations, linking to the pages above.

GX's site builder renders its index from the validation results its context
holds; an ephemeral context holds only the current process's, so each run would
forget the earlier days. The pages are therefore rendered with GX's renderers and
the index from `ops.dq_results`. GX's templates load Bootstrap, jQuery and friends
from public CDNs; the pages are written pointing at copies under `static/vendor/`
instead (Bootstrap and jQuery from their XStatic wheels), and the CDN-only extras
(bootstrap-table, the date picker, Vega, Font Awesome, a dark theme, GX's logo) are
left out: the pages render styled with no network. The index is self-contained.
"""
from __future__ import annotations

import datetime as dt
import functools
import html
import re
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.files import write_text

# Value sets longer than this (a whole catalog) are cut on the pages.
_MAX_VALUES_SHOWN = 20


def docs_dir(reports_dir: str | Path) -> str:
    return f"{str(reports_dir).rstrip('/')}/data_docs"


def validation_page(day: dt.date, source: str) -> str:
    """Path of a validation page relative to the Data Docs folder."""
    # Four folders deep, as GX's page template expects for its links to index.html and the suite page.
    return f"validations/{day.isoformat()}/{source}/bronze/results.html"


def render_validation_page(result: Any) -> str:
    """GX's page for one validation result."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer

    for r in result.results:
        kwargs = r.expectation_config.kwargs
        values = kwargs.get("value_set")
        if isinstance(values, list) and len(values) > _MAX_VALUES_SHOWN:
            kwargs["value_set"] = [*values[:_MAX_VALUES_SHOWN], f"... and {len(values) - _MAX_VALUES_SHOWN} more"]
    return _page_view().render(ValidationResultsPageRenderer().render(result))


def write_validation_page(spark: SparkSession, folder: str, day: dt.date, source: str, page: str) -> str:
    """Write one validation's page (`render_validation_page`), pointed at the local assets; returns its path."""
    relative = validation_page(day, source)
    path = f"{folder}/{relative}"
    write_text(spark, path, offline(page, "../" * relative.count("/")))
    return path


# What GX's templates load from CDNs -> the local copy (under static/vendor/), or None: left out.
_LOCAL = {
    "bootstrap.min.css": "bootstrap.min.css",
    "bootstrap.min.js": "bootstrap.bundle.min.js",  # the bundle carries popper
    "jquery-3.7.1.min.js": "jquery.min.js",
}
_VENDOR_FILES = {  # local copy -> (XStatic package, file in it)
    "bootstrap.min.css": ("xstatic.pkg.bootstrap", "css/bootstrap.min.css"),
    "bootstrap.bundle.min.js": ("xstatic.pkg.bootstrap", "js/bootstrap.bundle.min.js"),
    "jquery.min.js": ("xstatic.pkg.jquery", "jquery.min.js"),
}
_REMOTE_TAG = re.compile(r"""<(?:link|script|img)\b[^>]*?(?:href|src)=["'](https?://[^"']+)["'][^>]*>(?:\s*</script>)?""")


def offline(page: str, to_root: str) -> str:
    """The page with every CDN stylesheet, script and image replaced by its local copy or left out."""

    def local(match: re.Match) -> str:
        url = match.group(1)
        name = url.rsplit("/", 1)[-1].split("?")[0]
        if name not in _LOCAL or "greatexpectations.io" in url:
            return ""
        href = f"{to_root}static/vendor/{_LOCAL[name]}"
        if name.endswith(".css"):
            return f'<link rel="stylesheet" href="{href}"/>'
        return f'<script src="{href}"></script>'

    return _REMOTE_TAG.sub(local, page).replace("</head>", f"<style>{_ICONS}</style></head>", 1)


# GX marks each result with Font Awesome icons (a CDN font): the two it uses, as characters.
_ICONS = (".fas.fa-check-circle::before { content: '\\2714'; } .fas.fa-times::before { content: '\\2716'; } "
          ".fas { font-style: normal; font-weight: bold; }")


def write_vendor_assets(spark: SparkSession, folder: str) -> None:
    """Copy Bootstrap and jQuery into `<folder>/static/vendor/` (once per folder)."""
    import importlib

    for name, (package, file) in _VENDOR_FILES.items():
        target = f"{folder}/static/vendor/{name}"
        if "://" not in target and Path(target).exists():
            continue
        base = Path(importlib.import_module(package).BASE_DIR)
        write_text(spark, target, (base / file).read_text(encoding="utf-8"))


def write_suite_page(spark: SparkSession, folder: str, suite: Any) -> str:
    """Render GX's page for an expectation suite; returns its path."""
    from great_expectations.render.renderer import ExpectationSuitePageRenderer

    page = _page_view().render(ExpectationSuitePageRenderer().render(suite))
    path = f"{folder}/expectations/{suite.name}.html"
    write_text(spark, path, offline(page, "../"))
    return path


@functools.cache
def _page_view() -> Any:
    """GX's page view, made once: it compiles its templates on first use and keeps them."""
    from great_expectations.render.view import DefaultJinjaPageView

    return DefaultJinjaPageView()


def write_index(spark: SparkSession, dq_results: DataFrame, folder: str) -> str:
    """Render index.html over every day and source of `ops.dq_results`; returns its path."""
    failed = F.col("success") == F.lit(False)
    per_source = (
        dq_results.groupBy("run_date", "source")
        .agg(
            F.count(F.lit(1)).alias("expectations"),
            F.sum(F.when(failed & (F.col("severity") == "error"), 1).otherwise(0)).alias("errors"),
            F.sum(F.when(failed & (F.col("severity") == "warn"), 1).otherwise(0)).alias("warnings"),
            F.sum(F.when(F.col("success").isNull(), 1).otherwise(0)).alias("skipped"),
            F.max("rows_validated").alias("rows"),
            F.max("batch_id").alias("batch_id"),
            F.max("validated_at").alias("validated_at"),
        )
        .orderBy(F.col("run_date").desc(), "source")
        .collect()
    )
    failures: dict[tuple[dt.date, str], list[Any]] = {}
    for r in (
        dq_results.where(failed)
        .select("run_date", "source", "severity", "expectation_type", "column", "mostly", "observed_value")
        .orderBy("run_date", "source", "severity", "expectation_type")
        .collect()
    ):
        failures.setdefault((r.run_date, r.source), []).append(r)
    path = f"{folder}/index.html"
    write_text(spark, path, _index_html(per_source, failures))
    return path


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.35rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; }
.passed { color: #1a7f37; font-weight: 600; } .failed { color: #c62828; font-weight: 600; }
.error { color: #c62828; } .warn { color: #9a6700; }
ul { margin: 0; padding-left: 1.1rem; }
.muted { color: #777; font-size: 0.85rem; }
"""


def _index_html(per_source: list[Any], failures: dict[tuple[dt.date, str], list[Any]]) -> str:
    esc = html.escape
    days: dict[dt.date, list[Any]] = {}
    for r in per_source:
        days.setdefault(r.run_date, []).append(r)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>c360 data quality: bronze to silver</title>',
        f"<style>{_STYLE}</style></head><body>",
        "<h1>c360 data quality: bronze &rarr; silver gate</h1>",
        '<p class="muted">One row per landing day and source, from ops.dq_results. '
        "Failed <span class='error'>error</span> expectations stop the run; "
        "<span class='warn'>warn</span> expectations are recorded only. "
        "Suites: expectations/&lt;source&gt;.json.</p>",
    ]
    if not days:
        parts.append("<p>No validations recorded yet.</p>")
    for day, rows in days.items():
        status = "failed" if any(r.errors for r in rows) else "passed"
        parts += [
            f"<h2 id='{day.isoformat()}'>{day.isoformat()} <span class='{status}'>{status}</span></h2>",
            "<table><tr><th>source</th><th>status</th><th>rows</th><th>expectations</th>"
            "<th>errors failed</th><th>warnings failed</th><th>skipped</th><th>failing expectations</th>"
            "<th>pages</th><th>batch</th></tr>",
        ]
        for r in rows:
            state = "failed" if r.errors else "passed"
            items = "".join(
                f"<li class='{esc(f.severity)}'>{esc(f.severity)}: {esc(_label(f))}: {esc(f.observed_value or '')}</li>"
                for f in failures.get((day, r.source), [])
            )
            page = validation_page(day, r.source)
            parts.append(
                f"<tr><td>{esc(r.source)}</td><td class='{state}'>{state}</td>"
                f"<td class='num'>{r.rows if r.rows is not None else ''}</td>"
                f"<td class='num'>{r.expectations}</td><td class='num'>{r.errors}</td>"
                f"<td class='num'>{r.warnings}</td><td class='num'>{r.skipped}</td>"
                f"<td>{f'<ul>{items}</ul>' if items else ''}</td>"
                f"<td><a href='{esc(page)}'>results</a> &middot; "
                f"<a href='expectations/{esc(r.source)}.html'>suite</a></td>"
                f"<td class='muted'>{esc(r.batch_id or '')}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _label(row: Any) -> str:
    text = f"{row.expectation_type}({row.column or ''})"
    return f"{text} mostly={row.mostly:.3g}" if row.mostly is not None else text
