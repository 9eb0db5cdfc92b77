"""What a dead worker held is sent again; what a live one holds is left alone; a failed job keeps no rows."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mnistsite.workers import worker_beat
from recognizer import batch
from recognizer.models import BatchChunk, Prediction
from tests.recognizer.batch_helpers import labelled_zip, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch, settings, django_capture_on_commit_callbacks):
    """A job of 4 chunks, sent; the messages it would queue are recorded, not published."""
    settings.BATCH_CHUNK_SIZE = 5
    published = []
    monkeypatch.setattr(batch, "broker_require", lambda: None)
    from recognizer import tasks

    monkeypatch.setattr(tasks.batch_chunk_task, "apply_async", lambda args, **kw: published.append(tuple(args)))
    with django_capture_on_commit_callbacks(execute=True):
        job = batch.batch_job_create(archive=upload(labelled_zip(20)), queue=True)
    assert sorted(published) == [(job.pk, i) for i in range(4)]
    published.clear()
    return job, published


def claim(job, index: int, worker: str, *, ago: float = 0.0) -> None:
    BatchChunk.objects.filter(job=job, index=index).update(
        worker=worker, claimed=timezone.now() - timedelta(seconds=ago)
    )


def test_chunks_of_a_worker_whose_heartbeat_went_stale_are_sent_again(
    sent, settings, django_capture_on_commit_callbacks
):
    job, published = sent
    worker_beat(hostname="dead@host", pid=1, started=timezone.now() - timedelta(minutes=5))
    claim(job, 0, "dead@host")
    from mnistsite.models import Worker

    Worker.objects.filter(hostname="dead@host").update(last_seen=timezone.now() - timedelta(seconds=60))
    assert batch.batch_jobs_recover() == {job.pk: [0]}
    assert published == [(job.pk, 0)]
    chunk = BatchChunk.objects.get(job=job, index=0)
    assert chunk.claimed is None and chunk.worker == "" and chunk.sent is not None


def test_chunks_held_by_a_live_worker_are_left_alone(sent):
    job, published = sent
    worker_beat(hostname="busy@host", pid=1, started=timezone.now() - timedelta(minutes=5))
    claim(job, 0, "busy@host")
    claim(job, 1, "busy@host", ago=60)  # a long chunk is still its worker's
    assert batch.batch_jobs_recover() == {}
    assert published == []


def test_chunks_taken_long_ago_by_a_live_worker_and_never_written_are_sent_again(sent, settings):
    """A broker restarted without persistence drops what a live worker had prefetched."""
    job, published = sent
    settings.BATCH_RESEND_SECONDS = 120
    worker_beat(hostname="busy@host", pid=1, started=timezone.now() - timedelta(minutes=10))
    claim(job, 1, "busy@host", ago=121)
    assert batch.batch_jobs_recover() == {job.pk: [1]}
    assert published == [(job.pk, 1)]


def test_chunks_of_a_worker_restarted_under_the_same_name_are_sent_again(sent):
    job, published = sent
    claim(job, 2, "same@host", ago=30)
    worker_beat(hostname="same@host", pid=2, started=timezone.now())  # a new process since the claim
    assert batch.batch_jobs_recover() == {job.pk: [2]}
    assert published == [(job.pk, 2)]


def test_chunks_sent_long_ago_that_no_worker_took_are_sent_again(sent, settings):
    job, published = sent
    settings.BATCH_RESEND_SECONDS = 60
    BatchChunk.objects.filter(job=job, index=3).update(sent=timezone.now() - timedelta(seconds=61))
    assert batch.batch_jobs_recover() == {job.pk: [3]}
    assert published == [(job.pk, 3)]
    assert batch.batch_jobs_recover() == {}, "sending again resets the clock"


def test_done_chunks_and_finished_jobs_are_never_sent_again(sent, settings, served_default_model):
    job, published = sent
    settings.BATCH_RESEND_SECONDS = 0
    batch.batch_chunk_run(job_id=job.pk, chunk_index=0, worker="w@host")
    BatchChunk.objects.filter(job=job).update(sent=timezone.now() - timedelta(seconds=1))
    assert batch.batch_jobs_recover() == {job.pk: [1, 2, 3]}
    batch.batch_job_cancel(job=job)
    published.clear()
    assert batch.batch_jobs_recover() == {}
    assert published == []


def test_chunks_of_a_job_run_in_process_are_not_sent(served_default_model, settings):
    settings.BATCH_RESEND_SECONDS = 0
    job = batch.batch_job_create(archive=upload(labelled_zip(3)), queue=False)
    assert batch.batch_jobs_recover() == {}
    assert job.chunks.get().sent is None


def test_a_failed_job_keeps_no_rows_and_no_counts(served_default_model, settings):
    settings.BATCH_CHUNK_SIZE = 5
    job = batch.batch_job_create(archive=upload(labelled_zip(20)), queue=False)
    batch.batch_chunk_run(job_id=job.pk, chunk_index=0, worker="w@host")
    job.refresh_from_db()
    assert job.done == 5 and Prediction.objects.filter(batch_job=job).count() == 5
    batch.batch_job_fail(job_id=job.pk, error="chunk 1 failed: OperationalError: database is locked")
    job.refresh_from_db()
    assert job.status == "failed" and job.done == 0 and job.failed_items == 0
    assert not Prediction.objects.filter(batch_job=job).exists()
    assert batch.batch_chunk_run(job_id=job.pk, chunk_index=1) == "skipped"
    assert not Prediction.objects.filter(batch_job=job).exists()


def test_a_failed_staging_leaves_no_job_and_no_files(media_root, monkeypatch):
    def broken_bulk_create(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(BatchChunk.objects, "bulk_create", broken_bulk_create)
    with pytest.raises(RuntimeError):
        batch.batch_job_create(archive=upload(labelled_zip(3)), queue=False)
    from recognizer.models import BatchJob

    assert not BatchJob.objects.exists()
    assert not [p for p in media_root.rglob("*") if p.is_file()]


def test_a_broker_that_fails_when_chunks_are_sent_leaves_them_for_the_sweep(
    monkeypatch, settings, django_capture_on_commit_callbacks, served_default_model
):
    """The broker answered when the job was accepted and died before its chunks went out:
    the request still succeeds, and the sweep sends them once the broker is back."""
    from kombu.exceptions import OperationalError

    from recognizer import tasks

    settings.BATCH_CHUNK_SIZE = 5
    monkeypatch.setattr(batch, "broker_require", lambda: None)

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.batch_chunk_task, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        job = batch.batch_job_create(archive=upload(labelled_zip(10)), queue=True)
    job.refresh_from_db()
    assert job.status == "queued"
    assert all(chunk.sent is not None for chunk in job.chunks.all())
    published = []
    monkeypatch.setattr(tasks.batch_chunk_task, "apply_async", lambda args, **kw: published.append(tuple(args)))
    settings.BATCH_RESEND_SECONDS = 0
    assert batch.batch_jobs_recover() == {job.pk: [0, 1]}
    assert sorted(published) == [(job.pk, 0), (job.pk, 1)]


def test_speed_counts_working_time_not_the_wait_for_a_dead_workers_chunks(served_default_model, settings):
    settings.BATCH_CHUNK_SIZE = 5
    job = batch.batch_job_create(archive=upload(labelled_zip(10)), queue=False)
    batch.batch_job_run_sync(job_id=job.pk)
    job.refresh_from_db()
    start = job.started
    # chunk 0 ran for 1 s; chunk 1 ran for 1 s, ten minutes later (its first worker died)
    BatchChunk.objects.filter(job=job, index=0).update(started=start, finished=start + timedelta(seconds=1))
    BatchChunk.objects.filter(job=job, index=1).update(
        started=start + timedelta(minutes=10), finished=start + timedelta(minutes=10, seconds=1)
    )
    job.finished = start + timedelta(minutes=10, seconds=1)
    assert batch.batch_job_working_seconds(job=job) == 2.0
    # overlapping chunks (two processes) count once
    BatchChunk.objects.filter(job=job, index=1).update(
        started=start + timedelta(seconds=0.5), finished=start + timedelta(seconds=1.5)
    )
    assert batch.batch_job_working_seconds(job=job) == 1.5
