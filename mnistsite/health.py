"""Checks of the parts the service depends on, for /api/health and the job endpoints.

What the statuses mean (the README repeats this):
- "ok" (200): predictions are served and jobs run.
- "degraded" (200): predictions are served, but jobs cannot run now: the broker does not
  answer, or no worker has beaten recently. Keep the web in its load balancer.
- "error" (503): a prediction cannot be served: no model is loaded, or no database.
"""

import time

from django.conf import settings
from django.db import connection
from django.db.utils import DatabaseError

_broker_cache: dict = {"at": 0.0, "result": None}
BROKER_CHECK_SECONDS = 2.0


def database_check(*, detail: bool = False) -> str | None:
    """None when the database answers, else why not; `detail` adds the exception's message."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return f"database unavailable: {exc.__class__.__name__}" + (f": {_first_line(exc)}" if detail else "")
    return None


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else ""


def broker_check(*, use_cache: bool = True, detail: bool = False) -> str | None:
    """None when the Celery broker accepts a connection, else why not (cached for 2 s);
    `detail` adds the exception's message."""
    now = time.monotonic()
    if use_cache and now - _broker_cache["at"] < BROKER_CHECK_SECONDS:
        return _broker_cache["result"]
    from mnistsite.celery import app

    result = None
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=1)
            # A round trip through the transport, not just a socket: declaring the queue
            # (workers declare it anyway) reads its size on every kind of broker.
            conn.default_channel.queue_declare(queue=settings.CELERY_TASK_DEFAULT_QUEUE, durable=True)
    except Exception as exc:  # kombu raises many transport-specific types
        result = f"broker unavailable at {safe_broker_url()}: {exc.__class__.__name__}"
        if detail:
            result += f": {_first_line(exc)}"
    _broker_cache.update(at=time.monotonic(), result=result)
    return result


def safe_broker_url() -> str:
    """The broker URL without its password."""
    from kombu.utils.url import maybe_sanitize_url

    return maybe_sanitize_url(settings.CELERY_BROKER_URL)


class BrokerUnavailable(RuntimeError):
    """Jobs cannot be queued: the broker does not answer."""


def broker_require() -> None:
    """Raise BrokerUnavailable before anything of a job is created, so nothing is left half-made."""
    error = broker_check()
    if error:
        raise BrokerUnavailable(f"jobs cannot be queued right now: {error}")


def workers_check() -> tuple[int | None, str | None]:
    """(workers alive, None), or (None, why not) when the database cannot say."""
    from mnistsite.workers import workers_alive

    try:
        count = workers_alive(broker=safe_broker_url()).count()
    except DatabaseError as exc:
        return None, f"workers unknown: {exc.__class__.__name__}"
    return count, None if count else f"no Celery worker takes tasks from {safe_broker_url()}: jobs wait in the queue"


def health_report() -> tuple[dict, int]:
    """The body and HTTP status of /api/health (see the module's docstring)."""
    from recognizer.serving import serving_status

    model = serving_status()
    database_error = database_check()
    broker_error = broker_check()
    workers, workers_error = workers_check() if database_error is None else (None, None)
    errors = [e for e in (model["error"], database_error, broker_error, workers_error) if e]
    if not model["model_loaded"] or database_error:
        overall, code = "error", 503
    elif errors:
        overall, code = "degraded", 200
    else:
        overall, code = "ok", 200
    body = {
        "status": overall,
        "model_loaded": model["model_loaded"],
        "model_version": model["model_version"],
        "database": "ok" if database_error is None else "unavailable",
        "broker": "ok" if broker_error is None else "unavailable",
        "broker_kind": "embedded" if settings.CELERY_BROKER_EMBEDDED else "server",
        "workers": workers,
    }
    if errors:
        body["errors"] = errors
    return body, code
