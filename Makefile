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

.PHONY: run test test-servers test-embedded test-quick setup lint format bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

setup: $(VENV)/.installed
	@$(PY) manage.py runtime_info --check
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py register_model --default

run: setup
	PORT=$(PORT) bin/serve

test: $(VENV)/.installed
	$(PY) -m ruff check .
	@if $(PY) -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1); socket.create_connection(('127.0.0.1', 6379), 1)" 2>/dev/null; then \
		$(MAKE) --no-print-directory test-servers; \
	else echo "PostgreSQL or Redis does not answer here: testing the embedded configuration only"; fi
	$(MAKE) --no-print-directory test-embedded

# PostgreSQL + Redis (DATABASE_URL and CELERY_BROKER_URL override the local defaults).
test-servers: $(VENV)/.installed
	DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)} \
		sh -c '$(PY) manage.py runtime_info && $(PY) -m pytest $(PYTEST_ARGS)'

# SQLite and the embedded broker: what `make run` gives on a machine with nothing but Python.
test-embedded: $(VENV)/.installed
	rm -f var/test-broker*.sqlite3*
	$(EMBEDDED_ENV) sh -c '$(PY) manage.py runtime_info && $(PY) -m pytest $(PYTEST_ARGS)'

# Seconds, not minutes: no processes, no training, no browser.
test-quick: $(VENV)/.installed
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.installed
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: $(VENV)/.installed
	$(PY) manage.py migrate --noinput -v 0
	$(PY) bench/predict_load.py $(if $(BENCH_STORAGE),--storage $(BENCH_STORAGE) --rounds 3)
	$(PY) bench/batch_throughput.py
	$(PY) bench/framework_floor.py

clean:
	rm -rf var staticfiles .pytest_cache
