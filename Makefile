# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# Tests use real PostgreSQL and Redis when they answer here, else SQLite and the embedded broker.
PG_URL ?= postgres://postgres@127.0.0.1:5432/mnistsite
TEST_BROKER_URL ?= redis://127.0.0.1:6379/1

.PHONY: run test setup lint format bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

setup: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py register_model --default

run: setup
	PORT=$(PORT) bin/serve

test: $(VENV)/.installed
	@if [ -z "$$DATABASE_URL" ] && $(PY) -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null; then \
		export DATABASE_URL=$(PG_URL); fi; \
	if [ -z "$$CELERY_BROKER_URL" ]; then export CELERY_BROKER_URL=$(TEST_BROKER_URL); fi; \
	$(PY) manage.py runtime_info && \
	$(PY) -m ruff check . && \
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.installed
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: $(VENV)/.installed
	$(PY) manage.py migrate --noinput -v 0
	$(PY) bench/predict_load.py
	$(PY) bench/batch_throughput.py
	$(PY) bench/framework_floor.py

clean:
	rm -rf var staticfiles .pytest_cache
