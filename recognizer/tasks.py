"""Celery tasks of the recognizer: thin wrappers over recognizer.batch."""

from celery import shared_task

from recognizer import batch


@shared_task(
    bind=True,
    name="recognizer.tasks.batch_chunk_task",
    # Acked after the chunk is written: a worker killed mid-chunk gets the message redelivered
    # (after the broker's visibility timeout) and the chunk, idempotent, runs again.
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def batch_chunk_task(self, job_id: int, chunk_index: int) -> str:
    return batch.batch_chunk_run(job_id=job_id, chunk_index=chunk_index, worker=self.request.hostname or "")
