"""The landing contract is declared once; the doc and Spark agree with it."""
from __future__ import annotations

from pathlib import Path

import pytest

from jobs.common.landing_contract import SOURCES, render_markdown, source

DOC = Path(__file__).resolve().parents[1] / "docs" / "landing.md"


def test_docs_landing_md_matches_the_declared_contract():
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/landing.md is out of date: python -m jobs.common.landing_contract > docs/landing.md"
    )


def test_every_schema_is_valid_spark_ddl(spark):
    from pyspark.sql.types import StructType

    for s in SOURCES:
        schema = StructType.fromDDL(s.ddl())
        assert [f.name for f in schema.fields] == list(s.column_names), s.name
        assert set(s.required_columns) <= set(s.column_names)


def test_every_source_has_a_required_id_and_a_time_column():
    for s in SOURCES:
        assert s.columns[0].required, s.name
        # order lines take their time from the order they belong to
        if s.name != "order_lines":
            assert any(c.type in ("timestamp", "date") for c in s.columns), s.name


def test_unknown_source_lists_the_known_ones():
    with pytest.raises(KeyError, match="unknown landing source 'crm'; known sources: consent_events"):
        source("crm")
