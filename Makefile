# Thin targets; every tool runs through `python -m` from the project's venv.
VENV ?= .venv
PYTHON ?= $(VENV)/bin/python
SYNC_ARGS ?= --batch-size 100
# make explore: the database make sync writes (DONATIONS_DB, else donations.db), or else the
# demo.db that make demo writes.
EXPLORE_DB ?= $(or $(DONATIONS_DB),$(if $(wildcard donations.db),donations.db,$(if $(wildcard demo.db),demo.db,donations.db)))
EXPLORE_ARGS ?=

.PHONY: all install test test-slow lint sync demo explore bench clean

all: lint test

$(PYTHON):
	python3 -m venv $(VENV)

install: $(PYTHON)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test,lint,explore]'

test:
	$(PYTHON) -m pytest -q

test-slow:
	$(PYTHON) -m pytest -q -m slow

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy
	$(PYTHON) -m check_jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(dir $(PYTHON))zizmor --offline .github/workflows

sync:
	$(PYTHON) sync_donations.py $(SYNC_ARGS)

demo:
	$(PYTHON) -m tests.fake_openfec.demo

explore:
	$(PYTHON) -m db.browse "$(EXPLORE_DB)" $(EXPLORE_ARGS)

bench:
	$(PYTHON) bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache demo.db demo.db-* bench/*.db
