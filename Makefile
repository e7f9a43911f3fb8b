# The README's two commands: `make repro` (set up, run the whole pipeline) and `make test`
# (set up, run the test suite). Both are idempotent and work from a clean clone.
SHELL := /bin/bash
# The interpreter (3.11, 3.12 or 3.13): PYTHON=python3.12 or a path; empty = the newest supported
# python3.1x that runs on PATH (scripts/python_env.sh says which, or that none is there).
PYTHON ?=
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
# A package index for the PyTorch build (docs/install.md); empty = chosen for you.
export TORCH_INDEX
# The PATH the interpreter is looked up in: the caller's, without the venv put in front below.
CALLER_PATH := $(PATH)
# DVC stage commands call `python`: make it the project's interpreter.
export PATH := $(BIN):$(PATH)

.PHONY: setup system-deps test-system-deps cluster-system-deps repro test test-fast lint format test-matrix test-cluster params ui report help

help:
	@echo "make repro   set up, then run the whole pipeline (dvc repro)"
	@echo "make test    set up, then run the test suite (PYTHON=python3.12 to choose the interpreter)"
	@echo "make test-fast  the unit tests only: no DVC pipeline, no audio stream, no cluster"
	@echo "make lint    ruff check and format check (make format fixes what it can)"
	@echo "make test-matrix  the fast tests under each other supported Python found"
	@echo "make test-cluster a sweep through a private local SLURM cluster and mlflow server"
	@echo "make params  recompose params.yaml from conf/ (ARGS='experiment=smoke' for overrides)"
	@echo "make ui      open the MLflow UI on the embedded store (http://127.0.0.1:5000)"
	@echo "make report  rebuild reports/site/index.html from the results on disk"

system-deps:
	@bash scripts/install_system_deps.sh

test-system-deps:
	@bash scripts/install_system_deps.sh --test

cluster-system-deps:
	@bash scripts/install_system_deps.sh --cluster

# Creates $(VENV) (again if it holds another Python version); installs only when pyproject.toml changes.
setup: system-deps
	@PATH="$(CALLER_PATH)" bash scripts/python_env.sh setup $(VENV) $(PYTHON)

params: setup
	$(BIN)/python -m pipeline.compose_params $(ARGS)

repro: setup
	$(BIN)/dvc repro

test: setup test-system-deps lint
	@echo "make test: $$($(BIN)/python --version) in $(VENV)"
	$(BIN)/python -m pytest

# ruff: the rules and why are in pyproject.toml ([tool.ruff]); `make format` applies the formatter.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The everyday loop: every test that runs no DVC pipeline (e2e), opens no audio stream (stream)
# and needs no cluster.
test-fast: setup lint
	$(BIN)/python -m pytest -m "not e2e and not cluster and not stream and not emulated" -q

# The fast (non-e2e) tests under every other supported Python found (PATH or pyenv), each in its
# own .venv-py3.X; a version that is not installed is reported as such. Run by .ci/run.
test-matrix: test-system-deps
	@PATH="$(CALLER_PATH)" bash scripts/test_matrix.sh $(PYTHON)

report: setup
	$(BIN)/distortion-bench report

# A sweep through a private single-node SLURM cluster (munge, slurmctld, slurmd) and a real
# mlflow server, all on loopback and stopped afterwards (docs/sweeps-and-cluster.md).
test-cluster: setup cluster-system-deps
	@bash scripts/test_cluster.sh $(BIN)

# Run from the repository root: artifacts live in ./mlruns beside mlflow.db.
ui: setup
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port 5000
