"""Who may do what: public predictions (throttled), staff-only admin and training, owner-only batches."""

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token

from tests.images import digit_png

pytestmark = pytest.mark.django_db


def post_digit(client, **extra):
    return client.post("/api/predict", {"file": SimpleUploadedFile("d.png", digit_png(0)[0])}, **extra)


def test_predict_is_throttled_per_client_when_a_rate_is_set(client, served_default_model, settings, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"predict": "2/min"})
    cache.clear()
    assert post_digit(client).status_code == 200
    assert post_digit(client).status_code == 200
    third = post_digit(client)
    assert third.status_code == 429
    assert "throttled" in third.json()["error"].lower()
    other_client = post_digit(client, REMOTE_ADDR="10.9.9.9")
    assert other_client.status_code == 200
    cache.clear()


def test_predict_is_not_throttled_when_the_rate_is_off(client, served_default_model):
    cache.clear()
    assert all(post_digit(client).status_code == 200 for _ in range(5))


def test_admin_needs_a_staff_login(client, django_user_model):
    assert client.get("/admin/recognizer/prediction/").status_code == 302
    client.force_login(django_user_model.objects.create_user("plain", password="pw"))
    assert client.get("/admin/recognizer/prediction/").status_code == 302
    client.force_login(django_user_model.objects.create_user("boss", password="pw", is_staff=True, is_superuser=True))
    assert client.get("/admin/recognizer/prediction/").status_code == 200


def test_training_jobs_are_staff_only_even_with_a_token(client, django_user_model):
    user = django_user_model.objects.create_user("plain", password="pw")
    token = Token.objects.create(user=user)
    assert client.get("/api/training-jobs").status_code in (401, 403)
    assert client.get("/api/training-jobs", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 403
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    staff_token = Token.objects.create(user=staff)
    assert client.get("/api/training-jobs", HTTP_AUTHORIZATION=f"Token {staff_token.key}").status_code == 200


def test_batches_need_authentication_and_token_auth_works(client, django_user_model):
    assert client.get("/api/batches").status_code in (401, 403)
    token = Token.objects.create(user=django_user_model.objects.create_user("u", password="pw"))
    assert client.get("/api/batches", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200


def test_a_user_sees_only_their_own_predictions(client, served_default_model, django_user_model):
    alice = django_user_model.objects.create_user("alice", password="pw")
    bob = django_user_model.objects.create_user("bob", password="pw")
    client.force_login(alice)
    mine = post_digit(client).json()["id"]
    client.force_login(bob)
    assert client.get("/api/predictions").json()["count"] == 0
    assert client.get(f"/api/predictions/{mine}").status_code == 404
    assert client.get(f"/predictions/{mine}/original.png").status_code == 404
    client.force_login(alice)
    assert [row["id"] for row in client.get("/api/predictions").json()["results"]] == [mine]


def test_forms_are_csrf_protected(served_default_model, django_user_model):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    response = csrf_client.post("/", {"file": SimpleUploadedFile("d.png", digit_png(0)[0])})
    assert response.status_code == 403
    csrf_client.force_login(django_user_model.objects.create_user("u", password="pw"))
    # A logged-in session must send the CSRF token to the API too.
    assert post_digit(csrf_client).status_code == 403


def test_uploads_are_served_back_only_as_re_encoded_png(client, served_default_model):
    html = b"<html><script>alert(1)</script></html>"
    response = client.post("/api/predict", {"file": SimpleUploadedFile("x.html", html, content_type="text/html")})
    assert response.status_code == 400
    upload = SimpleUploadedFile("d.png", digit_png(0)[0])
    body = client.post("/api/predict", {"file": upload, "source": "upload"}).json()
    original = client.get(body["original_url"])
    assert original["Content-Type"] == "image/png"
    assert original["X-Content-Type-Options"] == "nosniff"
    assert original.content.startswith(b"\x89PNG")
