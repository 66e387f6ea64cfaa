# The two set-up commands of the README: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test check bench docs

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,jdk]'
	touch $@

serve: $(VENV)/.installed
	$(BIN)/logriver serve --dev

# Lint, format and type checks run with the tests: zero findings or the run fails.
check: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy -p logriver

# Grafana's LogQL grammar from npm, the syntax reference of the LogQL tests.
LEZER := tests/adapters/loki/lezer
$(LEZER)/node_modules/.installed: $(LEZER)/package-lock.json
	cd $(LEZER) && npm ci --silent --no-audit --no-fund
	touch $@

test: check $(LEZER)/node_modules/.installed
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python -m bench

# Regenerates docs/configuration.md from logriver.core.settings.Settings.
docs: $(VENV)/.installed
	$(BIN)/python -m logriver.configdoc
