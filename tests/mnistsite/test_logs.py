"""Request ids (X-Request-ID in and out, on every record of the request), job ids, and
LOG_FORMAT=json's one object a line. Through real processes: test_metrics_processes.py."""

import io
import json
import logging
import re

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from mnistsite.logs import ContextFilter, RequestIdMiddleware, job_context, json_formatter

MADE_UP = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize("given", ["abc-123", "0f1e2d3c4b5a", "trace.id:42_x", "x" * 128])
def test_a_safe_request_id_is_kept_and_sent_back(client, given):
    response = client.get("/api/health/live", HTTP_X_REQUEST_ID=given)
    assert response["X-Request-ID"] == given


@pytest.mark.parametrize(
    "given", ["", "x" * 129, "has space", "line\nbreak", "<script>", 'quote"d', "ünïcode", "semi;colon", "a/b"]
)
def test_an_unsafe_request_id_is_replaced(client, given):
    response = client.get("/api/health/live", HTTP_X_REQUEST_ID=given)
    assert response["X-Request-ID"] != given
    assert MADE_UP.fullmatch(response["X-Request-ID"])


def test_a_request_without_an_id_gets_a_new_one_each_time(client):
    first, second = (client.get("/api/health/live")["X-Request-ID"] for _ in range(2))
    assert MADE_UP.fullmatch(first) and MADE_UP.fullmatch(second) and first != second


def test_an_error_answer_carries_the_request_id_too(client):
    response = client.get("/api/no-such-endpoint", HTTP_X_REQUEST_ID="req-404")
    assert response.status_code == 404
    assert response["X-Request-ID"] == "req-404"


@pytest.fixture
def json_lines():
    """A handler as settings.LOGGING builds it with LOG_FORMAT=json, writing to a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("tests.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield logger, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


@pytest.mark.django_db  # closing the response sends request_finished, which closes old connections
def test_records_logged_while_serving_a_request_carry_its_id(json_lines):
    logger, lines = json_lines

    def view(request):
        logger.warning("inside %s", "the view")
        return HttpResponse("ok")

    response = RequestIdMiddleware(view)(RequestFactory().get("/", HTTP_X_REQUEST_ID="req-7"))
    logger.info("after the view, as Django logs a 4xx and gunicorn its access line")
    response.close()  # the WSGI server is done with it
    logger.info("after the request")
    assert response["X-Request-ID"] == "req-7"
    inside, after_view, after = lines()
    assert after_view["request_id"] == "req-7"
    assert set(inside) >= {"time", "level", "logger", "message", "request_id", "job_id"}
    assert inside["message"] == "inside the view"
    assert inside["level"] == "WARNING" and inside["logger"] == "tests.json"
    assert inside["request_id"] == "req-7" and inside["job_id"] is None
    assert after["request_id"] is None


def test_records_logged_inside_a_job_carry_its_id(json_lines):
    logger, lines = json_lines
    with job_context("batch-12"):
        logger.info("chunk written")
    logger.info("outside")
    inside, outside = lines()
    assert inside["job_id"] == "batch-12" and outside["job_id"] is None


def test_an_exception_is_one_json_line(json_lines):
    logger, lines = json_lines
    try:
        raise ValueError("broken\non two lines")
    except ValueError:
        logger.exception("it failed")
    (line,) = lines()
    assert line["message"] == "it failed"
    assert "ValueError: broken" in line["exc_info"]


def test_the_batch_task_sets_the_job_id(monkeypatch):
    from mnistsite.logs import job_id_var
    from recognizer import tasks

    seen = []
    monkeypatch.setattr(tasks.batch, "batch_chunk_run", lambda **kwargs: seen.append(job_id_var.get()) or "written")
    tasks.batch_chunk_task.run(41, 0)
    assert seen == ["batch-41"]
    assert job_id_var.get() is None
