# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# Tests run in every configuration the README documents: PostgreSQL + Redis when they
# answer here, and always the embedded default (SQLite and the embedded broker, no Redis).
PG_URL ?= postgres://postgres@127.0.0.1:5432/mnistsite
TEST_BROKER_URL ?= redis://127.0.0.1:6379/1
EMBEDDED_ENV = DATABASE_URL=sqlite:///$(CURDIR)/var/test.sqlite3 CELERY_BROKER_URL=embedded+sqlite:///$(CURDIR)/var/test-broker.sqlite3

# Lock files, compiled from pyproject.toml by `make lock` (uv pip compile, hashes for every
# file): requirements-serving.txt (web and batch worker), requirements.txt (serving + training:
# `make run`, a newcomer's one machine trains too), requirements-dev.txt (all that + tests and
# tools: `make test`, CI). pip installs them with --require-hashes.
UV ?= $(VENV)/bin/uv
LOCK_ARGS = pip compile --quiet --generate-hashes --python-version 3.11

.PHONY: run test test-servers test-embedded test-quick check-serving setup lint format bench lock lock-upgrade clean

# `make run` installs the full lock; `make test` the dev lock (a superset with the same pins).
$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt
	PYTHON=$(PYTHON) bin/install-lock $(VENV) requirements-dev.txt
	touch $@ $(VENV)/.installed

setup: $(VENV)/.installed
	@$(PY) manage.py runtime_info --check
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py register_model --default

run: setup
	PORT=$(PORT) bin/serve

test: $(VENV)/.installed-dev
	$(PY) -m ruff check .
	@if $(PY) -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1); socket.create_connection(('127.0.0.1', 6379), 1)" 2>/dev/null; then \
		echo "PostgreSQL + Redis and the embedded configuration side by side: the embedded half's output follows"; \
		mkdir -p var; \
		$(MAKE) --no-print-directory test-embedded EMBEDDED_ARGS="$(CONFIG_FREE)" > var/test-embedded.log 2>&1 & embedded=$$!; \
		$(MAKE) --no-print-directory test-servers; servers=$$?; \
		wait $$embedded; status=$$?; cat var/test-embedded.log; \
		[ $$servers -eq 0 ] && [ $$status -eq 0 ]; \
	else echo "PostgreSQL or Redis does not answer here: testing the embedded configuration only"; \
		$(MAKE) --no-print-directory test-embedded; fi

# Tests whose outcome does not depend on the database or the broker (the pure image code, the
# pages' scripts in Chromium, the API fuzzer, the Docker files, Keras training and export) run once, in the first
# configuration; the second runs everything else (test_batch_page drives a real worker, so it
# stays in both). Alone, test-embedded runs the whole suite.
BROWSER_CONFIG_FREE = $(filter-out tests/browser/test_batch_page.py,$(wildcard tests/browser/test_*.py))
CONFIG_FREE = --ignore=tests/vision $(addprefix --ignore=,$(BROWSER_CONFIG_FREE)) \
	--ignore=tests/mnistsite/test_fuzz_api.py --ignore=tests/mnistsite/test_docker_image.py \
	--ignore=tests/mnistsite/test_docker.py \
	$(addprefix --ignore=tests/training/,test_train.py test_architectures.py test_export.py test_data.py test_negatives.py)

# PostgreSQL + Redis (DATABASE_URL and CELERY_BROKER_URL override the local defaults).
test-servers: $(VENV)/.installed-dev
	DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)} \
		sh -c '$(PY) manage.py runtime_info && $(PY) -m pytest $(PYTEST_ARGS)'

# SQLite and the embedded broker: what `make run` gives on a machine with nothing but Python.
test-embedded: $(VENV)/.installed-dev
	rm -f var/test-broker*.sqlite3*
	$(EMBEDDED_ENV) sh -c '$(PY) manage.py runtime_info && $(PY) -m pytest $(EMBEDDED_ARGS) $(PYTEST_ARGS)'

# Seconds, not minutes: no processes, no training, no browser.
test-quick: $(VENV)/.installed-dev
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.installed-dev
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: $(VENV)/.installed-dev
	$(PY) manage.py migrate --noinput -v 0
	$(PY) bench/predict_load.py $(if $(BENCH_STORAGE),--storage $(BENCH_STORAGE) --rounds 6 --seconds 15 $(BENCH_STORAGE_FLAGS))
	$(PY) bench/batch_throughput.py
	$(PY) bench/framework_floor.py

# Regenerate the locks from pyproject.toml, keeping every pin that still fits (add a
# dependency there, then `make lock`); `make lock-upgrade` moves everything to its latest
# release. The dev lock is compiled first and constrains the other two: one version of each
# package across all three.
lock: $(VENV)/.installed-dev
	$(UV) $(LOCK_ARGS) $(UPGRADE) --extra training --extra dev -o requirements-dev.txt pyproject.toml
	$(UV) $(LOCK_ARGS) --extra training -c requirements-dev.txt -o requirements.txt pyproject.toml
	$(UV) $(LOCK_ARGS) -c requirements-dev.txt -o requirements-serving.txt pyproject.toml

lock-upgrade:
	$(MAKE) --no-print-directory lock UPGRADE=--upgrade

# Serving needs no TensorFlow, scikit-learn or matplotlib: a venv of the serving lock alone
# (cached under var/, keyed by the lock's hash) imports every module, answers /api/predict,
# runs a batch chunk, and train_model names the training extra.
check-serving:
	bin/check-serving

clean:
	rm -rf var staticfiles .pytest_cache
