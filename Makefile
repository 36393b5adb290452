# c360 — the two commands: `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
C360 := $(VENV)/bin/c360
PIP_STAMP := $(VENV)/.installed
JARS_DIR := jars
JARS_STAMP := $(JARS_DIR)/.fetched
DEMO_DIR := data
DEMO_LAKE := lake

.PHONY: help install prereqs demo test test-fast lint bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: prereqs $(PIP_STAMP) $(JARS_STAMP) ## create .venv, install c360 and fetch the Delta jars (no-op when done)

prereqs:
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required: install python3.11 (Debian: apt-get install python3.11 python3.11-venv)"; exit 1; }
	@command -v java >/dev/null || { echo "Java 17+ is required: install it (Debian: apt-get install openjdk-17-jdk-headless)"; exit 1; }
	@v=$$(java -version 2>&1 | sed -nE 's/.*version "([0-9]+).*/\1/p' | head -1); \
	  [ -n "$$v" ] && [ "$$v" -ge 17 ] || { echo "Java 17+ is required, found version '$$v': install openjdk-17-jdk-headless and put it first on PATH"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is required to fetch the Delta Lake jars: install it (Debian: apt-get install maven)"; exit 1; }

$(PIP_STAMP): setup.py
	@echo "== installing c360 and its pinned dependencies into $(VENV)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip wheel setuptools
	@$(PY) -m pip install -q -e '.[dev]'
	@$(PY) -m pip check
	@touch $@

$(JARS_STAMP): jvm/pom.xml
	@echo "== fetching the Delta Lake jars with Maven (jvm/pom.xml) into $(JARS_DIR)/"
	@rm -rf $(JARS_DIR) && mkdir -p $(JARS_DIR)
	@mvn -q -B -f jvm/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/$(JARS_DIR)
	@ls $(JARS_DIR)/delta-spark_*.jar >/dev/null
	@touch $@

demo: install ## generate a sample (5k persons, 30 days) and show the lake
	@$(C360) generate --customers 5000 --days 30 --seed 42 --out $(DEMO_DIR) --overwrite
	@echo "== landing files per source"
	@for d in $(DEMO_DIR)/landing/*/; do printf "  %-18s %3s files\n" "$$(basename $$d)" "$$(find $$d -type f | wc -l)"; done
	@echo "== lake tables under $(DEMO_LAKE)/"
	@C360_LAKE_ROOT=$(DEMO_LAKE) $(C360) tables

test: install ## run the whole test suite
	@$(PY) -m pytest

test-fast: install ## the suite without tests marked slow
	@$(PY) -m pytest -m "not slow"

lint: install ## ruff over the package, tests and benchmarks
	@$(VENV)/bin/ruff check jobs tests bench dags

bench: install ## the benchmarks: lake and generator
	@$(C360) bench lake
	@$(C360) bench generate

clean: ## remove the virtualenv, jars, demo data and local lake
	rm -rf $(VENV) $(JARS_DIR) $(DEMO_DIR) $(DEMO_LAKE) spark-warehouse metastore_db derby.log
