# The two commands that matter: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STATE ?= .state

.PHONY: run test lint bench venv clean

$(BIN)/hookrunner: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/hookrunner

run: venv
	$(BIN)/python scripts/run_local.py --state $(STATE)

lint: venv
	$(BIN)/ruff check hookrunner hookrunner_dev tests bench scripts
	$(BIN)/ruff format --check hookrunner hookrunner_dev tests bench scripts
	$(BIN)/mypy hookrunner hookrunner_dev

test: lint
	$(BIN)/pytest -q

bench: venv
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(STATE) .pytest_cache .mypy_cache .ruff_cache
