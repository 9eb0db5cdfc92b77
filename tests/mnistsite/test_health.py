import pytest

pytestmark = pytest.mark.django_db


def test_health_reports_model_database_and_broker(client, served_default_model):
    response = client.get("/api/health")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["model_loaded"] is True
    assert body["model_version"] == served_default_model.version
    assert body["database"] == "ok"
    assert body["broker"] == "ok"


def test_legacy_health_answers_like_the_api(client, served_default_model):
    assert client.get("/health").json() == client.get("/api/health").json()


def test_health_is_degraded_when_the_broker_is_down(client, served_default_model, settings, monkeypatch):
    from mnistsite import health

    monkeypatch.setattr(health, "_broker_cache", {"at": 0.0, "result": None})
    from mnistsite.celery import app

    monkeypatch.setattr(app.conf, "broker_write_url", "redis://127.0.0.1:1/0")
    response = client.get("/api/health")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "degraded"
    assert body["broker"] == "unavailable"
    assert body["model_loaded"] is True
