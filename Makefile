# c360 — the two commands: `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
C360 := $(VENV)/bin/c360
PIP_STAMP := $(VENV)/.installed
# uv installs the pinned versions of constraints.txt into .venv: the same resolution as pip, in a third of the time.
UV_VERSION := 0.13.9
JARS_DIR := jars
JARS_STAMP := $(JARS_DIR)/.fetched
# hadoop-aws and its AWS SDK: on the class path of the profiles whose lake is on s3a:// (cluster-local).
S3_JARS_DIR := $(JARS_DIR)/s3
S3_JARS_STAMP := $(S3_JARS_DIR)/.fetched
DEMO_DIR := data
DEMO_LAKE := lake
# A year of history for a small base: long enough to train the customer models.
DEMO_PERSONS := 1500
DEMO_DAYS := 365
# A small shop's catalog: the products feed is a full snapshot a day (SKUs x days rows).
DEMO_SKUS := 600
# The dbt models the customer models train on (the training marts among them), and all they depend on.
DEMO_MODEL_FEATURES := +customer_purchase_holdout +customer_churn_examples +customer_features
DEMO_FIRST := 2025-10-31
DEMO_HISTORY_END := 2026-10-29
DEMO_LAST := 2026-10-30
# The DAG's run after the last day: with a data-interval timetable it processes DEMO_LAST.
DEMO_RUN_AFTER := 2026-10-31
AIRFLOW_DIR := $(CURDIR)/.airflow
AIRFLOW_DB := $(AIRFLOW_DIR)/airflow.db
AIRFLOW_ENV := AIRFLOW_HOME=$(AIRFLOW_DIR) AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False GX_ANALYTICS_ENABLED=false PATH=$(CURDIR)/$(VENV)/bin:$$PATH

.PHONY: help install prereqs demo airflow serve bi cluster test test-fast test-backfill lint lock bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: prereqs $(PIP_STAMP) $(JARS_STAMP) $(S3_JARS_STAMP) ## create .venv, install c360 and fetch the Delta and S3 jars (no-op when done)

prereqs:
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required: install python3.11 (Debian: apt-get install python3.11 python3.11-venv)"; exit 1; }
	@command -v java >/dev/null || { echo "Java 17+ is required: install it (Debian: apt-get install openjdk-17-jdk-headless)"; exit 1; }
	@v=$$(java -version 2>&1 | sed -nE 's/.*version "([0-9]+).*/\1/p' | head -1); \
	  [ -n "$$v" ] && [ "$$v" -ge 17 ] || { echo "Java 17+ is required, found version '$$v': install openjdk-17-jdk-headless and put it first on PATH"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is required to fetch the Delta Lake jars: install it (Debian: apt-get install maven)"; exit 1; }

$(PIP_STAMP): setup.py constraints.txt
	@echo "== installing c360 and its pinned dependencies into $(VENV) (versions from constraints.txt)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip wheel setuptools 'uv==$(UV_VERSION)'
	@$(VENV)/bin/uv pip install -q --python $(PY) -c constraints.txt -e '.[bench,dev]'
	@$(PY) -m pip check
	@touch $@

lock: prereqs ## resolve setup.py afresh in a scratch virtualenv and write the versions to constraints.txt
	@rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	@.lock-venv/bin/python -m pip install -q --upgrade pip wheel setuptools
	@.lock-venv/bin/python -m pip install -q '.[bench,dev]'
	@{ echo "# Versions the suite was last run with: make install installs these (pip -c). Regenerate with make lock."; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^c360'; } > constraints.txt
	@rm -rf .lock-venv build c360.egg-info
	@echo "wrote constraints.txt ($$(grep -vc '^#' constraints.txt) packages)"

$(JARS_STAMP): jvm/pom.xml
	@echo "== fetching the Delta Lake jars with Maven (jvm/pom.xml) into $(JARS_DIR)/"
	@rm -rf $(JARS_DIR) && mkdir -p $(JARS_DIR)
	@mvn -q -B -f jvm/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/$(JARS_DIR)
	@ls $(JARS_DIR)/delta-spark_*.jar >/dev/null
	@touch $@

$(S3_JARS_STAMP): jvm/s3/pom.xml $(JARS_STAMP)
	@echo "== fetching hadoop-aws and the AWS SDK with Maven (jvm/s3/pom.xml) into $(S3_JARS_DIR)/"
	@rm -rf $(S3_JARS_DIR) && mkdir -p $(S3_JARS_DIR)
	@mvn -q -B -f jvm/s3/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/$(S3_JARS_DIR)
	@ls $(S3_JARS_DIR)/hadoop-aws-*.jar >/dev/null
	@touch $@

demo: install $(AIRFLOW_DB) ## a year of sample data, the customer models trained, then c360_daily for the last day through Airflow
	@echo "== 1/4 generating $(DEMO_PERSONS) persons x $(DEMO_DAYS) days ($(DEMO_SKUS) SKUs) of landing files into $(DEMO_DIR)/landing"
	@$(C360) generate --customers $(DEMO_PERSONS) --days $(DEMO_DAYS) --skus $(DEMO_SKUS) --seed 42 --start $(DEMO_FIRST) \
	  --out $(DEMO_DIR) --overwrite
	@echo "== 2/4 loading the history $(DEMO_FIRST) .. $(DEMO_HISTORY_END) and training the customer models as of its last day"
	@echo "   (c360 run: ingest -> silver -> identities -> the features the models read -> lifetime value, churn, segments)"
	@$(C360) run --date $(DEMO_FIRST) --until $(DEMO_HISTORY_END) --no-docs --select '$(DEMO_MODEL_FEATURES)' \
	  --stages ingest,silver,resolve_identities,build_features,train_clv,train_churn,train_segments
	@echo "== 3/4 c360_daily for $(DEMO_LAST) through Airflow (airflow dags test, the run after the day)"
	@$(AIRFLOW_ENV) airflow dags test c360_daily $(DEMO_RUN_AFTER) > $(AIRFLOW_DIR)/demo-run.log 2>&1 \
	  || { tail -50 $(AIRFLOW_DIR)/demo-run.log; exit 1; }
	@grep -E "Marking task as|state=success|task_id=" $(AIRFLOW_DIR)/demo-run.log | tail -8 || true
	@echo "   run report: $(DEMO_LAKE)/_reports/runs/$(DEMO_LAST).html (open it in a browser)"
	@echo "== 4/4 the lake"
	@$(C360) sql --file docs/demo.sql

airflow: install $(AIRFLOW_DB) ## start Airflow (UI on http://localhost:8080) with the c360 DAGs
	@$(AIRFLOW_ENV) airflow standalone

serve: install ## start the read API over the demo lake's serving tables (http://127.0.0.1:8360, docs at /docs)
	@$(C360) serve

bi: install ## start Spark's Thrift JDBC/ODBC server over the demo lake (jdbc:hive2://127.0.0.1:10000/default)
	@$(C360) bi

$(AIRFLOW_DB): $(PIP_STAMP)
	@mkdir -p $(AIRFLOW_DIR)
	@$(AIRFLOW_ENV) airflow db migrate > $(AIRFLOW_DIR)/migrate.log 2>&1 || { tail -20 $(AIRFLOW_DIR)/migrate.log; exit 1; }

cluster: install ## a Spark master, two workers and an S3 server on 127.0.0.1; a sample's days on them and on a local session, compared
	@$(C360) cluster

test: install ## run the whole test suite (markers: unit, spark, e2e)
	@$(PY) -m pytest

test-fast: install ## the suite without the shared end-to-end lake (unit and spark tests)
	@$(PY) -m pytest -m "not e2e and not slow and not backfill"

test-backfill: install ## Airflow's backfill of c360_daily over three days against the days one by one (minutes)
	@$(PY) -m pytest -n 0 -m backfill tests/test_backfill.py

lint: install ## ruff over the package, tests, benchmarks and DAGs; import-linter's layer contracts (.importlinter)
	@$(VENV)/bin/ruff check jobs tests bench dags
	@$(VENV)/bin/lint-imports --no-cache

bench: install ## the benchmarks: lake, generator, ingest, identity, features, recs, models (long: 1 M persons)
	@$(C360) bench lake
	@$(C360) bench generate
	@$(C360) bench ingest
	@$(C360) bench identity
	@$(C360) bench identity --scale 100000
	@$(C360) bench identity --scale 1000000
	@$(C360) bench features
	@$(C360) bench features --scale 100000
	@$(C360) bench features --scale 1000000
	@$(C360) bench recs
	@$(C360) bench models

clean: ## remove the virtualenv, jars, demo data and local lake
	rm -rf $(VENV) $(JARS_DIR) $(DEMO_DIR) $(DEMO_LAKE) $(AIRFLOW_DIR) spark-warehouse metastore_db derby.log
