"""The Celery app: CELERY_-prefixed settings, tasks autodiscovered from the apps."""

import os

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

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
