"""Degraded modes: a part that fails gives a clear 503 and leaves nothing half-made."""

import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from recognizer.models import BatchJob, Prediction
from tests.conftest import ROOT
from tests.images import digit_png
from training.models import TrainingJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down(monkeypatch):
    from mnistsite import health
    from mnistsite.celery import app

    monkeypatch.setattr(health, "_broker_cache", {"at": 0.0, "result": None})
    monkeypatch.setattr(app.conf, "broker_write_url", "redis://127.0.0.1:1/0")


def test_predictions_keep_working_when_the_broker_is_down(client, served_default_model, broker_down):
    data, label = digit_png(2)
    response = client.post("/api/predict", {"file": SimpleUploadedFile("d.png", data)})
    assert response.status_code == 200
    assert response.json()["prediction"] == label
    assert client.get("/api/health").json()["broker"] == "unavailable"


def test_a_batch_request_gets_503_and_nothing_is_created_when_the_broker_is_down(
    client, served_default_model, broker_down, django_user_model, media_root
):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("3/a.png", digit_png(0)[0])
    client.force_login(django_user_model.objects.create_user("u", password="pw"))
    response = client.post("/api/batches", {"file": SimpleUploadedFile("b.zip", buffer.getvalue())})
    assert response.status_code == 503, response.json()
    assert "cannot be queued" in response.json()["error"]
    assert BatchJob.objects.count() == 0
    assert not [path for path in media_root.rglob("*") if path.is_file()]


def test_a_training_request_fails_clearly_and_creates_nothing_when_the_broker_is_down(broker_down):
    with pytest.raises(CommandError, match="cannot be queued"):
        call_command("train_model", "--preset", "tiny")
    assert TrainingJob.objects.count() == 0


def test_health_says_why_when_no_model_can_be_loaded(client, settings, tmp_path):
    from recognizer.serving import served_model_reset

    settings.DEFAULT_MODEL_DIR = tmp_path / "nothing-here"
    served_model_reset()
    response = client.get("/api/health")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "error"
    assert body["model_loaded"] is False
    assert any("default model is missing" in error for error in body["errors"])
    predict = client.post("/api/predict", {"file": SimpleUploadedFile("d.png", digit_png(0)[0])})
    assert predict.status_code == 503
    assert "no model" in predict.json()["error"]
    assert Prediction.objects.count() == 0
    served_model_reset()


@pytest.mark.integration
@pytest.mark.slow
def test_a_dead_database_gives_503_json_and_the_server_keeps_running(tmp_path):
    """A real server process whose database does not answer: 503 JSON, no crash, no stack trace."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere",
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "CONN_MAX_AGE": "0",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "mnistsite.wsgi:application", "-c", "gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        from tests.conftest import wait_until

        def answers(path, **kwargs):
            try:
                with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}{path}", **kwargs)) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as error:
                return error.code, error.read()
            except OSError:
                return None

        status, body = wait_until(lambda: answers("/api/health"), timeout=60, message="server up")
        assert status == 503
        assert b'"database":"unavailable"' in body.replace(b" ", b"")
        data = digit_png(0)[0]
        status, body = answers("/api/predict", data=data, headers={"Content-Type": "image/png"}, method="POST")
        assert status in (415, 503)
        status, body = answers(
            "/api/predict",
            data=b'{"image": "' + __import__("base64").b64encode(data) + b'"}',
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        assert status == 503
        assert b"database is unavailable" in body
        assert b"Traceback" not in body
        assert server.poll() is None, "the server must keep running"
        assert answers("/api/health")[0] == 503
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_broker_error_past_the_checks_is_a_json_503_on_the_api(client, django_user_model, monkeypatch):
    from kombu.exceptions import OperationalError

    from recognizer import batch

    def broker_fails(**kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(batch, "batch_job_create", broker_fails)
    client.force_login(django_user_model.objects.create_user("b", password="pw"))
    response = client.post("/api/batches", {"file": SimpleUploadedFile("b.zip", b"PK\x05\x06" + bytes(18))})
    assert response.status_code == 503
    assert response.json()["detail"] == {"broker": "unavailable"}
    assert "try again" in response.json()["error"]
