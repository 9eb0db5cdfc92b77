"""Which Celery workers are alive, told by the database, whatever the broker.

Each worker's main process keeps a Worker row fresh from a daemon thread, and from the
same thread runs the sweeps in settings.WORKER_SWEEPS (re-sending batch chunks and
failing training jobs held by dead workers). The broker cannot tell this on its own: the
embedded broker has no broadcast, and a Redis without persistence forgets messages.
"""

import logging
import os
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from django.utils.module_loading import import_string

from mnistsite.models import Worker

logger = logging.getLogger(__name__)


def worker_beat(
    *, hostname: str, pid: int, queues: str = "", broker: str = "", started: datetime | None = None
) -> Worker:
    """Record that `hostname` is alive now (a new incarnation when `started` is given)."""
    now = timezone.now()
    defaults = {"pid": pid, "queues": queues[:255], "broker": broker[:500], "last_seen": now}
    if started is not None:
        defaults["started"] = started
        worker, _ = Worker.objects.update_or_create(hostname=hostname, defaults=defaults)
        return worker
    updated = Worker.objects.filter(hostname=hostname, pid=pid).update(last_seen=now)
    if not updated:  # the row was removed, or taken by a newer worker of that name
        worker, _ = Worker.objects.get_or_create(hostname=hostname, defaults={**defaults, "started": now})
        return worker
    return Worker(hostname=hostname, pid=pid, last_seen=now)


def worker_forget(*, hostname: str, pid: int) -> None:
    """A worker that stops cleanly leaves at once: what it held is re-sent without waiting."""
    Worker.objects.filter(hostname=hostname, pid=pid).delete()


def worker_stale_before() -> datetime:
    return timezone.now() - timedelta(seconds=settings.WORKER_STALE_SECONDS)


def workers_alive(*, broker: str | None = None):
    """Workers whose heartbeat is fresh; with `broker`, only those taking tasks from it (two
    setups may share a database, and a task sent to one broker waits for that one's workers)."""
    alive = Worker.objects.filter(last_seen__gte=worker_stale_before())
    return alive if broker is None else alive.filter(broker=broker)


def worker_is_alive(hostname: str, *, since: datetime | None = None) -> bool:
    """True when `hostname` beats and, with `since`, is the same process that was running
    then: a worker restarted under the same name afterwards does not hold what the old one held."""
    if not hostname:
        return False
    alive = workers_alive().filter(hostname=hostname)
    if since is not None:
        alive = alive.filter(started__lte=since)
    return alive.exists()


def sweeps_run() -> None:
    """Run every sweep; one failing does not stop the others."""
    for path in settings.WORKER_SWEEPS:
        try:
            import_string(path)()
        except Exception:
            logger.exception("sweep %s failed", path)


class HeartbeatThread(threading.Thread):
    """Beats every WORKER_BEAT_SECONDS and runs the sweeps, in a worker's main process."""

    def __init__(self, *, hostname: str, queues: str = "", broker: str = ""):
        super().__init__(name="mnistsite-heartbeat", daemon=True)
        self.hostname, self.queues, self.broker, self.pid = hostname, queues, broker, os.getpid()
        self.stopping = threading.Event()

    def run(self) -> None:
        started = timezone.now()
        first = True
        while not self.stopping.is_set():
            close_old_connections()
            try:
                since = started if first else None
                worker_beat(hostname=self.hostname, pid=self.pid, queues=self.queues, broker=self.broker, started=since)
                first = False
                sweeps_run()
            except Exception:  # the database may be away for a moment; try again next beat
                logger.exception("worker heartbeat failed")
            self.stopping.wait(settings.WORKER_BEAT_SECONDS)
        close_old_connections()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)
        try:
            worker_forget(hostname=self.hostname, pid=self.pid)
        except Exception:
            logger.exception("could not remove the worker row of %s", self.hostname)
