# The two commands of the README: `make run` and `make test` (plus `make test-fast`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATABASE_URL_TEST ?= postgres://hiclaw:hiclaw@127.0.0.1:5432/hiclaw
# The fast tier runs in this many processes (the machines have 2 cores).
FAST_WORKERS ?= 2
# Servers used only by tests live in virtualenvs of their own so their pins never
# constrain the controller's; the fixtures in tests/services/ use them. `prod` is
# the controller's requirements.txt alone, as an operator installs it: a test
# runs web + Celery from it to prove nothing the tests bring in is needed.
TEST_VENVS := .venvs/synapse/.installed .venvs/moto/.installed .venvs/prod/.installed


.PHONY: run test test-fast test-services kube-build kube-up kube-down image image-test lint lock

## Run the controller in embedded mode (SQLite, in-process Celery) on http://$HOST:$PORT.
## Workers run as local processes unless HICLAW_BACKEND says otherwise: a Docker engine on the
## machine is no sign that the images the manifests name can be had, and a first run must work.
run: $(VENV)/.runtime
	HICLAW_BACKEND=$${HICLAW_BACKEND:-process} $(BIN)/python manage.py hiclaw_run

## Run the whole test suite: installs and starts what it needs (PostgreSQL, Redis,
## dockerd, chromium), builds the virtualenvs, then runs pytest on PostgreSQL.
test: test-services kube-build $(VENV)/.test $(TEST_VENVS)
	DATABASE_URL=$${DATABASE_URL:-$(DATABASE_URL_TEST)} $(BIN)/python -m pytest $(PYTEST_ARGS)

## The tests that need no service, on SQLite (the embedded database): under a minute.
test-fast: $(VENV)/.test
	env -u DATABASE_URL -u REDIS_URL $(BIN)/python -m pytest -m "not slow" -n $(FAST_WORKERS) $(PYTEST_ARGS)

## Install and start PostgreSQL, Redis and dockerd when they do not answer (root), or say what is missing.
test-services:
	@scripts/test-services.sh

## Build the Kubernetes control plane used by the tests (kube-apiserver, kube-scheduler, kwok,
## helm, etcd) from their Go modules into ~/.cache/hiclaw-k8s; minutes the first time, then nothing.
kube-build:
	@scripts/kube.sh build

## Start that control plane on 127.0.0.1:6443 (state in var/kube); prints the kubeconfig to use.
kube-up:
	@scripts/kube.sh up

kube-down:
	@scripts/kube.sh down

## Build the container image hiclaw/controller:<version> and :latest without a registry: a Debian
## bookworm base made by debootstrap (root, minutes once, then cached), then `docker build` (docs/image.md).
image:
	@scripts/build-image.sh

## Build the image and run it against this machine's PostgreSQL and Redis: migrate, web, Celery, a Worker.
image-test: test-services $(VENV)/.test
	env -u DATABASE_URL -u REDIS_URL $(BIN)/python -m pytest -p no:randomly tests/test_image.py $(PYTEST_ARGS)

lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

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

.venvs/%/.installed: tests/requirements-%.txt
	$(PYTHON) -m venv .venvs/$*
	.venvs/$*/bin/pip install --quiet -r $<
	touch $@

.venvs/prod/.installed: requirements.txt
	$(PYTHON) -m venv .venvs/prod
	.venvs/prod/bin/pip install --quiet -r requirements.txt
	touch $@

## Recompile the locks (requirements.txt, requirements-test.txt) from the .in files.
PIP_COMPILE = .venvs/lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links
lock: .venvs/lock/.installed
	$(PIP_COMPILE) -o requirements.txt requirements.in
	$(PIP_COMPILE) -o requirements-test.txt requirements-test.in

.venvs/lock/.installed:
	$(PYTHON) -m venv .venvs/lock
	.venvs/lock/bin/pip install --quiet pip-tools==7.6.2
	touch $@
