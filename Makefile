# The README's two commands: `make repro` (set up, run the whole pipeline) and `make test`
# (set up, run the test suite). Both are idempotent and work from a clean clone.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
# DVC stage commands call `python`: make it the project's interpreter.
export PATH := $(BIN):$(PATH)

.PHONY: setup system-deps repro test params ui help

help:
	@echo "make repro   set up, then run the whole pipeline (dvc repro)"
	@echo "make test    set up, then run the test suite"
	@echo "make params  recompose params.yaml from conf/ (ARGS='experiment=smoke' for overrides)"
	@echo "make ui      open the MLflow UI on the embedded store (http://127.0.0.1:5000)"

system-deps:
	@bash scripts/install_system_deps.sh

# Re-installs only when the dependency list changes.
$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,realtime]'
	@touch $(STAMP)

setup: system-deps $(STAMP)

params: setup
	$(BIN)/python -m pipeline.compose_params $(ARGS)

repro: setup
	$(BIN)/dvc repro

test: setup
	$(BIN)/python -m pytest

# Run from the repository root: artifacts live in ./mlruns beside mlflow.db.
ui: setup
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port 5000
