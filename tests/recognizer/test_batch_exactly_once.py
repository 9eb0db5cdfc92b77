"""Real workers on the real broker: a worker SIGKILLed mid-job, and two workers sharing a job."""

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Count

from recognizer import batch
from recognizer.models import BatchChunk, BatchJob, Prediction
from tests.conftest import wait_until
from tests.recognizer.batch_helpers import labelled_zip, upload

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VISIBILITY_TIMEOUT = 5


@pytest.fixture
def short_visibility_timeout(settings):
    """What a dead worker held comes back within seconds, on either broker: Redis redelivers
    unacknowledged messages after 5 s; on any broker the workers' sweep re-sends the chunks
    of a worker whose heartbeat (every second) is 4 s old."""
    from mnistsite.celery import app

    before = app.conf.broker_transport_options
    if "visibility_timeout" in before:
        app.conf.broker_transport_options = {**before, "visibility_timeout": VISIBILITY_TIMEOUT}
    settings.WORKER_STALE_SECONDS = 4
    yield {
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "WORKER_BEAT_SECONDS": "1",
        "WORKER_STALE_SECONDS": "4",
    }
    app.conf.broker_transport_options = before


def chunks_done(job: BatchJob) -> int:
    return BatchChunk.objects.filter(job=job, done=True).count()


def job_finished(job: BatchJob):
    job.refresh_from_db()
    return job.finished_state


def test_a_worker_killed_mid_job_leaves_every_item_stored_exactly_once(
    celery_worker_process, served_default_model, settings, short_visibility_timeout
):
    settings.BATCH_CHUNK_SIZE = 100
    first = celery_worker_process(name="batch-first", queues="default", **short_visibility_timeout)
    job = batch.batch_job_create(archive=upload(labelled_zip(3000)), queue=True)
    chunk_count = job.chunks.count()
    assert chunk_count == 30

    wait_until(lambda: chunks_done(job) >= 3, timeout=120, message="three chunks written")
    first.kill()
    killed_at = chunks_done(job)
    assert 3 <= killed_at < chunk_count, f"{killed_at} chunks were done when the worker was killed"
    job.refresh_from_db()
    assert job.status == "running"

    celery_worker_process(name="batch-second", queues="default", **short_visibility_timeout)
    wait_until(lambda: job_finished(job), timeout=240, message="job finished after the second worker came")

    assert job.status == "succeeded", job.error
    items = Prediction.objects.filter(batch_job=job)
    assert items.count() == job.total == job.done == 3000
    duplicates = items.values("batch_index").annotate(n=Count("id")).filter(n__gt=1)
    assert not duplicates.exists()
    assert set(items.values_list("batch_index", flat=True)) == set(range(3000))
    assert job.accuracy is not None and sum(map(sum, job.confusion)) == 3000
    workers = set(BatchChunk.objects.filter(job=job).values_list("worker", flat=True))
    assert any(w.startswith("batch-second@") for w in workers)
    # and had a chunk been written twice, the database would have refused the second copy
    with pytest.raises(IntegrityError), transaction.atomic():
        Prediction.objects.bulk_create([Prediction(batch_job=job, batch_index=17, source="batch")])


def test_two_workers_on_one_broker_share_the_chunks_of_one_job(
    celery_worker_process, served_default_model, settings, short_visibility_timeout
):
    settings.BATCH_CHUNK_SIZE = 50
    for name in ("batch-left", "batch-right"):
        celery_worker_process(name=name, queues="default", concurrency=1, **short_visibility_timeout)
    job = batch.batch_job_create(archive=upload(labelled_zip(1000)), queue=True)
    wait_until(lambda: job_finished(job), timeout=240, message="job finished")
    assert job.status == "succeeded", job.error
    assert Prediction.objects.filter(batch_job=job).count() == 1000
    per_worker = dict(
        BatchChunk.objects.filter(job=job).values_list("worker").annotate(n=Count("id")).values_list("worker", "n")
    )
    assert {w.split("@")[0] for w in per_worker} == {"batch-left", "batch-right"}, per_worker
