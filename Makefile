# Targets mirror CI (.ci/run). Only Python 3.11 and make are needed.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run test e2e lint lint-imports format typecheck fuzz migrate clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11, or run make PYTHON=/path/to/python3.11"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

migrate: install
	$(PY) -m app migrate

run: install
	$(PY) -m app migrate
	$(PY) -m app catalog load
	$(PY) -m app serve --host 127.0.0.1 --port 8000

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The citizen's journey in the browser simulator (needs Debian's chromium: apt-get install chromium).
e2e: install
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The import rules of docs/architecture.md (contracts in pyproject.toml).
lint-imports: install
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install
	$(VENV)/bin/mypy app handlers intents models

fuzz: install
	$(PY) tests/fuzz_openapi.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
