# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
export PATRON_DATABASE_URL ?= sqlite:///patron.db
export PATRON_PORT ?= 8000

.PHONY: run test lint typecheck format install demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## Create .venv, install, build the demo store in patron.db (first time only) and serve it.
run: install
	$(BIN)/patron init
	$(BIN)/patron demo --if-empty
	@echo "Patron on http://127.0.0.1:$(PATRON_PORT) - admin login and API key: patron-credentials.txt"
	$(BIN)/patron serve --port $(PATRON_PORT)

## Lint, layer contracts, types, and the whole test suite on SQLite and PostgreSQL.
test: install lint typecheck
	$(BIN)/pytest -n 2 -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	tools/vendor-assets --check

typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
