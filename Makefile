# Thin targets; every tool runs through `python -m` from the project's venv.
VENV ?= .venv
PYTHON ?= $(VENV)/bin/python
SYNC_ARGS ?= --batch-size 100

.PHONY: all install test test-slow lint sync demo demo-dump bench clean

all: lint test

$(PYTHON):
	python3 -m venv $(VENV)

install: $(PYTHON)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test,lint]'

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

demo-dump:
	$(PYTHON) -m tests.fake_dump.demo

bench:
	$(PYTHON) bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache demo.db demo.db-* demo-dump.db demo-dump.db-* bench/*.db
