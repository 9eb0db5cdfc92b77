"""Batch throughput: a zip of MNIST test PNGs through the batch pipeline on real workers.

    .venv/bin/python bench/batch_throughput.py [--count 10000] [--concurrency 2] [--use-running] [--sync] [--cold]
        [--runs 1] [--config env|embedded|sqlite-redis]

Builds (once, under var/bench/) a zip of `count` MNIST test digits as 28x28 grey PNGs in
folders named by their label, starts a Celery worker on the `default` queue (unless
--use-running: then a worker already running on this database and broker does the work;
--sync: no worker, the chunks run in this process), lets it run a 1,000-image job first
(unless --cold: the model loads in each worker process on its first chunk), submits the
zip through the same service as `manage.py batch_predict`, waits, and prints images per
second end to end (unzip, decode, preprocess, infer, store: job total / (finished -
started)), the time from submission to the job's finish, and the accuracy. Uses
DATABASE_URL and CELERY_BROKER_URL, or the configuration --config names (bench/configs.py).
With --runs N, the same job N times on the same worker, a line each, then a summary line.
"""

import argparse
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mnistsite.settings")

from bench.configs import CONFIGS, config_env, config_from_argv  # noqa: E402

os.environ.update(config_env(config_from_argv()))

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402
from PIL import Image  # noqa: E402

from recognizer import batch  # noqa: E402
from recognizer.models import BatchChunk  # noqa: E402
from training.data import load_mnist  # noqa: E402
from training.services import model_version_ensure_default  # noqa: E402


def mnist_zip(count: int) -> Path:
    path = ROOT / "var" / "bench" / f"mnist-test-{count}.zip"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    _, _, images, labels = load_mnist(settings.MNIST_DIR)
    partial = path.with_suffix(".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for n in range(count):
            buffer = io.BytesIO()
            Image.fromarray(images[n % len(images)]).save(buffer, format="PNG")
            archive.writestr(f"mnist-test/{int(labels[n % len(labels)])}/{n:05d}.png", buffer.getvalue())
    partial.replace(path)
    return path


def worker_start(concurrency: int):
    """A real worker on the default queue: the same launcher the integration tests use."""
    from tests.conftest import WorkerProcess

    log_dir = ROOT / "var" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    return WorkerProcess(queues="default", name="bench-batch", concurrency=concurrency, log_dir=log_dir).start(
        timeout=90
    )


def job_wait(job, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.finished_state:
            return
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="Images in the zip.")
    parser.add_argument("--concurrency", type=int, default=2, help="Worker processes of the worker started here.")
    parser.add_argument("--chunk-size", type=int, default=None, help="Items per chunk (default BATCH_CHUNK_SIZE).")
    parser.add_argument("--use-running", action="store_true", help="Use a worker that is already running.")
    parser.add_argument("--sync", action="store_true", help="No worker: run the chunks in this process.")
    parser.add_argument("--timeout", type=float, default=600, help="Seconds to wait for the job.")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="Measure the worker's first job (by default a 1,000-image job runs first, so that each worker "
        "process has loaded the model, as a worker that has been up for a while has).",
    )
    parser.add_argument("--runs", type=int, default=1, help="Jobs to time, one after the other.")
    parser.add_argument("--config", choices=CONFIGS, default="env", help="See bench/configs.py.")
    options = parser.parse_args()
    if options.chunk_size:
        settings.BATCH_CHUNK_SIZE = options.chunk_size
    call_command("migrate", verbosity=0)
    model_version_ensure_default()
    archive = mnist_zip(options.count)
    worker = None if options.use_running or options.sync else worker_start(options.concurrency)
    results = []
    try:
        if not options.cold and not options.sync:
            job_wait(batch.batch_job_create(path=mnist_zip(1_000)), options.timeout)
        for _ in range(options.runs):
            results.append(timed_job(archive, options))
            print(json.dumps(results[-1]), flush=True)
    finally:
        if worker is not None:
            worker.stop()
    if options.runs > 1:
        speeds = [r["images_per_second"] for r in results]
        summary = {
            "config": options.config,
            "runs": len(results),
            "succeeded": sum(r["status"] == "succeeded" for r in results),
            "images_per_second_min": min(speeds),
            "images_per_second_max": max(speeds),
            "accuracy_min": min((r["accuracy"] or 0.0) for r in results),
        }
        print(json.dumps(summary))


def timed_job(archive: Path, options) -> dict:
    submitted = timezone.now()
    job = batch.batch_job_create(path=archive, queue=not options.sync)
    if options.sync:
        batch.batch_job_run_sync(job_id=job.pk)
    job_wait(job, options.timeout)
    # Up to the job's own finish time, not to when the polling above noticed it.
    wall = ((job.finished or timezone.now()) - submitted).total_seconds()
    workers = sorted(set(BatchChunk.objects.filter(job=job).values_list("worker", flat=True)))
    return {
        "config": options.config,
        "job": job.pk,
        "status": job.status,
        "total": job.total,
        "failed": job.failed_items,
        "images_per_second": round(job.images_per_second or 0.0, 1),
        "wall_seconds_from_submit": round(wall, 2),
        "images_per_second_from_submit": round(job.total / wall, 1) if wall else None,
        "accuracy": job.accuracy,
        "chunk_size": batch.batch_chunk_size(),
        "warm_worker": not options.cold and not options.sync,
        "workers": workers,
        "error": job.error or None,
    }


if __name__ == "__main__":
    main()
