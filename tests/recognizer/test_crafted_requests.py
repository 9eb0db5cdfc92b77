"""Issue 14's crafted requests and small leaks: no session rows for cookie-less API calls, no
formula in results.csv, no client suffix on stored files, and a JSON 4xx (never a 500) for
absurd query values and too many files."""

import csv
import io

import pytest
from django.contrib.sessions.models import Session
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from recognizer import access, batch
from recognizer.models import Prediction
from tests.images import digit_png, encode, mnist_sample, render
from tests.recognizer.batch_helpers import mnist_pngs, upload, zip_bytes

pytestmark = pytest.mark.django_db

DIGIT_PNG, LABEL = digit_png(5)


def test_cookieless_canvas_calls_to_the_api_create_no_session_rows(served_default_model):
    before = Session.objects.count()
    for _ in range(20):
        response = Client().post("/api/predict", {"file": SimpleUploadedFile("c.png", DIGIT_PNG), "source": "canvas"})
        assert response.status_code == 200, response.json()
    assert Session.objects.count() == before


def test_the_page_still_remembers_its_canvas_predictions_for_history(client, served_default_model):
    assert client.get("/").status_code == 200  # the page sets its CSRF cookie
    response = client.post("/api/predict", {"file": SimpleUploadedFile("c.png", DIGIT_PNG), "source": "canvas"})
    assert response.status_code == 200, response.json()
    assert client.session[access.SESSION_KEY] == [response.json()["id"]]
    assert f"/predictions/{response.json()['id']}/" in client.get("/history").content.decode()


def test_results_csv_neutralises_formulas_and_results_json_keeps_names_raw(ann_client, ann, served_default_model):
    name = "=cmd|' /C calc'!A0.png"
    (data, _), (other, _) = mnist_pngs(2)
    archive = zip_bytes([(name, data), ("+1.png", other), ("@sum.png", other), ("plain.png", other)])
    job = batch.batch_job_create(archive=upload(archive), owner=ann, queue=False)
    batch.batch_job_run_sync(job_id=job.pk)
    rows = ann_client.get(f"/api/batches/{job.pk}/results.json").json()["results"]
    assert {row["name"] for row in rows} == {name, "+1.png", "@sum.png", "plain.png"}
    response = ann_client.get(f"/api/batches/{job.pk}/results.csv")
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {row["name"] for row in table} == {"'" + name, "'+1.png", "'@sum.png", "plain.png"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("=1+1", "'=1+1"), ("-2", "'-2"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("a=b", "a=b"), (None, ""), (7, 7)],
)
def test_a_csv_cell_that_a_spreadsheet_would_run_is_quoted(value, expected):
    assert batch.batch_results_csv_row({"name": value}) == {"name": expected}


@pytest.mark.parametrize(
    ("data", "client_name", "suffix"),
    [
        (DIGIT_PNG, "page.html", ".png"),
        (encode(render(mnist_sample()[0][5]).convert("RGB"), "JPEG"), "drawing.svg", ".jpg"),
        (encode(render(mnist_sample()[0][5]), "GIF"), "noext", ".gif"),
    ],
    ids=["png-named-html", "jpeg-named-svg", "gif-without-suffix"],
)
def test_the_stored_original_has_the_suffix_of_its_detected_format(
    client, served_default_model, data, client_name, suffix
):
    response = client.post("/api/predict", {"file": SimpleUploadedFile(client_name, data)})
    assert response.status_code == 200, response.json()
    prediction = Prediction.objects.get(pk=response.json()["id"])
    assert prediction.original.name.endswith(suffix)
    assert prediction.original_name == client_name  # shown as the client named it


@pytest.mark.parametrize("size", ["²", "٣", "-5", "1e3", "99999999999999999999999", "abc"])
def test_an_odd_preview_size_is_ignored(client, served_default_model, size):
    client.get("/")  # a browser: its predictions are remembered, their previews need no signed URL
    response = client.post("/api/predict", {"file": SimpleUploadedFile("d.png", DIGIT_PNG), "source": "canvas"})
    preview = client.get(f"/predictions/{response.json()['id']}/input.png", {"size": size})
    assert preview.status_code == 200 and preview["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(preview.content)).size == (28, 28)


@pytest.mark.parametrize(
    "query",
    [
        {"created_after": "9999-12-31T23:59:59-23:00"},
        {"created_before": "0001-01-01T00:00:00+23:00"},
        {"digit": "abc"},
        {"digit": "99999999999999999999"},
        {"page": "-1"},
        {"page": "abc"},
        {"date": "2024-13-45"},
        {"rejected": "maybe"},
    ],
    ids=lambda q: "&".join(f"{k}={v}" for k, v in q.items()),
)
def test_an_absurd_query_value_on_the_prediction_list_is_a_json_400(ann_client, query):
    response = ann_client.get("/api/predictions", query)
    assert response.status_code in (400, 404), response.content[:300]
    assert set(response.json()) == {"error", "detail"}


@pytest.mark.parametrize(
    ("url", "query"),
    [
        ("/api/predictions", {"page": "999999"}),
        ("/api/predictions", {"source": "x" * 5000}),
        ("/api/predictions", {"model_version": "\u0000" * 3}),
        ("/api/batches", {"page": "999999"}),
    ],
    ids=["predictions-page-999999", "predictions-long-source", "predictions-nul-version", "batches-page-999999"],
)
def test_a_far_or_odd_query_on_a_list_is_an_empty_page_or_a_json_4xx(ann_client, url, query):
    response = ann_client.get(url, query)
    assert response.status_code in (200, 400, 404), response.content[:300]
    body = response.json()
    assert body.get("results") == [] if response.status_code == 200 else set(body) == {"error", "detail"}


def test_more_files_than_django_allows_is_a_json_413(ann_client, settings):
    files = [upload(DIGIT_PNG, f"{i}.png") for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1)]
    response = ann_client.post("/api/batches", {"files": files})
    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    assert "too many files" in response.json()["error"] and "zip" in response.json()["error"]
