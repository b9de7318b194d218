# Thin targets; every tool runs through `python -m` from the project's venv.
VENV ?= .venv
PYTHON ?= $(VENV)/bin/python
# The interpreter a new venv is made from (.ci/test-all sets one per claimed version).
BASE_PYTHON ?= python3
SYNC_ARGS ?= --batch-size 100
# make explore: the database make sync writes (DONATIONS_DB, else donations.db), or else the
# demo.db that make demo writes.
EXPLORE_DB ?= $(or $(DONATIONS_DB),$(if $(wildcard donations.db),donations.db,$(if $(wildcard demo.db),demo.db,donations.db)))
EXPLORE_ARGS ?=

.PHONY: all install install-test test test-all test-slow lint mutation sync demo demo-dump explore bench clean

all: lint test

$(PYTHON):
	$(BASE_PYTHON) -m venv $(VENV)

install: $(PYTHON)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test,lint,explore]'

install-test: $(PYTHON)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test]'

test:
	$(PYTHON) -m pytest -q

# The suite on every Python setup.cfg claims that is installed, one venv each (.venv-3.X).
test-all:
	.ci/test-all

test-slow:
	$(PYTHON) -m pytest -q -m slow

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy
	$(PYTHON) -m check_jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(dir $(PYTHON))zizmor --offline .github/workflows

# Mutation testing of the guarantee-holding modules (see [mutmut] in setup.cfg and the
# README); minutes, not part of make test. Starts from scratch, so a re-run re-measures.
mutation: $(PYTHON)
	$(PYTHON) -m pip install --quiet -e '.[test,mutation]'
	rm -rf mutants
	$(dir $(PYTHON))mutmut run --max-children 2 || true
	$(dir $(PYTHON))mutmut export-cicd-stats
	$(PYTHON) .ci/mutation-score

sync:
	$(PYTHON) sync_donations.py $(SYNC_ARGS)

demo:
	$(PYTHON) -m tests.fake_openfec.demo

explore:
	$(PYTHON) -m db.browse "$(EXPLORE_DB)" $(EXPLORE_ARGS)

demo-dump:
	$(PYTHON) -m tests.fake_dump.demo

bench:
	$(PYTHON) bench/run.py

clean:
	rm -rf $(VENV) .venv-3.* mutants .hypothesis build *.egg-info .pytest_cache .mypy_cache .ruff_cache demo.db demo.db-* demo-dump.db demo-dump.db-* bench/*.db
