# humanrecon: the two commands a newcomer needs are `make run` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
# The environment is rebuilt when pyproject.toml changes.
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: setup run test lint dag clean
.DEFAULT_GOAL := run

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: on these machines torch==2.13.0 resolves to the local CPU wheel; installing it
	# before the rest keeps pip from pulling a CUDA build as a dependency.
	$(BIN)/pip install --disable-pip-version-check -q torch==2.13.0
	$(BIN)/pip install --disable-pip-version-check -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

## make run: set up, build the body model, generate the demo session, run the whole DAG, write the report.
run: setup
	# a run killed with kill -9 leaves Snakemake's lock behind: clear it (do not run two `make run` at once)
	$(BIN)/snakemake --unlock -q all > /dev/null 2>&1 || true
	$(BIN)/snakemake --cores $(CORES) --rerun-incomplete
	$(BIN)/snakemake --cores $(CORES) --report results/report.html
	$(BIN)/humanrecon summary results/*/metrics.csv
	@echo "report: $(CURDIR)/results/report.html"

## make test: set up, build the body model through its rule (cached), run the whole test suite.
test: setup
	$(BIN)/snakemake --cores $(CORES) resources/body_models/smpl/SMPL_NEUTRAL.pkl
	$(BIN)/ruff check humanrecon tests workflow_scripts benchmarks
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check humanrecon tests workflow_scripts benchmarks
	$(BIN)/snakemake --lint

dag: setup
	$(BIN)/snakemake -n

clean:
	rm -rf results logs .snakemake benchmarks/results
