"""gunicorn settings; every value can be overridden from the environment."""

import os
import sys

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
# Sync workers: a prediction is ~1 ms of CPU, so processes, not threads, use the 2 cores.
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so slow leaks cannot grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = 500
# The master imports the application before it forks (when_ready, below), so that a fresh
# worker, at start or replacing one, answers at once; the model still loads lazily in each
# worker after the fork, never in the master. gunicorn's own preload_app stays off: it would
# import the application before on_starting, where the metrics directory is set.
# A HUP starts workers on the code the master imported (restart to deploy new code);
# GUNICORN_PRELOAD=false: each worker imports everything itself (slow to start; a HUP reloads).
preload_app = False
_preload = os.environ.get("GUNICORN_PRELOAD", "true").strip().lower() not in ("false", "0", "no", "off", "")
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
limit_request_field_size = 8190

# Prometheus (mnistsite.metrics): the workers count into one directory that the worker
# answering /metrics adds up. It is emptied when the master starts (PROMETHEUS_MULTIPROC_DIR
# if set, else a fresh one on /dev/shm, removed on exit), before the master or any worker
# imports prometheus_client, and a worker that exits is marked dead so its live gauges drop.
_metrics = os.environ.get("METRICS_ENABLED", "true").strip().lower() not in ("false", "0", "no", "off", "")


def on_starting(server):
    """In the master, once, before it imports anything of the site: the metrics directory."""
    if _metrics:
        from mnistsite.metrics_dir import multiprocess_dir_prepare

        multiprocess_dir_prepare(prefix="mnistsite-web-metrics-")


def when_ready(server):
    """In the master, once it listens (clients connecting meanwhile wait in the backlog, not
    refused) and before the first fork: the preload."""
    if _preload:
        server.app.wsgi()  # what gunicorn's preload_app does, here after the metrics directory
        # The site's own application only (bench/framework_floor.py serves others).
        if getattr(server.app, "app_uri", None) == "mnistsite.wsgi:application":
            from mnistsite.prefork import web_preload

            web_preload()  # the URLconf, numpy, scipy, LiteRT's module; no model, no connection


def worker_exit(server, worker):
    """In a worker that ends normally (max_requests reached, a graceful stop): exit without
    Python's teardown, so that the master forks the replacement sooner (mnistsite.prefork).
    Any other end (a failed boot, an error) keeps the exit status gunicorn gave it."""
    ending = sys.exc_info()[1]  # gunicorn calls this hook while its sys.exit() propagates
    if isinstance(ending, SystemExit) and ending.code in (0, None):
        from mnistsite.prefork import worker_exit_now

        worker_exit_now()


if _metrics:

    def child_exit(server, worker):
        from mnistsite.metrics_dir import process_dead

        process_dead(worker.pid)

    def on_exit(server):
        from mnistsite.metrics_dir import multiprocess_dir_remove

        multiprocess_dir_remove()


# LOG_FORMAT=json: gunicorn's own lines (errors, the access log) as JSON objects too.
if os.environ.get("LOG_FORMAT") == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "mnistsite.logs.json_formatter"}},
        # The access line is written while the request's id is still set (mnistsite.logs).
        "filters": {"context": {"()": "mnistsite.logs.ContextFilter"}},
        "handlers": {
            "error_console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["context"],
                "stream": "ext://sys.stderr",
            },
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["context"],
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
        },
    }
    if accesslog == "-":  # to a file or /dev/null, the access log stays as gunicorn writes it
        logconfig_dict["loggers"]["gunicorn.access"] = {"level": "INFO", "handlers": ["console"], "propagate": False}
