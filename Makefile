# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATABASE_URL_TEST ?= postgres://postgres@127.0.0.1:5432/hiclaw

.PHONY: run test lint

## Run the controller in embedded mode (SQLite, in-process Celery) on http://$HOST:$PORT
run: $(VENV)/.runtime
	$(BIN)/python manage.py hiclaw_run

## Run the whole test suite (PostgreSQL from DATABASE_URL, default the local server)
test: $(VENV)/.test
	DATABASE_URL=$${DATABASE_URL:-$(DATABASE_URL_TEST)} $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.test: $(VENV)/.runtime requirements-test.txt
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@

# Servers used only by tests live in their own virtualenvs so their pins never
# constrain the controller's (DESIGN §13). The fixtures in tests/services/ use them.
TEST_VENVS := .venvs/synapse/.installed .venvs/moto/.installed
$(VENV)/.test: $(TEST_VENVS)

.venvs/%/.installed: tests/requirements-%.txt
	$(PYTHON) -m venv .venvs/$*
	.venvs/$*/bin/pip install --quiet -r $<
	touch $@
