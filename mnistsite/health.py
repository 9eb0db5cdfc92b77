"""Checks of the parts the service depends on, for /api/health and the job endpoints."""

import time

from django.conf import settings
from django.db import connection
from django.db.utils import DatabaseError

_broker_cache: dict = {"at": 0.0, "result": None}
BROKER_CHECK_SECONDS = 2.0


def database_check() -> str | None:
    """None when the database answers, else why not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return f"database unavailable: {exc.__class__.__name__}"
    return None


def broker_check(*, use_cache: bool = True) -> str | None:
    """None when the Celery broker accepts a connection, else why not (cached for 2 s)."""
    now = time.monotonic()
    if use_cache and now - _broker_cache["at"] < BROKER_CHECK_SECONDS:
        return _broker_cache["result"]
    from mnistsite.celery import app

    result = None
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=1)
    except Exception as exc:  # kombu raises many transport-specific types
        result = f"broker unavailable at {safe_broker_url()}: {exc.__class__.__name__}"
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
