import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker_alive():
    from mnistsite.health import safe_broker_url
    from mnistsite.workers import worker_beat

    return worker_beat(hostname="health@test", pid=1, broker=safe_broker_url(), started=timezone.now())


def test_health_reports_model_database_and_broker(client, served_default_model, worker_alive):
    response = client.get("/api/health")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["model_loaded"] is True
    assert body["model_version"] == served_default_model.version
    assert body["database"] == "ok"
    assert body["broker"] == "ok"
    assert body["workers"] == 1


def test_legacy_health_answers_like_the_api(client, served_default_model):
    assert client.get("/health").json() == client.get("/api/health").json()


def test_health_is_degraded_but_200_when_the_broker_is_down(
    client, served_default_model, settings, monkeypatch, worker_alive
):
    from mnistsite import health

    monkeypatch.setattr(health, "_broker_cache", {"at": 0.0, "result": None})
    from mnistsite.celery import app

    monkeypatch.setattr(app.conf, "broker_write_url", "redis://127.0.0.1:1/0")
    response = client.get("/api/health")
    body = response.json()
    assert response.status_code == 200, "predictions are still served: stay in the load balancer"
    assert body["status"] == "degraded"
    assert body["broker"] == "unavailable"
    assert body["model_loaded"] is True


def test_health_is_degraded_but_200_when_no_worker_beats(client, served_default_model, settings):
    from mnistsite.health import safe_broker_url
    from mnistsite.workers import worker_beat

    worker_beat(hostname="gone@test", pid=2, broker=safe_broker_url(), started=timezone.now())
    settings.WORKER_STALE_SECONDS = 0
    response = client.get("/api/health")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["workers"] == 0
    assert any("no Celery worker takes tasks from" in error for error in body["errors"])


def test_health_counts_only_the_workers_of_its_own_broker(client, served_default_model):
    """Two setups on one database: a worker of the other broker never runs this one's jobs."""
    from mnistsite.workers import worker_beat

    worker_beat(hostname="other@test", pid=3, broker="embedded+sqlite:////elsewhere.sqlite3", started=timezone.now())
    body = client.get("/api/health").json()
    assert body["workers"] == 0 and body["status"] == "degraded"


def test_health_is_503_when_no_model_can_be_served(client, db, settings, tmp_path):
    from recognizer.serving import served_model_reset

    settings.DEFAULT_MODEL_DIR = tmp_path  # a fresh database, and no shipped model to register
    served_model_reset()
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["status"] == "error"
    assert response.json()["model_loaded"] is False


def test_liveness_answers_without_checking_anything(client, monkeypatch):
    from mnistsite import health

    def fail(*args, **kwargs):
        raise AssertionError("the liveness probe must not check parts")

    monkeypatch.setattr(health, "health_report", fail)
    monkeypatch.setattr(health, "database_check", fail)
    response = client.get("/api/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
