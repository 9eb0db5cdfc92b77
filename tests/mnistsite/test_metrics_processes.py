"""/metrics through real processes: a gunicorn whose workers' counts add up in one scrape, and a
Celery worker whose pool process's batch work shows on its own metrics port; both behind
the token, both logging JSON lines that carry the request or job id."""

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from celery import current_app

from recognizer.batch import batch_job_create
from recognizer.models import BatchJob
from tests.conftest import ROOT, subprocess_env, wait_until
from tests.images import digit_png, multipart
from tests.mnistsite.metrics_helpers import Scrape
from tests.recognizer.batch_helpers import labelled_zip, upload

TOKEN = "integration-metrics-token-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, *, token: str | None = None, headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={**(headers or {})})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.integration
@pytest.mark.slow
def test_metrics_add_up_over_gunicorn_workers_and_show_a_celery_workers_batch_work(
    transactional_db, served_default_model, celery_worker_process, settings, tmp_path
):
    port, worker_port = free_port(), free_port()
    web_log = tmp_path / "gunicorn.log"
    env = subprocess_env(CONN_MAX_AGE="0", LOG_FORMAT="json", METRICS_TOKEN=TOKEN, GUNICORN_ACCESS_LOG="/dev/null")
    with open(web_log, "wb") as log:
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "mnistsite.wsgi:application", "-c", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        # One pool process: the values cross from it to the process serving the worker's port.
        # (Two would show the sum too, but a pool of two killed by the test's process-group
        # SIGTERM after running tasks can hang in billiard's shutdown for the full 30 s.)
        # Tasks that earlier tests left in the shared broker would run here too and be counted.
        with current_app.connection_for_write() as connection:
            connection.default_channel.queue_purge("default")
        worker = celery_worker_process(
            queues="default",
            concurrency=1,
            CELERY_METRICS_PORT=str(worker_port),
            METRICS_TOKEN=TOKEN,
            LOG_FORMAT="json",
        )
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: web.poll() is not None or get(f"{url}/api/health/live")[0] == 200, timeout=60)
        assert web.poll() is None, web_log.read_text()[-3000:]

        # Predictions spread over both gunicorn workers; any one scrape sees them all.
        body, content_type = multipart(digit_png(3)[0])
        for _ in range(8):
            request = urllib.request.Request(f"{url}/api/predict", data=body, headers={"Content-Type": content_type})
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200
        assert get(f"{url}/metrics")[0] == 401
        for _ in range(4):
            status, text = get(f"{url}/metrics", token=TOKEN)
            assert status == 200, text
            scrape = Scrape(text)
            assert scrape.value("mnistsite_predictions_total", source="api") == 8
            assert scrape.value("mnistsite_http_requests_total", view="api-predict", status="200") == 8
            assert scrape.value("mnistsite_inference_seconds_count", path="request") == 8
            assert scrape.value("mnistsite_celery_broker_up") == 1

        # A logged request carries the id it was sent with, as one JSON object a line.
        assert get(f"{url}/no-such-page", headers={"X-Request-ID": "it-request-404"})[0] == 404
        wait_until(lambda: "it-request-404" in web_log.read_text(), timeout=10, message="the 404's log line")
        lines = [line for line in json_lines(web_log.read_text()) if line.get("request_id") == "it-request-404"]
        (line,) = [line for line in lines if line["logger"] == "django.request"]
        assert line["level"] == "WARNING" and "/no-such-page" in line["message"]
        assert {"time", "message", "job_id"} <= set(line)

        # A batch job of three chunks, counted by the pool process, served on the worker's port.
        settings.BATCH_CHUNK_SIZE = 4
        job = batch_job_create(archive=upload(labelled_zip(10, extra=[("broken.png", b"not an image")])))
        wait_until(
            lambda: BatchJob.objects.get(pk=job.pk).status == BatchJob.Status.SUCCEEDED, timeout=60, message="job done"
        )
        worker_metrics = f"http://127.0.0.1:{worker_port}/metrics"
        assert get(worker_metrics)[0] == 401
        # The last chunk's counters are written just after its commit: wait for them.
        wait_until(
            lambda: Scrape(get(worker_metrics, token=TOKEN)[1]).value("mnistsite_batch_jobs_finished_total") == 1,
            timeout=10,
        )
        scrape = Scrape(get(worker_metrics, token=TOKEN)[1])
        assert scrape.value("mnistsite_batch_items_processed_total") == 11
        assert scrape.value("mnistsite_batch_items_failed_total") == 1
        assert scrape.value("mnistsite_batch_chunk_duration_seconds_count") == 3
        assert (
            scrape.value("mnistsite_celery_tasks_total", task="recognizer.tasks.batch_chunk_task", state="success") == 3
        )
        assert scrape.value("mnistsite_predictions_total", source="batch") == 11
        chunk_lines = [line for line in json_lines(worker.output()) if line["logger"] == "recognizer.batch"]
        assert len(chunk_lines) == 3 and {line["job_id"] for line in chunk_lines} == {f"batch-{job.pk}"}
    finally:
        web.terminate()
        web.wait(timeout=30)
