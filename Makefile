# Palm Hospital — the two commands are `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
SYS_STAMP := $(VENV)/.installed-system
PYTEST_ARGS ?=
# One embedded database per pytest-xdist worker; a module's tests stay on one worker.
XDIST ?= -n 3 --dist loadfile
# What depends on the date: run again with the whole stack moved by libfaketime.
DATE_SENSITIVE := tests/foundation/test_expiry.py tests/identity tests/registration \
	tests/reports/test_kiosk.py tests/reports/test_kiosk_receipts.py tests/reports/test_kiosk_reprint.py \
	tests/pharmacy tests/notify/test_quiet_hours_and_limits.py tests/notify/test_outbox.py \
	tests/notify/test_delivery_guarantees.py tests/calendar tests/billing tests/health_records

.PHONY: setup run test test-faketime lint bench clean system-deps

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
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

## test-faketime: the date-sensitive tests again, 400 days ahead and at a month end 23:59 Shanghai
test-faketime: $(DEV_STAMP) system-deps
	faketime -m -f "$$(scripts/faketime-offset.py days 400)" $(PY) -m pytest $(XDIST) -q $(DATE_SENSITIVE)
	faketime -m -f "$$(scripts/faketime-offset.py month-end)" $(PY) -m pytest $(XDIST) -q $(DATE_SENSITIVE)

## lint: ruff over the code
lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .

## bench: every benchmark scenario, one table
bench: $(DEV_STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache
