"""POST /api/read: the contract, the errors (those of /api/predict), storage as a number."""

import base64

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from recognizer.models import Kind, Prediction
from tests.images import blank_png, digit_png, encode, font_text, mnist_number, mnist_sample

pytestmark = pytest.mark.django_db

READ_KEYS = {"id", "text", "digits", "rejected", "reason", "model_version", "created"}


def number_png(indexes=(0, 1, 2), **kwargs) -> tuple[bytes, str]:
    _, labels = mnist_sample()
    return encode(mnist_number(list(indexes), **kwargs)), "".join(str(labels[i]) for i in indexes)


def post_file(client, data: bytes, name: str = "number.png", **extra):
    return client.post("/api/read", {"file": SimpleUploadedFile(name, data, content_type="image/png"), **extra})


def test_a_number_is_read_left_to_right_with_a_box_per_digit(client, served_default_model):
    data, label = number_png((0, 4, 8, 12))
    response = post_file(client, data)
    body = response.json()
    assert response.status_code == 200, body
    assert set(body) >= READ_KEYS
    assert body["text"] == label and body["rejected"] is False and body["reason"] is None
    assert [d["digit"] for d in body["digits"]] == [int(c) for c in label]
    lefts = [d["box"][0] for d in body["digits"]]
    assert lefts == sorted(lefts)
    for digit in body["digits"]:
        x, y, w, h = digit["box"]
        assert w > 0 and h > 0
        assert len(digit["probs"]) == 10 and abs(sum(digit["probs"]) - 1) < 1e-3
        assert digit["confidence"] == pytest.approx(max(digit["probs"]), abs=1e-5)
    assert body["model_version"] == served_default_model.version


def test_the_number_is_stored_as_a_prediction_of_kind_number(ann_client, served_default_model):
    client = ann_client
    data, label = number_png((3, 7))
    body = post_file(client, data).json()
    stored = Prediction.objects.get(pk=body["id"])
    assert stored.kind == Kind.NUMBER
    assert stored.text == label
    assert stored.digits == body["digits"]
    assert stored.prediction is None and stored.model_input is None
    assert stored.confidence == pytest.approx(min(d["confidence"] for d in body["digits"]))
    assert stored.source == "api"
    assert default_storage.exists(stored.original.name)
    detail = client.get(f"/api/predictions/{stored.pk}").json()
    assert detail["kind"] == "number" and detail["text"] == label and detail["digits"] == body["digits"]


def test_a_canvas_data_url_is_read(client, served_default_model):
    data, label = number_png((5, 6, 9), style="transparent")
    payload = {"image": "data:image/png;base64," + base64.b64encode(data).decode(), "source": "canvas"}
    response = client.post("/api/read", payload, content_type="application/json")
    assert response.status_code == 200, response.json()
    assert response.json()["text"] == label
    assert Prediction.objects.get(pk=response.json()["id"]).source == "canvas"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (blank_png(), "no ink"),
        (encode(font_text("hello")), "not a number"),
    ],
)
def test_what_is_not_a_number_is_rejected_with_a_reason_and_stored(client, served_default_model, data, fragment):
    body = post_file(client, data).json()
    assert body["rejected"] is True and body["text"] is None
    assert fragment in body["reason"]
    stored = Prediction.objects.get(pk=body["id"])
    assert stored.kind == Kind.NUMBER and stored.rejected and stored.text == ""


@pytest.mark.parametrize(
    ("kwargs", "status", "fragment"),
    [
        ({"data": {}}, 400, "send an image"),
        ({"data": {"image": "%%%not-base64"}, "content_type": "application/json"}, 400, "base64"),
        ({"data": {"image": base64.b64encode(b"hello").decode()}, "content_type": "application/json"}, 400, "image"),
        ({"data": "just text", "content_type": "text/plain"}, 415, "media type"),
    ],
)
def test_bad_requests_get_the_json_error_of_predict_and_store_nothing(
    client, served_default_model, kwargs, status, fragment
):
    response = client.post("/api/read", **kwargs)
    body = response.json()
    assert response.status_code == status, body
    assert set(body) == {"error", "detail"}
    assert fragment.lower() in (body["error"] + str(body["detail"])).lower()
    assert Prediction.objects.count() == 0


def test_an_unreadable_file_gets_400_and_leaves_nothing_behind(client, served_default_model, media_root):
    response = post_file(client, digit_png(0)[0][:200], name="truncated.png")
    assert response.status_code == 400, response.json()
    assert Prediction.objects.count() == 0
    assert not any(path.is_file() for path in media_root.rglob("*"))


def test_an_upload_over_the_limit_gets_413(client, served_default_model, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    data, _ = number_png()
    response = post_file(client, data)
    assert response.status_code == 413
    assert Prediction.objects.count() == 0


def test_read_shares_the_throttle_of_predict(client, served_default_model, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"predict": "2/min"})
    cache.clear()
    data, _ = number_png()
    assert post_file(client, data).status_code == 200
    assert client.post("/api/predict", {"file": SimpleUploadedFile("d.png", digit_png(0)[0])}).status_code == 200
    third = post_file(client, data)
    assert third.status_code == 429
    cache.clear()


def test_no_model_gives_503(client, db, monkeypatch):
    from recognizer import services
    from recognizer.serving import NoModelAvailable

    def none():
        raise NoModelAvailable("no model version is registered")

    monkeypatch.setattr(services, "served_model", none)
    response = post_file(client, number_png()[0])
    assert response.status_code == 503
    assert Prediction.objects.count() == 0


def test_the_answer_has_exactly_the_fields_the_schema_promises(client, served_default_model):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/read"]["post"]
    assert {"200", "400", "413", "415", "429", "503"} <= set(operation["responses"])
    promised = schema["components"]["schemas"]["ReadOutput"]["properties"]
    body = post_file(client, number_png()[0]).json()
    assert set(body) == set(promised)
    digit_promised = schema["components"]["schemas"]["DigitOfNumber"]["properties"]
    assert set(body["digits"][0]) == set(digit_promised)
    listed = schema["components"]["schemas"]["PredictionOutput"]["properties"]
    assert {"kind", "text", "digits", "true_text"} <= set(listed)


def test_predictions_can_be_listed_by_kind(client, served_default_model, django_user_model):
    staff = django_user_model.objects.create_user("staff", password="pw-staff-123", is_staff=True)
    post_file(client, number_png()[0])
    client.post("/api/predict", {"file": SimpleUploadedFile("d.png", digit_png(0)[0])})
    client.force_login(staff)
    numbers = client.get("/api/predictions?kind=number").json()["results"]
    assert [p["kind"] for p in numbers] == ["number"]
    digits = client.get("/api/predictions?kind=digit").json()["results"]
    assert [p["kind"] for p in digits] == ["digit"]
