# The two commands in the README are the contract: `make run` and `make test`
# must work on a fresh machine with only Python 3.11 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := .demo/lighthouse
SAMPLE := sample_projects/lighthouse

.PHONY: run test lint bench demo clean-demo snapshots

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(DEMO): | $(STAMP)
	$(BIN)/storyboard new $(DEMO) --from $(SAMPLE)

demo: $(DEMO)

run: $(STAMP) $(DEMO)
	$(BIN)/storyboard $(DEMO)

clean-demo:
	rm -rf .demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy --strict tui

# Two workers (this machine has two cores); every test runs, slow ones included.
test: lint
	$(BIN)/pytest -n 2 --cov=tui --cov-report=term --cov-fail-under=80

snapshots: $(STAMP)
	$(BIN)/pytest tests/ui --snapshot-update

bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks
