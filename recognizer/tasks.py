"""Celery tasks of the recognizer: thin wrappers over recognizer.batch."""

import logging

from celery import shared_task
from celery.signals import task_received

from mnistsite.logs import job_context
from recognizer import batch

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="recognizer.tasks.batch_chunk_task",
    # Acked after the chunk is written: a worker killed mid-chunk gets the message redelivered
    # (Redis: after its visibility timeout), or batch_jobs_recover sends the chunk again once
    # the worker's heartbeat is stale (any broker); the chunk, idempotent, runs again.
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def batch_chunk_task(self, job_id: int, chunk_index: int) -> str:
    with job_context(f"batch-{job_id}"):
        return batch.batch_chunk_run(job_id=job_id, chunk_index=chunk_index, worker=self.request.hostname or "")


@task_received.connect
def batch_chunk_received(sender=None, request=None, **kwargs) -> None:
    """In the worker's main process: record who holds a chunk from the moment it is received,
    so that chunks waiting in a dead worker's prefetch are recovered too."""
    if request is None or request.task_name != batch_chunk_task.name:
        return
    try:
        job_id, chunk_index = request.args
        batch.batch_chunk_claim(job_id=job_id, chunk_index=chunk_index, worker=request.hostname or "")
    except Exception:  # a claim is a hint for recovery; the task itself must still run
        logger.exception("could not record the claim of %s", request.args)
