# Every target bootstraps .venv on a fresh machine, so `make dev` and `make test`
# are all a new user needs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint format bench emulator clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

dev: $(STAMP)  ## the local sandbox: emulator + simulated model + bridge
	$(BIN)/bridge dev

test: $(STAMP)  ## the whole test suite
	$(BIN)/pytest

bench: $(STAMP)  ## the benchmark; e.g. make bench ARGS=--quick
	$(BIN)/bridge bench $(ARGS)

lint: $(STAMP)  ## ruff (lint + format check) and mypy strict on bridge/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

emulator: $(STAMP)  ## the DingTalk emulator alone, on port 8765
	$(BIN)/bridge emulator --port 8765

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
