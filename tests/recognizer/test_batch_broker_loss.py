"""A Redis without persistence, killed mid-job and restarted empty: the job still ends, each
item written once. Killed before a submission: the submission fails at once, nothing is made."""

import signal
import socket
import subprocess
import sys
import time

import pytest
from django.db.models import Count
from django.utils import timezone

from recognizer.models import BatchJob, Prediction
from tests.conftest import ROOT, subprocess_env, wait_until
from tests.recognizer.batch_helpers import labelled_zip

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class PrivateRedis:
    """A redis-server of the test's own that keeps nothing on disk, to kill at will."""

    def __init__(self, folder):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.folder, self.process = folder, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "PrivateRedis":
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self.answers, timeout=20, message="redis up")
        return self

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def redis(tmp_path):
    server = PrivateRedis(tmp_path).start()
    yield server
    if server.process.poll() is None:
        server.kill()


def submit(path, broker_url: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "batch_predict", str(path)],
        cwd=ROOT,
        env=subprocess_env(CELERY_BROKER_URL=broker_url, CELERY_BROKER_FALLBACK="false", **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_job_survives_its_redis_restarted_empty_mid_job(
    celery_worker_process, served_default_model, redis, tmp_path, settings
):
    fast_sweep = {"BATCH_RESEND_SECONDS": "5", "WORKER_BEAT_SECONDS": "1", "BATCH_CHUNK_SIZE": "100"}
    celery_worker_process(
        name="broker-loss", queues="default", CELERY_BROKER_URL=redis.url, CELERY_BROKER_FALLBACK="false", **fast_sweep
    )
    archive = tmp_path / "digits.zip"
    archive.write_bytes(labelled_zip(3000))
    submitted = submit(archive, redis.url, **fast_sweep)
    assert submitted.returncode == 0, submitted.stderr
    job = BatchJob.objects.get(pk=int(submitted.stdout.strip().splitlines()[-1]))

    wait_until(lambda: job.chunks.filter(done=True).count() >= 2, timeout=120, message="two chunks written")
    redis.kill()  # every queued message is gone with it
    killed_at = timezone.now()
    assert job.chunks.filter(done=False).count() > 2, "the job must still have chunks waiting in Redis"
    time.sleep(2)
    redis.start()  # the same address, empty

    def finished():
        job.refresh_from_db()
        return job.finished_state

    wait_until(finished, timeout=180, message="job finished after Redis came back")
    assert job.status == "succeeded", job.error
    items = Prediction.objects.filter(batch_job=job)
    assert items.count() == job.total == 3000
    assert not items.values("batch_index").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert job.chunks.filter(sent__gt=killed_at).exists(), "the lost chunks were sent again by the sweep"


def test_a_submission_while_redis_is_down_fails_at_once_and_makes_nothing(served_default_model, redis, tmp_path):
    archive = tmp_path / "digits.zip"
    archive.write_bytes(labelled_zip(10))
    redis.kill()
    submitted = submit(archive, redis.url)
    assert submitted.returncode == 1
    assert "cannot be queued" in submitted.stderr
    assert not BatchJob.objects.exists()
