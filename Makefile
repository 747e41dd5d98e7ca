# relayflow — the two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test install lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml tests/fixtures/custom_action/pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]' -e tests/fixtures/custom_action
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) scripts/devstack.py

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy workflows activities api cli worker.py settings.py payload_codec.py telemetry.py

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) .data
