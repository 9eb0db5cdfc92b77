import base64
import re

import pytest
from django.core.files.storage import default_storage

from recognizer.models import Prediction
from tests.images import blank_png, digit_png, encode, mnist_sample, render

pytestmark = pytest.mark.django_db

RESPONSE_KEYS = {"id", "prediction", "confidence", "probs", "rejected", "reason", "model_version", "created"}


def post_file(client, data: bytes, name: str = "digit.png", url: str = "/api/predict", **extra):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(url, {"file": SimpleUploadedFile(name, data, content_type="image/png"), **extra})


@pytest.mark.parametrize("style", ["paper", "dark", "transparent"])
def test_multipart_upload_of_a_digit_is_read_right_and_stored(client, served_default_model, style):
    images, labels = mnist_sample()
    for index in range(0, 30, 7):
        response = post_file(client, encode(render(images[index], style=style)))
        body = response.json()
        assert response.status_code == 200, body
        assert set(body) >= RESPONSE_KEYS
        assert body["prediction"] == labels[index], (index, body)
        assert body["rejected"] is False and body["reason"] is None
        assert len(body["probs"]) == 10 and abs(sum(body["probs"]) - 1) < 1e-3
        assert body["model_version"] == served_default_model.version
        stored = Prediction.objects.get(pk=body["id"])
        assert stored.prediction == labels[index]
        assert stored.source == "api"
        assert len(bytes(stored.model_input)) == 28 * 28
        assert default_storage.exists(stored.original.name)


def test_json_data_url_from_a_canvas_is_read_right(client, served_default_model):
    data, label = digit_png(4, style="transparent")
    payload = {"image": "data:image/png;base64," + base64.b64encode(data).decode(), "source": "canvas"}
    response = client.post("/api/predict", payload, content_type="application/json")
    assert response.status_code == 200, response.json()
    assert response.json()["prediction"] == label
    assert Prediction.objects.get(pk=response.json()["id"]).source == "canvas"


def test_json_plain_base64_is_accepted(client, served_default_model):
    data, label = digit_png(10)
    response = client.post("/api/predict", {"image": base64.b64encode(data).decode()}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["prediction"] == label


def test_blank_image_is_rejected_with_a_reason_and_stored(client, served_default_model):
    response = post_file(client, blank_png())
    body = response.json()
    assert response.status_code == 200
    assert body["rejected"] is True
    assert body["prediction"] is None
    assert "ink" in body["reason"]
    assert Prediction.objects.get(pk=body["id"]).rejected


def test_legacy_predict_answers_like_the_api(client, served_default_model):
    data, label = digit_png(20)
    legacy = post_file(client, data, url="/predict").json()
    current = post_file(client, data).json()
    assert legacy["prediction"] == current["prediction"] == label
    assert set(legacy) == set(current)
    assert legacy["probs"] == current["probs"]


@pytest.mark.parametrize(
    ("kwargs", "status", "fragment"),
    [
        ({"data": {}}, 400, "send an image"),
        ({"data": {"picture": "x"}}, 400, "send an image"),
        ({"data": {"image": ""}, "content_type": "application/json"}, 400, ""),
        ({"data": {"image": "%%%not-base64"}, "content_type": "application/json"}, 400, "base64"),
        ({"data": {"image": "data:image/png,abc"}, "content_type": "application/json"}, 400, "base64"),
        ({"data": {"image": base64.b64encode(b"hello").decode()}, "content_type": "application/json"}, 400, "image"),
        ({"data": "[1, 2]", "content_type": "application/json"}, 400, ""),
        ({"data": "just text", "content_type": "text/plain"}, 415, "media type"),
    ],
)
def test_bad_requests_get_a_json_error_and_store_nothing(client, served_default_model, kwargs, status, fragment):
    response = client.post("/api/predict", **kwargs)
    body = response.json()
    assert response.status_code == status, body
    assert set(body) == {"error", "detail"}
    assert fragment.lower() in (body["error"] + str(body["detail"])).lower()
    assert Prediction.objects.count() == 0


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty.png", b""),
        ("text.png", b"this is not an image at all"),
        ("page.png", b"<html><script>alert(1)</script></html>"),
        ("truncated.png", digit_png(0)[0][:200]),
    ],
)
def test_unreadable_files_get_400_and_leave_nothing_behind(client, served_default_model, media_root, name, data):
    response = post_file(client, data, name=name)
    assert response.status_code == 400, response.json()
    assert response.json()["error"]
    assert Prediction.objects.count() == 0
    assert not any(path.is_file() for path in media_root.rglob("*"))


def test_upload_over_the_limit_gets_413(client, served_default_model, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    data, _ = digit_png(0)
    assert len(data) > 1000
    response = post_file(client, data)
    assert response.status_code == 413
    assert "limit" in response.json()["error"]
    assert Prediction.objects.count() == 0


def test_original_is_stored_under_a_random_name(client, served_default_model):
    data, _ = digit_png(0)
    body = post_file(client, data, name="../../etc/passwd.png").json()
    stored = Prediction.objects.get(pk=body["id"])
    assert "/" not in stored.original_name
    assert "passwd" not in stored.original.name
    assert stored.original.name.startswith("uploads/")


def test_model_input_image_is_served_as_png(client, served_default_model):
    data, _ = digit_png(0)
    body = post_file(client, data, source="upload").json()
    response = client.get(body["input_url"] + "?size=140")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_predictions_list_needs_login_and_filters(client, served_default_model, django_user_model):
    labels = [post_file(client, digit_png(index)[0]).json()["prediction"] for index in (0, 1, 2)]
    assert labels == [int(label) for label in mnist_sample()[1][:3]]
    assert client.get("/api/predictions").status_code in (401, 403)
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)
    everything = client.get("/api/predictions").json()
    assert everything["count"] == 3
    only = client.get("/api/predictions", {"digit": labels[0]}).json()
    assert {row["prediction"] for row in only["results"]} == {labels[0]}
    assert only["count"] == labels.count(labels[0])
    assert client.get("/api/predictions", {"rejected": "true"}).json()["count"] == 0


def test_a_page_prediction_is_visible_to_its_browser_session_only(client, served_default_model):
    from django.test import Client

    client.get("/")  # a browser on the page: it holds the page's CSRF cookie
    body = post_file(client, digit_png(0)[0], source="upload").json()
    assert client.get(f"/api/predictions/{body['id']}").status_code == 200
    assert Client().get(f"/api/predictions/{body['id']}").status_code == 404


def test_an_api_client_gets_no_session(client, served_default_model):
    from django.conf import settings

    response = post_file(client, digit_png(0)[0])
    assert response.status_code == 200
    assert settings.SESSION_COOKIE_NAME not in response.cookies


def test_schema_describes_the_predict_endpoint(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert "/api/predict" in response.json()["paths"]


def test_the_answer_has_exactly_the_fields_the_schema_promises(client, served_default_model):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    promised = schema["components"]["schemas"]["PredictionOutput"]["properties"]
    body = post_file(client, digit_png(3)[0]).json()
    assert set(body) == set(promised)
    assert body["model_version"] == Prediction.objects.get(pk=body["id"]).model_version.version
    assert body["created"].endswith("Z")
    assert body["reason"] is None and body["reviewed_at"] is None
    # signed, and absolute: the client opens it as it is
    assert re.fullmatch(rf"http://testserver/predictions/{body['id']}/[\w:-]+/input\.png", body["input_url"])


def test_the_browsable_api_offers_a_form_with_a_file_input(client):
    html = client.get("/api/predict", HTTP_ACCEPT="text/html").content.decode()
    form = html[html.index('id="post-object-form"') :]
    form = form[: form.index("</form>")]
    assert 'enctype="multipart/form-data"' in form
    assert '<input name="file"  type="file"' in form
    assert '<textarea name="image"' in form
    assert '<select class="form-control" name="source">' in form


def test_a_post_from_the_browsable_apis_form_is_recognised_and_stored(client, served_default_model):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data, label = digit_png(4)
    # What the browser sends from that form: the file, the image field left empty, the default source.
    fields = {"file": SimpleUploadedFile("four.png", data, content_type="image/png"), "image": "", "source": "api"}
    response = client.post("/api/predict", fields, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    stored = Prediction.objects.get()
    assert stored.prediction == label and stored.source == "api" and stored.original_name == "four.png"
    html = response.content.decode()
    assert f"&quot;id&quot;: {stored.pk}," in html and f"&quot;prediction&quot;: {label}," in html
    assert '<input name="file"  type="file"' in html  # the form again, for the next image


def test_the_browsable_apis_form_sent_empty_shows_the_error_and_stores_nothing(client, served_default_model):
    response = client.post("/api/predict", {"image": "", "source": "api"}, HTTP_ACCEPT="text/html")
    assert response.status_code == 400
    assert "send an image" in response.content.decode()
    assert Prediction.objects.count() == 0


def test_an_object_storage_that_fails_gives_a_json_503_and_stores_nothing(client, served_default_model, monkeypatch):
    from botocore.exceptions import EndpointConnectionError

    def unreachable(name, content, max_length=None):
        raise EndpointConnectionError(endpoint_url="http://minio:9000/mnistsite")

    monkeypatch.setattr(default_storage, "save", unreachable)
    response = post_file(client, digit_png(3)[0])
    assert response.status_code == 503
    assert response.json()["detail"] == {"storage": "unavailable"}
    assert "object storage" in response.json()["error"]
    assert not Prediction.objects.exists()
