"""One source registry: every declared landing source has what each layer needs.

A source is declared once, in `jobs/common/landing_contract.py`; silver's tables, the
source systems and identity's profile sources derive from it. What cannot derive from
it (a conformer, an expectation suite, a dbt source and staging model, the generator's
files) is checked here, so a new source that misses a step fails with the step named.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jobs.common.landing_contract import SOURCES
from jobs.generate.main import generate
from jobs.identity.records import PROFILE_SOURCES
from jobs.quality.suites import suite_path
from jobs.silver.conform import CONFORMERS, SOURCE_SYSTEMS
from jobs.silver.main import SILVER_TABLES

CHECKOUT = Path(__file__).resolve().parents[1]
STAGING = CHECKOUT / "dbt_project" / "models" / "staging"
NAMES = [s.name for s in SOURCES]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sources") / "sample"
    generate(out, customers=120, days=2, seed=3, log=lambda *_: None)
    return out / "landing"


def _dbt_sources() -> set[str]:
    doc = yaml.safe_load((STAGING / "__sources.yml").read_text())
    return {t["name"] for s in doc["sources"] if s["name"] == "silver" for t in s["tables"]}


def _staging_models() -> set[str]:
    doc = yaml.safe_load((STAGING / "_staging__models.yml").read_text())
    return {m["name"] for m in doc["models"]}


@pytest.mark.parametrize("source", SOURCES, ids=NAMES)
def test_a_declared_source_has_every_step_of_the_recipe(source, generated):
    missing = []
    if source.name not in CONFORMERS:
        missing.append("a conformer in jobs/silver/conform.py (CONFORMERS)")
    if not suite_path(source.name).is_file():
        missing.append(f"an expectation suite expectations/{source.name}.json")
    if source.name not in _dbt_sources():
        missing.append("a table under the silver source of dbt_project/models/staging/__sources.yml")
    model = f"stg_silver__{source.name}"
    if not (STAGING / f"{model}.sql").is_file() or model not in _staging_models():
        missing.append(f"a staging model {model}.sql with its entry in _staging__models.yml")
    if not any((generated / source.name).glob("ds=*/*")):
        missing.append("files from the generator (jobs/generate)")
    assert not missing, f"source {source.name} still lacks: " + "; ".join(missing)


def test_what_derives_from_the_registry_covers_every_source():
    assert [t.source for t in SILVER_TABLES] == NAMES
    assert set(SOURCE_SYSTEMS) == set(NAMES)
    assert set(PROFILE_SOURCES) == {s.name for s in SOURCES if s.identity == "profile"}
    for s in SOURCES:
        spec = next(t for t in SILVER_TABLES if t.source == s.name)
        assert (spec.write, spec.keys, spec.order_col, spec.tracked) == (s.silver_write, s.keys, s.order_col, s.tracked)
