"""The Celery app: CELERY_-prefixed settings, tasks autodiscovered from the apps."""

import os

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    celeryd_init,
    task_postrun,
    task_prerun,
    worker_ready,
    worker_shutdown,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mnistsite.settings")

app = Celery("mnistsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="mnistsite.ping", ignore_result=False)
def ping() -> str:
    """No side effects: shows that a worker takes tasks from the broker and answers."""
    return "pong"


_heartbeat = {}


@worker_ready.connect
def heartbeat_start(sender=None, **kwargs) -> None:
    """In the worker's main process: beat in the database and run the sweeps (mnistsite.workers)."""
    from mnistsite.health import safe_broker_url
    from mnistsite.workers import HeartbeatThread

    queues = ",".join(sorted(sender.app.amqp.queues.consume_from or {}))
    thread = HeartbeatThread(hostname=sender.hostname, queues=queues, broker=safe_broker_url())
    thread.start()
    _heartbeat["thread"] = thread


@worker_shutdown.connect
def heartbeat_stop(**kwargs) -> None:
    thread = _heartbeat.pop("thread", None)
    if thread is not None:
        thread.stop()


# --- Metrics and logs (mnistsite.metrics, mnistsite.logs) ---
# With CELERY_METRICS_PORT set, the worker serves /metrics on that port (from a small process
# of its own, mnistsite.worker_metrics): the sum of its pool processes' values, which they
# write to a directory of their own (prometheus-client's multiprocess mode). The directory is
# set before the pool forks and before any metric is made (celeryd_init is the worker's
# first signal; mnistsite.metrics makes its metrics on first use).


def _metrics_port() -> int:
    return int(os.environ.get("CELERY_METRICS_PORT") or 0)


@celeryd_init.connect
def worker_metrics_prepare(**kwargs) -> None:
    from mnistsite.metrics_dir import metrics_enabled, multiprocess_dir_prepare

    if _metrics_port() and metrics_enabled():
        # Never the web's directory, even on the same host (make run): each empties its own.
        multiprocess_dir_prepare(prefix="mnistsite-worker-metrics-", use_environment=False)


_metrics_server = {}


@worker_ready.connect
def worker_metrics_start(sender=None, **kwargs) -> None:
    """Serve the pool's metrics on CELERY_METRICS_PORT from a small process (mnistsite.worker_metrics)."""
    import subprocess
    import sys

    from django.conf import settings

    if settings.WORKER_METRICS_PORT and settings.METRICS_ENABLED:
        _metrics_server["process"] = subprocess.Popen(
            [sys.executable, "-m", "mnistsite.worker_metrics", str(settings.WORKER_METRICS_PORT), str(os.getpid())],
            cwd=settings.BASE_DIR,
        )


@worker_shutdown.connect
def worker_metrics_stop(**kwargs) -> None:
    from mnistsite.metrics_dir import multiprocess_dir_remove

    server = _metrics_server.pop("process", None)
    if server is not None:
        server.terminate()
        server.wait(timeout=10)
    multiprocess_dir_remove()


_task_started: dict[str, float] = {}


@task_prerun.connect
def task_timer_start(task_id=None, **kwargs) -> None:
    import time

    _task_started[task_id] = time.perf_counter()


@task_postrun.connect
def task_timer_stop(task_id=None, task=None, state=None, **kwargs) -> None:
    import time

    from mnistsite.metrics import task_record

    started = _task_started.pop(task_id, None)
    seconds = time.perf_counter() - started if started is not None else None
    task_record(task=getattr(task, "name", "unknown"), state=(state or "unknown").lower(), seconds=seconds)


@after_setup_logger.connect
@after_setup_task_logger.connect
def logging_adopt(logger=None, **kwargs) -> None:
    """Celery configures the worker's logging itself: add the job ids, and JSON with LOG_FORMAT=json."""
    from mnistsite.logs import handlers_adopt

    if logger is not None:
        handlers_adopt(logger, json=os.environ.get("LOG_FORMAT") == "json")
