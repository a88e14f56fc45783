# Conveniences; the README's two commands need nothing but Python.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: venv run test lint fmt ci
venv:
	python3 -m venv $(VENV) && $(VENV)/bin/pip install -q -e '.[test]'
run: venv
	$(VENV)/bin/syncd up
test: venv
	$(PY) -m tests
lint:
	$(PY) -m ruff check . && $(PY) -m ruff format --check . && $(PY) -m mypy && $(VENV)/bin/lint-imports
fmt:
	$(PY) -m ruff format . && $(PY) -m ruff check --fix .
ci:
	bash .ci/run
