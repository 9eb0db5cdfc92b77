"""Log records that say which request or job they belong to, as text or one JSON object a line.

A request's id comes from its X-Request-ID header when that is a safe short token (a proxy
or a client may set one to follow a request across services), or is made up; it is sent
back in the response's X-Request-ID. Batch and training tasks set the job's id. Both live
in context variables, and ``ContextFilter`` (on the handlers, see settings.LOGGING) copies
them onto every record. LOG_FORMAT=json formats each record as one JSON object:
time, level, logger, message, request_id, job_id (and exc_info when there is one).
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.signals import request_finished
from django.dispatch import receiver

REQUEST_ID_HEADER = "X-Request-ID"
#: Accepted as is from a client: up to 128 letters, digits and . _ - : (no spaces, no control characters).
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)

JSON_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(job_id)s"
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}


class ContextFilter(logging.Filter):
    """Puts the current request id and job id on every record (None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.job_id = job_id_var.get()
        return True


def json_formatter():
    """python-json-logger's formatter with the project's field names (logging.config's "()" factory)."""
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(JSON_FORMAT, rename_fields=JSON_RENAMES, datefmt="%Y-%m-%dT%H:%M:%S%z")


def request_id_accept(value: str | None) -> str:
    """The client's id when it is safe to log and echo, else a new one."""
    if value and REQUEST_ID_PATTERN.fullmatch(value):
        return value
    return uuid.uuid4().hex


@contextmanager
def job_context(job: str) -> Iterator[None]:
    """Records logged inside carry `job` as their job_id ("batch-12", "training-3")."""
    token = job_id_var.set(job)
    try:
        yield
    finally:
        job_id_var.reset(token)


class RequestIdMiddleware:
    """First in MIDDLEWARE: every record logged while serving a request carries its id.

    The id is cleared when the response is closed (request_finished), not when this
    middleware returns: Django logs a 4xx or 5xx answer after the middleware chain, and
    gunicorn writes its access line before it closes the response; both carry the id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_accept(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        request_id_var.set(request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


@receiver(request_finished)
def request_id_clear(**kwargs) -> None:
    request_id_var.set(None)


def handlers_adopt(logger: logging.Logger, *, json: bool) -> None:
    """Give the handlers of a logger that something else configured (Celery's) the context
    filter and, with json, the JSON formatter."""
    for handler in logger.handlers:
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())
        if json:
            handler.setFormatter(json_formatter())
