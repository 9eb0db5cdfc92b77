"""The image URLs in API answers are signed: whoever received the answer opens them without a
session (an API client has none), for IMAGE_URL_MAX_AGE; anything else stays refused."""

import base64
import re
import time

import pytest
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.authtoken.models import Token

from recognizer import access
from recognizer.models import Prediction
from tests.images import digit_png

pytestmark = pytest.mark.django_db


def post_digit(client, index: int = 0, **extra):
    upload = SimpleUploadedFile("digit.png", digit_png(index)[0], content_type="image/png")
    response = client.post("/api/predict", {"file": upload}, **extra)
    assert response.status_code == 200, response.json()
    return response.json()


def assert_png(response):
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")


def with_token(url: str, token: str) -> str:
    return re.sub(r"^(http://testserver/predictions/\d+/)[^/]+/", rf"\g<1>{token}/", url)


def token_of(url: str) -> str:
    return url.removeprefix("http://testserver").split("/")[3]


def test_an_anonymous_api_client_opens_both_urls_of_its_answer(client, served_default_model):
    body = post_digit(client)
    assert_png(client.get(body["input_url"]))
    assert_png(client.get(body["input_url"] + "?size=140"))
    assert_png(client.get(body["original_url"]))


def test_the_urls_work_for_a_client_that_never_posted(client, served_default_model):
    body = post_digit(client)
    stranger = Client()
    assert_png(stranger.get(body["input_url"]))
    assert_png(stranger.get(body["original_url"]))


def test_the_urls_of_a_json_canvas_answer_work_too(client, served_default_model):
    data, _ = digit_png(4, style="transparent")
    payload = {"image": "data:image/png;base64," + base64.b64encode(data).decode()}
    body = client.post("/api/predict", payload, content_type="application/json").json()
    assert_png(Client().get(body["input_url"]))
    assert_png(Client().get(body["original_url"]))


def test_a_tampered_signature_is_refused(client, served_default_model):
    body = post_digit(client)
    for url in (body["input_url"], body["original_url"]):
        token = token_of(url)
        tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
        assert client.get(with_token(url, tampered)).status_code == 404
        assert client.get(with_token(url, "")).status_code == 404
        assert client.get(with_token(url, "not-a-token")).status_code == 404


def test_another_predictions_signature_opens_nothing(client, served_default_model):
    first, second = post_digit(client, 0), post_digit(client, 1)
    borrowed = with_token(second["input_url"], token_of(first["input_url"]))
    assert borrowed.startswith(f"http://testserver/predictions/{second['id']}/")
    assert client.get(borrowed).status_code == 404
    borrowed = with_token(second["original_url"], token_of(first["original_url"]))
    assert client.get(borrowed).status_code == 404


def test_the_input_signature_does_not_open_the_original(client, served_default_model):
    body = post_digit(client)
    assert client.get(with_token(body["original_url"], token_of(body["input_url"]))).status_code == 404


def signed_at(monkeypatch, *, kind: str, prediction_id: int, age: int) -> str:
    """The signed URL as it was issued `age` seconds ago."""
    issued = int(time.time()) - age
    with monkeypatch.context() as patch:
        patch.setattr(signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(issued))
        return access.prediction_image_url(prediction_id=prediction_id, kind=kind)


@pytest.mark.parametrize("kind", ["input", "original"])
def test_a_signed_url_works_for_its_max_age_and_not_after(client, served_default_model, monkeypatch, kind):
    pk = post_digit(client)["id"]
    max_age = access.IMAGE_URL_MAX_AGE
    assert_png(client.get(signed_at(monkeypatch, kind=kind, prediction_id=pk, age=max_age - 60)))
    assert client.get(signed_at(monkeypatch, kind=kind, prediction_id=pk, age=max_age + 5)).status_code == 404


def test_the_unsigned_urls_still_need_the_owner(client, served_default_model):
    body = post_digit(client)
    assert client.get(f"/predictions/{body['id']}/input.png").status_code == 404
    assert client.get(f"/predictions/{body['id']}/original.png").status_code == 404


def test_a_token_clients_stored_predictions_carry_urls_it_can_open(client, served_default_model, django_user_model):
    user = django_user_model.objects.create_user("api-user", password="pw")
    auth = {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=user).key}"}
    body = post_digit(client, **auth)
    assert Prediction.objects.get(pk=body["id"]).owner == user
    detail = client.get(f"/api/predictions/{body['id']}", **auth).json()
    listed = client.get("/api/predictions", **auth).json()["results"]
    for answer in (detail, listed[0]):
        assert answer["id"] == body["id"]
        # The image views take no token: the signature is what opens them.
        assert_png(client.get(answer["input_url"], **auth))
        assert_png(client.get(answer["original_url"], **auth))


def test_a_url_is_left_out_where_nothing_is_stored_to_show(client, served_default_model, django_user_model):
    # A batch item keeps its 28x28 input but no original file.
    item = Prediction.objects.create(source=Prediction.Source.BATCH, model_input=bytes(784), confidence=0.5, probs=[])
    client.force_login(django_user_model.objects.create_user("staff", password="pw", is_staff=True))
    answer = client.get(f"/api/predictions/{item.pk}").json()
    assert answer["original_url"] is None
    assert_png(Client().get(answer["input_url"]))
