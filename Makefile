# Two commands for a fresh machine: `make demo` and `make test`.
# Both bootstrap .venv on first use (Python 3.10–3.12 needed).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is installed first, on its own: 2.13.0 is the CPU build on these machines'
# local wheel cache, so the range in pyproject.toml is then satisfied without
# pulling a multi-GB CUDA build. GPU users pass their CUDA build, e.g.
#   make demo TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install demo test lint dev bench clean constraints

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_SPEC)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cell-assets demo --out demo

test: lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check cell_assets cell_assets_tests
	$(BIN)/ruff format --check cell_assets cell_assets_tests

# The instance home is made (or an earlier unedited one upgraded) by the one initialiser the
# commands use; no dagster.yaml lies in the repository root, where `dagster dev` would warn
# that it "will not be used".
dev: $(STAMP)
	$(BIN)/python -c "from pathlib import Path; from cell_assets.cli.instance import prepare_home; prepare_home(Path('.dagster_home'))"
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(BIN)/dagster dev

bench: $(STAMP)
	$(BIN)/cell-assets bench prepare

clean:
	rm -rf demo .dagster_home .pytest_cache

# The pins the container images install (deploy/Dockerfile*): this environment, frozen.
# torch is left out: each image takes its own build (CPU or CUDA) from PyTorch's index.
constraints: $(STAMP)
	{ echo "# Frozen from a tested .venv by 'make constraints'; used by deploy/Dockerfile*."; \
	  $(BIN)/pip freeze --exclude-editable | grep -v -E '^(torch==|nvidia-|triton==)'; } \
	  > deploy/constraints.txt
