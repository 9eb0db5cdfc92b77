"""The batch API and pages: who may do what, and the shape of the answers."""

import csv
import io

import pytest
from rest_framework.authtoken.models import Token

from recognizer import batch
from recognizer.models import BatchJob
from tests.recognizer.batch_helpers import labelled_zip, mnist_pngs, upload

pytestmark = pytest.mark.django_db

DETAIL_KEYS = {
    "id",
    "status",
    "total",
    "done",
    "succeeded",
    "failed",
    "progress",
    "images_per_second",
    "accuracy",
    "confusion",
    "created",
    "started",
    "finished",
    "error",
    "results",
}


def test_anonymous_clients_cannot_create_or_read_jobs(client, ann):
    job = batch.batch_job_create(archive=upload(labelled_zip(2)), owner=ann, queue=False)
    for method, url in [
        ("post", "/api/batches"),
        ("get", f"/api/batches/{job.pk}"),
        ("get", f"/api/batches/{job.pk}/results.csv"),
        ("post", f"/api/batches/{job.pk}/cancel"),
    ]:
        response = getattr(client, method)(url)
        assert response.status_code in (401, 403), url
        assert "error" in response.json()


def test_a_zip_upload_creates_a_queued_job(ann_client, ann, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = ann_client.post("/api/batches", {"file": upload(labelled_zip(12))})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) >= DETAIL_KEYS
    assert body["status"] == "queued" and body["total"] == 12 and body["progress"] == 0
    assert BatchJob.objects.get(pk=body["id"]).owner == ann
    assert len(callbacks) == 1  # the chunk tasks go out once the job is committed


def test_a_token_client_can_upload_several_files(client, ann, django_capture_on_commit_callbacks):
    token = Token.objects.create(user=ann)
    files = [upload(data, f"{i}.png") for i, (data, _) in enumerate(mnist_pngs(3))]
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/api/batches", {"files": files}, HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 201, response.json()
    assert response.json()["total"] == 3


def test_finished_job_reports_progress_accuracy_and_results(ann_client, ann, served_default_model):
    job = batch.batch_job_create(archive=upload(labelled_zip(10)), owner=ann, queue=False)
    batch.batch_job_run_sync(job_id=job.pk)
    body = ann_client.get(f"/api/batches/{job.pk}").json()
    assert body["status"] == "succeeded" and body["progress"] == 1.0
    assert body["succeeded"] == 10 and body["failed"] == 0 and body["accuracy"] is not None
    assert len(body["confusion"]) == 10 and len(body["confusion"][0]) == 11
    rows = ann_client.get(body["results"]["json"]).json()["results"]
    assert [r["index"] for r in rows] == list(range(10))
    assert set(rows[0]) == set(batch.RESULT_FIELDS)
    response = ann_client.get(body["results"]["csv"])
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(table) == 10 and table[3]["name"] == rows[3]["name"]


def test_other_users_see_nothing_and_staff_see_everything(client, ann, django_user_model):
    job = batch.batch_job_create(archive=upload(labelled_zip(2)), owner=ann, queue=False)
    client.force_login(django_user_model.objects.create_user("bob"))
    for url in (f"/api/batches/{job.pk}", f"/api/batches/{job.pk}/results.json", f"/batches/{job.pk}"):
        assert client.get(url).status_code == 404, url
    assert client.get("/api/batches").json()["count"] == 0
    client.force_login(django_user_model.objects.create_user("sue", is_staff=True))
    assert client.get(f"/api/batches/{job.pk}").status_code == 200
    assert client.get("/api/batches").json()["count"] == 1


def test_cancel_stops_a_job_and_a_finished_job_cannot_be_cancelled(ann_client, ann):
    job = batch.batch_job_create(archive=upload(labelled_zip(2)), owner=ann, queue=False)
    response = ann_client.post(f"/api/batches/{job.pk}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    response = ann_client.post(f"/api/batches/{job.pk}/cancel")
    assert response.status_code == 409 and response.json()["error"]


def test_the_pages_upload_a_zip_and_show_its_progress(ann_client, django_capture_on_commit_callbacks):
    assert ann_client.get("/batches/new").status_code == 200
    with django_capture_on_commit_callbacks(execute=False):
        response = ann_client.post("/batches/new", {"file": upload(labelled_zip(3))})
    assert response.status_code == 302
    page = ann_client.get(response["Location"])
    assert page.status_code == 200
    assert b'id="batch-progress"' in page.content and b"js/batch.js" in page.content
    bad = ann_client.post("/batches/new", {"file": upload(b"not a zip")})
    assert bad.status_code == 400 and b'id="batch-error"' in bad.content


def test_the_pages_ask_anonymous_visitors_to_sign_in(client):
    response = client.get("/batches/new")
    assert response.status_code == 302 and "login" in response["Location"]
