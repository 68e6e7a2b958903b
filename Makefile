# Two commands: `make lab` runs the kit, `make test` passes every test.
# Both build .venv from python3 (3.11+) when it is missing or pyproject.toml changed,
# and do nothing extra when it is current.
PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.fanout-kit-installed
BIN    := $(VENV)/bin

.PHONY: lab test lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "fanout-kit needs Python 3.11 or newer; found " + sys.version.split()[0] + ". Run: make PYTHON=python3.11 ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

lab: $(STAMP)
	$(BIN)/fanout-kit lab

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/publish.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/board.py

clean:
	rm -rf $(VENV) .fanout-kit build *.egg-info
