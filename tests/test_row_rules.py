"""The `row_rules` dbt test (dbt_project/tests/generic/row_rules.sql): every rule kind counted in one scan.

A dbt project of its own in a temporary folder, run by dbt on the test session (c360's profile,
`method: session`): two views over fixed rows, one breaking every kind of rule, one breaking none.
"""
from __future__ import annotations

import re
import shutil

import pytest

from jobs.features import dbt
from jobs.features.main import broken_rules

PROJECT = """
name: row_rules_check
version: "1.0.0"
config-version: 2
profile: c360
model-paths: ["models"]
test-paths: ["tests"]
flags: {send_anonymous_usage_stats: false}
models:
  row_rules_check: {+materialized: view, +schema: row_rules_check}
"""

# id, code, kind, pair, amount
ROWS = """
select * from values
    (1, 'a', 'x', 1, 10),
    (2, 'b', 'x', 2, 20),
    (2, cast(null as string), 'y', 3, -1),
    (cast(null as int), cast(null as string), 'z', cast(null as int), 5),
    (4, 'd', 'z', cast(null as int), 5)
    as t(id, code, kind, pair, amount)
"""

RULES = """
      - row_rules:
          name: row_rules_{model}
          arguments:
            unique: [id, code, [kind, pair]]
            not_null: [id, code]
            accepted_values: {{kind: [x, y], pair: [1, 2, 3]}}
            expressions: ["amount >= 0", "amount < pair * 10"]
"""


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    (root / "models").mkdir(parents=True)
    (root / "tests" / "generic").mkdir(parents=True)
    shutil.copy(dbt.PROJECT_DIR / "tests" / "generic" / "row_rules.sql", root / "tests" / "generic")
    (root / "dbt_project.yml").write_text(PROJECT)
    (root / "models" / "broken.sql").write_text(ROWS)
    # A row keeping every rule but `amount >= 0`, left out of its rules.
    (root / "models" / "clean.sql").write_text("select * from values (2, 'c', 'y', 3, -1) as t(id, code, kind, pair, amount)")
    (root / "models" / "clean_rules.yml").write_text(
        "version: 2\nmodels:\n  - name: clean\n    data_tests:\n"
        + RULES.format(model="clean").replace('"amount >= 0", ', ""))
    (root / "models" / "broken_rules.yml").write_text(
        "version: 2\nmodels:\n  - name: broken\n    data_tests:\n" + RULES.format(model="broken"))
    return root


def test_row_rules_counts_each_broken_rule_in_one_query_and_passes_clean_rows(spark, project, tmp_path):
    try:
        run = dbt.invoke(["build"], {}, tmp_path / "work", project_dir=project)
        assert not run.success and run.error is None
        status = {n.unique_id.split(".")[2]: n.status for n in run.nodes}
        assert status == {"broken": "success", "clean": "success", "row_rules_broken": "fail",
                          "row_rules_clean": "pass"}
        failed, = run.failures
        # dbt reports the rows that break a rule (surplus duplicates for a key), summed over the rules.
        assert "Got 12 results" in failed.message
        assert broken_rules(spark, run) == {failed.unique_id: (
            "broken: unique(id) by 1 row; unique(kind, pair) by 1 row; not_null(id) by 1 row; "
            "not_null(code) by 2 rows; accepted_values(kind) by 2 rows; expression(amount >= 0) by 1 row; "
            "expression(amount < pair * 10) by 4 rows")}
        assert "broken: unique(id) by 1 row;" in run.describe_failures(broken_rules(spark, run))
        # One scan of the model for the seven rules broken and the two kept (unique(code), accepted_values(pair)).
        assert len(re.findall(r"\bfrom\s+`?gold_row_rules_check`?\.`?broken\b", failed.compiled)) == 1
    finally:
        spark.sql("DROP DATABASE IF EXISTS gold_row_rules_check CASCADE")
