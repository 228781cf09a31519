# Palm Hospital — the two commands are `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
SYS_STAMP := $(VENV)/.installed-system
PYTEST_ARGS ?=

.PHONY: setup run test lint bench clean system-deps

## setup: create .venv with Python 3.13 and install requirements.txt
setup: $(STAMP)

$(PY):
	@PYBIN=$$(scripts/find-python.sh) && echo "using $$PYBIN" && "$$PYBIN" -m venv $(VENV)

$(STAMP): requirements.txt | $(PY)
	$(PIP) install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements-dev.txt requirements.txt $(STAMP)
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

## system-deps: Debian packages the tests need (headless Chromium, pdftoppm, CJK fonts)
system-deps: $(SYS_STAMP)

$(SYS_STAMP): scripts/system-deps.sh | $(PY)
	scripts/system-deps.sh
	@touch $@

## run: start the embedded database and the server with the demo hospital
run: setup
	$(PY) run.py serve

## test: install everything the tests need, then lint and run the whole suite
test: $(DEV_STAMP) system-deps
	$(VENV)/bin/ruff check --quiet .
	$(PY) -m pytest $(PYTEST_ARGS)

## lint: ruff over the code
lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .

## bench: every benchmark scenario, one table
bench: $(DEV_STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache
