import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
# TensorFlow asks platform for the processor on import, which runs `uname -p` once per
# interpreter: ask now, so that the guard below sees only processes that tests start.
platform.processor()


def pytest_sessionstart(session):
    """Importing Keras imports matplotlib, whose first import with a new version (or on a new
    machine) builds its font cache by running fc-list: do it once here, before the fixture
    below refuses processes to unmarked tests."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is not None:
        import matplotlib.font_manager  # noqa: F401


def pytest_collection_modifyitems(config, items):
    """Honest markers: a test marked integration is marked slow too, so that
    `pytest -m "not slow"` leaves out everything that starts processes or trains."""
    unmarked = [
        item.nodeid for item in items if item.get_closest_marker("integration") and not item.get_closest_marker("slow")
    ]
    if unmarked:
        raise pytest.UsageError("integration tests must be marked slow too: " + ", ".join(unmarked))


@pytest.fixture(autouse=True)
def processes_need_the_integration_marker(request, monkeypatch):
    """A test that starts a process (a worker, gunicorn, a browser, a command) without the
    integration marker fails, so that the quick suite stays quick and honest."""
    if request.node.get_closest_marker("integration"):
        return

    def refuse(*args, **kwargs):
        raise AssertionError(f"{request.node.nodeid} starts a process: mark it integration and slow")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    """Every test writes uploads and trained models into its own temporary folders."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    settings.MODEL_DIR = tmp_path / "models"
    settings.MODEL_CACHE_DIR = tmp_path / "model-cache"
    return settings.MEDIA_ROOT


def database_url_for_subprocess() -> str:
    """The URL of the database this test session uses (the test database), for a child process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url_for_subprocess(),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        MODEL_DIR=str(settings.MODEL_DIR),
        MODEL_CACHE_DIR=str(settings.MODEL_CACHE_DIR),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class WorkerProcess:
    """A real `celery worker` child process on the test database and broker."""

    def __init__(
        self,
        *,
        queues: str = "default,training",
        name: str = "test-worker",
        concurrency: int = 1,
        log_dir: Path | None = None,
        **env,
    ):
        self.log_path = (log_dir or Path(settings.MEDIA_ROOT).parent) / f"{name}.log"
        self.args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "mnistsite",
            "worker",
            "-Q",
            queues,
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{name}@%h",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        self.env = subprocess_env(**env)
        self.process: subprocess.Popen | None = None

    def start(self, *, timeout: float = 60.0) -> "WorkerProcess":
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        offset = self.log.tell()  # an earlier run's "ready." in the same log does not count
        self.process = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"ready." in self.log_path.read_bytes()[offset:]:
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready in {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole worker process group, as a crash or an OOM kill would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def celery_worker_process(transactional_db):
    """Start a real Celery worker for the test; stop it afterwards."""
    workers = []

    def start(**kwargs) -> WorkerProcess:
        worker = WorkerProcess(**kwargs).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def wait_until(predicate, *, timeout: float, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{message} not reached within {timeout}s")


@pytest.fixture
def served_default_model(db):
    """The shipped model, registered and active, with this process's model cache reset."""
    from recognizer.serving import served_model_reset
    from training.services import model_version_ensure_default

    served_model_reset()
    version = model_version_ensure_default()
    assert version is not None, "models/default/model.tflite must ship with the repository"
    yield version
    served_model_reset()


@pytest.fixture
def gunicorn_server(transactional_db, served_default_model):
    """The site served by a real gunicorn (4 workers) on the test database; yields its base URL."""
    import urllib.request

    port = free_port()
    log_path = Path(settings.MEDIA_ROOT).parent / "gunicorn.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "mnistsite.wsgi:application", "-c", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--workers", "4", "--access-logfile", "/dev/null"],
            cwd=ROOT, env=subprocess_env(CONN_MAX_AGE="0"), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=5):
                return True
        except OSError:
            return server.poll() is not None

    wait_until(up, timeout=60, message="gunicorn up")
    assert server.poll() is None, log_path.read_text()[-3000:]
    yield url
    server.terminate()
    server.wait(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto's standalone S3 server, its own process on a free port (the S3 protocol over
    HTTP, as MinIO or AWS speak it); yields its URL. One per session: tests use a bucket each."""
    import urllib.request

    port = free_port()
    log_path = tmp_path_factory.mktemp("s3") / "moto.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):  # noqa: S310 - loopback
                return True
        except OSError:
            return server.poll() is not None

    wait_until(up, timeout=60, message="moto server up")
    assert server.poll() is None, log_path.read_text()[-3000:]
    yield url
    server.terminate()
    server.wait(timeout=30)


class ObjectStorage:
    """A bucket of the test S3 server, as this process's default storage (settings) and as
    the environment of the processes a test starts (``env``); ``client`` looks inside."""

    def __init__(self, *, url: str, bucket: str):
        import boto3

        self.url, self.bucket = url, bucket
        self.client = boto3.client(
            "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
        )
        self.env = {
            "STORAGE_BUCKET": bucket,
            "STORAGE_ENDPOINT_URL": url,
            "STORAGE_REGION": "us-east-1",
            "STORAGE_ACCESS_KEY": "test",
            "STORAGE_SECRET_KEY": "test",
        }

    def keys(self, prefix: str = "") -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()


@pytest.fixture
def object_storage(s3_server, settings):
    """A fresh bucket on the session's S3 server, made the default storage of this process."""
    import uuid

    from mnistsite.runtime import object_storage_backend

    storage = ObjectStorage(url=s3_server, bucket=f"test-{uuid.uuid4().hex[:16]}")
    storage.client.create_bucket(Bucket=storage.bucket)
    settings.STORAGE_BUCKET = storage.bucket
    settings.STORAGES = {
        **settings.STORAGES,
        "default": object_storage_backend(
            bucket=storage.bucket, endpoint_url=s3_server, region="us-east-1", access_key="test", secret_key="test"
        ),
    }
    return storage


def another_host_env(tmp_path: Path, name: str, object_storage: ObjectStorage) -> dict[str, str]:
    """The environment of a process on another host: its own MEDIA_ROOT, MODEL_DIR and model
    cache, sharing only the database, the broker and the bucket with this one."""
    host = tmp_path / name
    return {
        "MEDIA_ROOT": str(host / "media"),
        "MODEL_DIR": str(host / "models"),
        "MODEL_CACHE_DIR": str(host / "model-cache"),
        **object_storage.env,
    }
