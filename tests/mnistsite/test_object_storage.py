"""Object storage against a real S3-protocol server (moto's, its own process): uploads, batch
inputs, model versions and the reports of comparisons and of the data analysis cross "hosts"
that share only the database and the bucket. (A trained model and its reports in the bucket:
tests/training/test_training_job.py, to train once only.)"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from recognizer import batch
from recognizer.models import BatchJob, Prediction
from recognizer.serving import served_model, served_model_reset, serving_status
from tests.conftest import ROOT, another_host_env, subprocess_env, wait_until
from tests.images import digit_png, mnist_sample
from tests.recognizer.batch_helpers import labelled_zip, mnist_pngs, upload
from training.compare import model_comparison_record
from training.eda import FIGURES
from training.models import ModelVersion
from training.services import model_version_activate, model_version_register

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def stored_copy_of_default(tmp_path: Path, name: str) -> ModelVersion:
    """The shipped model registered as another version from a folder of this host, which is
    then removed: from there on the version lives in the bucket alone."""
    folder = tmp_path / name
    shutil.copytree(settings.DEFAULT_MODEL_DIR, folder)
    version = model_version_register(directory=folder, version=name)
    shutil.rmtree(folder)
    return version


def test_an_upload_is_stored_in_the_bucket_and_read_by_another_process(
    transactional_db, object_storage, served_default_model, client, tmp_path
):
    data, _ = digit_png(3)
    response = client.post("/api/predict", {"file": SimpleUploadedFile("three.png", data)})
    assert response.status_code == 200, response.content
    prediction = Prediction.objects.get(pk=response.json()["id"])
    assert object_storage.keys() == [prediction.original.name]
    assert object_storage.read(prediction.original.name) == data
    assert not any(Path(settings.MEDIA_ROOT).rglob("*.*"))  # nothing on this host's disk
    # Another host, sharing only the database and the bucket, reads the original.
    script = (
        "import django, sys; django.setup(); from recognizer.models import Prediction; "
        f"sys.stdout.buffer.write(Prediction.objects.get(pk={prediction.pk}).original.read())"
    )
    env = subprocess_env(DJANGO_SETTINGS_MODULE="mnistsite.settings", **another_host_env(tmp_path, "b", object_storage))
    read = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert read.returncode == 0, read.stderr.decode()[-2000:]
    assert read.stdout == data


def test_a_batch_job_staged_here_is_run_by_a_worker_on_another_host(
    object_storage, celery_worker_process, served_default_model, tmp_path
):
    version = stored_copy_of_default(tmp_path, "stored-default")
    model_version_activate(version=version, force=True)
    env = another_host_env(tmp_path, "worker-host", object_storage)
    celery_worker_process(queues="default", name="far-worker", **env)
    labels = [label for _, label in mnist_pngs(12)]

    job = batch.batch_job_create(archive=upload(labelled_zip(12)))

    stage = f"batches/{job.stage_dir}"
    assert object_storage.keys(stage) == [f"{stage}/input.zip", f"{stage}/manifest.json"]
    assert json.loads(object_storage.read(f"{stage}/manifest.json"))["path"] == "input.zip"
    finished = wait_until(
        lambda: BatchJob.objects.filter(pk=job.pk, status__in=["succeeded", "failed"]).first(),
        timeout=90,
        message="batch job finished",
    )
    assert finished.status == "succeeded", finished.error
    assert (finished.done, finished.failed_items) == (12, 0)
    rows = Prediction.objects.filter(batch_job=job).order_by("batch_index")
    assert [row.true_label for row in rows] == labels
    assert {row.model_version_id for row in rows} == {version.pk}
    assert finished.accuracy >= 0.9
    # The worker read the input and the model from the bucket into its own folders.
    assert (Path(env["MEDIA_ROOT"]) / stage / "input.zip").is_file()
    assert (Path(env["MODEL_CACHE_DIR"]) / version.version / "model.tflite").is_file()


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_a_missing_or_corrupt_model_object_keeps_the_previous_version_serving(
    damage, object_storage, served_default_model, client, tmp_path, settings, caplog
):
    settings.MODEL_RELOAD_SECONDS = 0
    assert served_model().version == served_default_model
    newer = stored_copy_of_default(tmp_path, "newer")
    key = f"{newer.storage_prefix}/model.tflite"
    good = object_storage.read(key)
    if damage == "missing":
        object_storage.client.delete_object(Bucket=object_storage.bucket, Key=key)
    else:
        object_storage.client.put_object(Bucket=object_storage.bucket, Key=key, Body=good[:-100] + b"\0" * 100)

    model_version_activate(version=newer, force=True)

    assert served_model().version == served_default_model
    error = serving_status()["error"]
    assert "newer" in error
    assert ("not in the object storage" if damage == "missing" else "SHA-256") in error
    assert any(r.levelname == "ERROR" and "newer" in r.getMessage() for r in caplog.records)
    health = client.get("/api/health").json()
    assert health["status"] == "degraded" and health["model_version"] == served_default_model.version
    assert not (Path(settings.MODEL_CACHE_DIR) / "newer" / "model.tflite").exists()

    # Once the bucket holds the right bytes, the new version is swapped in without a restart.
    object_storage.client.put_object(Bucket=object_storage.bucket, Key=key, Body=good)
    assert served_model().version == newer
    assert serving_status()["error"] is None
    served_model_reset()


def served_bytes(response) -> bytes:
    assert response.status_code == 200, response
    assert response["Content-Type"] == "image/png"
    return b"".join(response.streaming_content)


def test_a_comparisons_report_is_stored_in_the_bucket_and_served_by_a_host_without_its_folder(
    transactional_db, object_storage, client, tmp_path
):
    report_dir = tmp_path / "comparison"
    report_dir.mkdir()
    plots = {"accuracy_by_model.png": digit_png(1)[0], "accuracy_vs_params.png": digit_png(2)[0]}
    for name, data in plots.items():
        (report_dir / name).write_bytes(data)
    (report_dir / "comparison.json").write_text("{}")

    comparison = model_comparison_record(
        results=[{"name": "svm", "accuracy": 0.97}], report_dir=report_dir, command="x"
    )

    prefix = comparison.storage_prefix
    assert prefix.startswith("comparisons/")
    assert object_storage.keys(prefix) == [f"{prefix}/{name}" for name in sorted([*plots, "comparison.json"])]
    shutil.rmtree(report_dir)  # the web host never had the folder
    html = client.get("/models").content.decode()
    for name, data in plots.items():
        url = f"/models/comparisons/{comparison.pk}/{name}"
        assert url in html
        assert served_bytes(client.get(url)) == data
    assert client.get(f"/models/comparisons/{comparison.pk}/missing.png").status_code == 404
    assert client.get(f"/models/comparisons/{comparison.pk}/comparison.json").status_code == 404


def test_the_data_analysis_is_stored_by_eda_report_and_shown_by_a_host_that_did_not_run_it(
    transactional_db, object_storage, client, tmp_path, settings, monkeypatch
):
    images, labels = mnist_sample()
    monkeypatch.setattr(
        "training.management.commands.eda_report.load_mnist", lambda directory: (images, labels, images, labels)
    )
    settings.ARTIFACTS_DIR = tmp_path / "analysis-host"
    call_command("eda_report")

    assert object_storage.keys("eda/") == sorted(f"eda/{name}" for name in [*FIGURES, "eda.json"])
    settings.ARTIFACTS_DIR = tmp_path / "web-host"  # another host: no eda/ folder of its own
    html = client.get("/models").content.decode()
    assert 'id="no-eda"' not in html
    for name in FIGURES:
        assert f"/models/eda/{name}" in html
    name = FIGURES[0]
    assert served_bytes(client.get(f"/models/eda/{name}")) == object_storage.read(f"eda/{name}")
    assert client.get("/models/eda/missing.png").status_code == 404


def put_object_headers(storage) -> list[dict]:
    """The headers of every PutObject botocore sends from `storage`'s client from now on."""
    sent = []
    events = storage.connection.meta.client.meta.events
    events.register("before-send.s3.PutObject", lambda request, **kwargs: sent.append(dict(request.headers)))
    return sent


@pytest.mark.parametrize("name", ["uploads/2026/11/30/ab12.png", "uploads/a b/ü+x=1&y~z.png"], ids=["plain", "odd"])
def test_a_small_upload_is_one_signed_put_not_a_botocore_call(object_storage, name):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    put_objects = put_object_headers(default_storage)

    stored = default_storage.save(name, ContentFile(b"\x89PNG small"))

    assert stored == name
    assert object_storage.read(name) == b"\x89PNG small"
    head = object_storage.client.head_object(Bucket=object_storage.bucket, Key=name)
    assert head["ContentType"] == "image/png"
    assert put_objects == []


@pytest.mark.parametrize("failure", ["answer", "connection"])
def test_a_signed_put_that_fails_is_made_again_by_put_object_without_expect(object_storage, monkeypatch, failure):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from mnistsite import bucket_storage

    class Failing:  # the signed PUT's connection only, not botocore's
        def request(self, *args, **kwargs):
            if failure == "connection":
                raise ConnectionResetError("reset by peer")

        def getresponse(self):
            return type("Answer", (), {"status": 503, "will_close": True, "read": lambda self: b""})()

        def close(self):
            pass

    monkeypatch.setattr(bucket_storage, "put_connection_open", lambda target: Failing())
    put_objects = put_object_headers(default_storage)

    default_storage.save("uploads/again.png", ContentFile(b"x" * 600))

    assert object_storage.read("uploads/again.png") == b"x" * 600
    assert [headers.get("Expect") for headers in put_objects] == [None]


def test_a_kept_alive_connection_the_server_closed_is_replaced_once_without_put_object(object_storage):
    import http.client

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    class Closed:  # what a kept-alive connection looks like once the server has dropped it
        def request(self, *args, **kwargs):
            raise http.client.RemoteDisconnected("Remote end closed connection without response")

        def close(self):
            pass

    put_objects = put_object_headers(default_storage)
    default_storage.save("uploads/first.png", ContentFile(b"1"))
    default_storage._connections.put_connection = Closed()

    default_storage.save("uploads/second.png", ContentFile(b"2"))

    assert object_storage.read("uploads/second.png") == b"2"
    assert put_objects == []


SIGNED_CASES = {
    "plain": ("http://127.0.0.1:9000", "/bucket/uploads/2026/11/30/ab12.png", {"Content-Type": "image/png"}, None),
    "odd key": ("http://minio:9000", "/bucket/uploads/a%20b/%C3%BC%2Bx%3D1%26y~z.png", {}, None),
    "default port, session token": (
        "https://s3.example.com:443",
        "/bucket/models/v1/model.tflite",
        {"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
        "a-session-token",
    ),
}


@pytest.mark.parametrize("case", SIGNED_CASES, ids=list(SIGNED_CASES))
def test_the_signed_puts_headers_are_the_ones_botocores_s3_signer_makes(monkeypatch, case):
    """The PUT is signed here (hashlib and hmac); botocore's S3SigV4Auth is the reference."""
    import datetime
    from urllib.parse import urlsplit

    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from mnistsite.bucket_storage import host_header, sigv4_headers

    endpoint, path, headers, token = SIGNED_CASES[case]
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    now = datetime.datetime(2026, 11, 30, 21, 5, 9, tzinfo=datetime.UTC)
    body = b"\x89PNG a body"
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now)
    reference = AWSRequest(method="PUT", url=f"{endpoint}{path}", data=body, headers=dict(headers))
    botocore.auth.S3SigV4Auth(credentials, "s3", "eu-west-3").add_auth(reference)

    signed = sigv4_headers(
        method="PUT",
        host=host_header(urlsplit(endpoint)),
        path=path,
        headers=headers,
        body=body,
        region="eu-west-3",
        credentials=credentials.get_frozen_credentials(),
        now=now,
    )

    expected = {name.lower(): value for name, value in reference.headers.items()}
    assert {name: value for name, value in signed.items() if name != "host"} == expected
    assert signed["host"] == botocore.auth._host_from_url(reference.url)


def test_a_large_upload_goes_through_botocore_and_waits_for_100_continue(object_storage, monkeypatch):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from mnistsite import bucket_storage

    monkeypatch.setattr(bucket_storage, "SINGLE_PUT_MAX_BYTES", 2000)  # "large" without sending megabytes
    put_objects = put_object_headers(default_storage)

    name = default_storage.save("uploads/large.png", ContentFile(b"x" * 3000))

    assert object_storage.read(name) == b"x" * 3000
    assert [headers.get("Expect") for headers in put_objects] == [b"100-continue"]


def test_the_signed_puts_connections_send_without_waiting_for_nagle(object_storage, monkeypatch):
    """A kept-alive connection without TCP_NODELAY waited ~40 ms an upload (Nagle + delayed ACK)."""
    import socket

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from mnistsite import bucket_storage

    options = []
    opened = bucket_storage.put_connection_open

    def recording(target):
        connection = opened(target)
        options.append(connection.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        return connection

    monkeypatch.setattr(bucket_storage, "put_connection_open", recording)

    default_storage.save("uploads/a.png", ContentFile(b"a"))
    default_storage.save("uploads/b.png", ContentFile(b"b"))

    assert object_storage.read("uploads/b.png") == b"b"
    # moto's server closes every connection after its answer: one connection per upload here.
    assert options and all(options)
