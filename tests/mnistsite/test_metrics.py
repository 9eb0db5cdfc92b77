"""/metrics in-process: what moves after predictions and batch jobs, what is read at scrape
time (queue depths, training jobs), labels that stay bounded, and who may read it.

The counters live in this process's registry for the whole session, so each test compares
a scrape after with a scrape before. A real gunicorn and a real worker: test_metrics_processes.py.
"""

import pytest
from celery import current_app
from django.core.files.uploadedfile import SimpleUploadedFile

from mnistsite import metrics
from mnistsite.celery import ping
from recognizer.batch import batch_job_create, batch_job_fail, batch_job_run_sync
from recognizer.models import BatchJob
from tests.images import blank_png, digit_png
from tests.mnistsite.metrics_helpers import Scrape
from tests.recognizer.batch_helpers import labelled_zip, upload
from training.models import TrainingJob

pytestmark = pytest.mark.django_db


def scrape(client) -> Scrape:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return Scrape(response.content.decode())


def post_png(client, data: bytes, **extra):
    return client.post("/api/predict", {"file": SimpleUploadedFile("d.png", data, content_type="image/png"), **extra})


def test_predictions_count_by_outcome_reason_source_and_model_version(client, served_default_model):
    version = served_default_model.version
    data, label = digit_png(3)
    before = scrape(client)
    assert post_png(client, data).json()["prediction"] == label
    assert post_png(client, data, source="canvas").status_code == 200
    assert post_png(client, blank_png()).json()["rejected"] is True
    after = scrape(client)

    def moved(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    predictions = "mnistsite_predictions_total"
    assert moved(predictions, outcome=str(label), reason="none", source="api", model_version=version) == 1
    assert moved(predictions, outcome=str(label), source="canvas", model_version=version) == 1
    assert moved(predictions, outcome="rejected", reason="no_ink", source="api", model_version=version) == 1
    # Every image is preprocessed; a blank one never reaches the model.
    assert moved("mnistsite_preprocess_seconds_count", path="request") == 3
    assert moved("mnistsite_inference_seconds_count", path="request") == 2
    assert moved("mnistsite_inference_seconds_bucket", path="request", le="+Inf") == 2
    assert moved("mnistsite_http_requests_total", view="api-predict", method="POST", status="200") == 3
    assert moved("mnistsite_http_request_duration_seconds_count", view="api-predict", method="POST") == 3


def test_requests_are_labelled_by_view_name_never_by_path(client):
    before = scrape(client)
    assert client.get("/api/predictions/987654321").status_code in (403, 404)
    assert client.get("/no-such-page/123456789").status_code == 404
    after = scrape(client)
    assert after.value("mnistsite_http_requests_total", view="api-prediction-detail", method="GET") == 1 + before.value(
        "mnistsite_http_requests_total", view="api-prediction-detail", method="GET"
    )
    assert after.value("mnistsite_http_requests_total", view="unresolved", status="404") > 0
    assert not any("987654321" in value or "123456789" in value for value in after.label_values())


@pytest.mark.parametrize(
    "reason, category",
    [
        ("no ink found: the image is blank", "no_ink"),
        ("several digits found (4): /api/predict reads one digit", "several_digits"),
        ("several digits found (17): /api/predict reads one digit", "several_digits"),
        ("not a digit: the image does not look like a handwritten digit", "not_a_digit"),
        ("not sure: no digit stands out clearly", "not_sure"),
        ("something new", "other"),
        (None, "none"),
    ],
)
def test_rejection_reasons_become_a_few_categories(reason, category):
    assert metrics.reason_category(reason) == category


def test_a_batch_job_counts_items_failures_duration_and_speed(
    client, served_default_model, django_capture_on_commit_callbacks
):
    before = scrape(client)
    archive = labelled_zip(7, extra=[("broken.png", b"not an image at all")])
    job = batch_job_create(archive=upload(archive), queue=False)
    with django_capture_on_commit_callbacks(execute=True):
        job = batch_job_run_sync(job_id=job.pk)
    assert job.status == BatchJob.Status.SUCCEEDED
    after = scrape(client)

    def moved(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("mnistsite_batch_items_processed_total") == 8
    assert moved("mnistsite_batch_items_failed_total") == 1
    assert moved("mnistsite_predictions_total", source="batch", outcome="error", reason="none") == 1
    assert moved("mnistsite_predictions_total", source="batch", model_version=served_default_model.version) == 8
    assert moved("mnistsite_batch_chunk_duration_seconds_count") == 1
    assert moved("mnistsite_preprocess_seconds_count", path="batch") == 1
    assert moved("mnistsite_inference_seconds_count", path="batch") == 1
    assert moved("mnistsite_batch_jobs_finished_total", status="succeeded") == 1
    assert moved("mnistsite_batch_job_duration_seconds_count") == 1
    assert after.value("mnistsite_batch_last_job_images_per_second") == pytest.approx(job.images_per_second)


def test_a_failed_batch_job_is_counted_once(client, served_default_model, django_capture_on_commit_callbacks):
    job = batch_job_create(archive=upload(labelled_zip(2)), queue=False)
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        batch_job_fail(job_id=job.pk, error="test")
        batch_job_fail(job_id=job.pk, error="test again")  # already failed: not counted twice
    assert scrape(client).value("mnistsite_batch_jobs_finished_total", status="failed") == 1 + before.value(
        "mnistsite_batch_jobs_finished_total", status="failed"
    )


def test_training_jobs_state_and_progress_are_read_when_scraped(client):
    running = TrainingJob.objects.create(
        status=TrainingJob.Status.RUNNING, phase="training", epoch=3, epochs=4, step=120, steps=469, eta_seconds=12.5
    )
    TrainingJob.objects.create(status=TrainingJob.Status.QUEUED)
    after = scrape(client)
    job = str(running.pk)
    assert after.value("mnistsite_training_jobs", status="running") == 1
    assert after.value("mnistsite_training_jobs", status="queued") == 1
    assert after.value("mnistsite_training_jobs", status="succeeded") == 0
    assert after.value("mnistsite_training_job_progress_ratio", job=job) == 0.75
    assert after.value("mnistsite_training_job_step", job=job) == 120
    assert after.value("mnistsite_training_job_steps", job=job) == 469
    assert after.value("mnistsite_training_job_eta_seconds", job=job) == 12.5
    assert after.value("mnistsite_training_job_phase", job=job, phase="training") == 1
    assert after.value("mnistsite_state_up") == 1


@pytest.fixture
def spare_queue(settings):
    """A queue of its own, counted as the default one, emptied afterwards."""
    settings.CELERY_TASK_DEFAULT_QUEUE = "metrics-test"
    yield "metrics-test"
    with current_app.connection_for_write() as connection:
        connection.default_channel.queue_purge("metrics-test")


def test_queue_depth_counts_the_messages_waiting_in_the_broker(client, spare_queue):
    before = scrape(client).value("mnistsite_celery_queue_length", queue=spare_queue)
    for _ in range(3):
        ping.apply_async(queue=spare_queue)
    after = scrape(client)
    assert after.value("mnistsite_celery_broker_up") == 1
    assert after.value("mnistsite_celery_queue_length", queue=spare_queue) == before + 3
    assert after.has("mnistsite_celery_queue_length", queue="training")


@pytest.mark.parametrize("broker", ["redis://127.0.0.1:1/0", "embedded+sqlite:///nonexistent-dir/broker.sqlite3"])
def test_a_broker_that_does_not_answer_leaves_the_depths_out_and_the_scrape_answers(client, settings, broker):
    settings.CELERY_BROKER_URL = broker
    after = scrape(client)
    if broker.startswith("redis"):
        assert after.value("mnistsite_celery_broker_up") == 0
        assert not after.has("mnistsite_celery_queue_length")
    else:  # no file yet: nothing was ever sent, every queue is empty
        assert after.value("mnistsite_celery_broker_up") == 1
        assert after.value("mnistsite_celery_queue_length") == 0
    assert after.value("mnistsite_state_up") == 1


def test_a_database_that_does_not_answer_leaves_the_training_state_out(client, monkeypatch):
    from django.db import OperationalError

    def refuse(*args, **kwargs):
        raise OperationalError("the database went away")

    monkeypatch.setattr(TrainingJob.objects, "values_list", refuse)
    after = scrape(client)
    assert after.value("mnistsite_state_up") == 0
    assert not after.has("mnistsite_training_jobs")


def test_metrics_disabled_records_nothing(client, settings, served_default_model):
    before = scrape(client)
    settings.METRICS_ENABLED = False
    assert post_png(client, digit_png(3)[0]).status_code == 200
    settings.METRICS_ENABLED = True
    assert scrape(client).value("mnistsite_predictions_total") == before.value("mnistsite_predictions_total")


# --- Who may read /metrics ---

TOKEN = "a-metrics-token-for-tests-0123456789"


@pytest.mark.parametrize(
    "production, token, allowed, remote, headers, expected",
    [
        # Nothing configured: development answers this machine only, production nobody.
        (False, "", [], "127.0.0.1", {}, 200),
        (False, "", [], "::1", {}, 200),
        (False, "", [], "10.0.0.5", {}, 403),
        (True, "", [], "127.0.0.1", {}, 403),
        # A token: the right bearer token from anywhere; a wrong or missing one is a 401.
        (True, TOKEN, [], "203.0.113.9", {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}, 200),
        (True, TOKEN, [], "203.0.113.9", {"HTTP_AUTHORIZATION": "Bearer wrong-token-0123456789"}, 401),
        (True, TOKEN, [], "203.0.113.9", {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"}, 401),
        (True, TOKEN, [], "127.0.0.1", {}, 401),
        (False, TOKEN, [], "127.0.0.1", {}, 401),  # a token set in development is required there too
        # An allowlist of addresses and networks.
        (True, "", ["10.0.0.0/8", "192.0.2.7"], "10.20.30.40", {}, 200),
        (True, "", ["10.0.0.0/8", "192.0.2.7"], "192.0.2.7", {}, 200),
        (True, "", ["10.0.0.0/8", "192.0.2.7"], "192.0.2.8", {}, 403),
        (True, TOKEN, ["10.0.0.0/8"], "10.1.1.1", {}, 200),
        (True, TOKEN, ["10.0.0.0/8"], "172.16.0.1", {}, 401),
        # X-Forwarded-For is ignored with NUM_PROXIES=0 (the default): a spoofed header opens nothing.
        (True, "", ["10.0.0.0/8"], "198.51.100.1", {"HTTP_X_FORWARDED_FOR": "10.0.0.1"}, 403),
    ],
)
def test_access_to_metrics(client, settings, production, token, allowed, remote, headers, expected):
    settings.PRODUCTION, settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = production, token, allowed
    response = client.get("/metrics", REMOTE_ADDR=remote, **headers)
    assert response.status_code == expected, response.content
    if expected == 200:
        assert b"mnistsite_http_requests_total" in response.content
    else:
        assert response["Content-Type"].startswith("text/plain")
        assert b"METRICS" in response.content or b"metrics" in response.content
        assert b"mnistsite_" not in response.content
    assert ("WWW-Authenticate" in response) == (expected == 401)


def test_the_allowlist_sees_the_client_that_the_trusted_proxy_names(client, settings):
    settings.PRODUCTION, settings.METRICS_ALLOWED_IPS = True, ["10.0.0.0/8"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    through_proxy = {"REMOTE_ADDR": "172.18.0.2", "HTTP_X_FORWARDED_FOR": "10.9.9.9"}
    assert client.get("/metrics", **through_proxy).status_code == 200
    through_proxy["HTTP_X_FORWARDED_FOR"] = "10.9.9.9, 203.0.113.5"  # the proxy appended the real client
    assert client.get("/metrics", **through_proxy).status_code == 403


def test_metrics_answer_only_get(client):
    assert client.post("/metrics").status_code == 405


def test_metrics_answer_a_scrape_by_address_over_plain_http(client, settings):
    """Prometheus asks each container by its IP: no host name check, no HTTPS redirect for /metrics."""
    settings.ALLOWED_HOSTS, settings.SECURE_SSL_REDIRECT = ["digits.example.org"], True
    response = client.get("/metrics", HTTP_HOST="172.18.0.5:8000")
    assert response.status_code == 200
    assert client.get("/api/health/live", HTTP_HOST="172.18.0.5:8000").status_code == 400
    assert (
        Scrape(client.get("/metrics", HTTP_HOST="digits.example.org").content.decode()).value(
            "mnistsite_http_requests_total", view="metrics", status="200"
        )
        >= 1
    )


def test_a_training_job_that_fails_is_counted_once(client):
    from training.services import training_job_fail

    job = TrainingJob.objects.create(status=TrainingJob.Status.RUNNING)
    before = scrape(client).value("mnistsite_training_jobs_finished_total", status="failed")
    training_job_fail(job_id=job.pk, error="the process running the job died")
    training_job_fail(job_id=job.pk, error="and again")  # already failed: not counted twice
    after = scrape(client)
    assert after.value("mnistsite_training_jobs_finished_total", status="failed") == before + 1
    assert after.value("mnistsite_training_jobs", status="failed") == 1


def test_a_number_read_counts_as_the_outcome_number(client, served_default_model):
    from tests.images import encode, mnist_number

    before = scrape(client)
    data = encode(mnist_number([0, 1, 2]))
    answer = client.post("/api/read", {"file": SimpleUploadedFile("n.png", data, content_type="image/png")}).json()
    assert answer["text"] is not None
    after = scrape(client)
    version = served_default_model.version
    moved = after.value("mnistsite_predictions_total", outcome="number", source="api", model_version=version)
    assert (
        moved - before.value("mnistsite_predictions_total", outcome="number", source="api", model_version=version) == 1
    )
