"""Celery tasks of the training queue: thin wrappers over training.services.

Jobs held by a dead worker are failed by training.services.training_jobs_reap, which every
worker's heartbeat thread runs (settings.WORKER_SWEEPS).
"""

import os

from billiard.exceptions import WorkerLostError
from celery import shared_task
from celery.signals import task_failure

from mnistsite.logs import job_context
from training import services


@shared_task(
    bind=True,
    name="training.tasks.train_model_task",
    # Acked on receipt: a run is never redelivered half-done; a dead worker's job is marked failed instead.
    acks_late=False,
    soft_time_limit=3 * 3600,
    time_limit=3 * 3600 + 60,
)
def train_model_task(self, job_id: int) -> None:
    # training_job_run marks the job failed on any exception, time limits included.
    with job_context(f"training-{job_id}"):
        services.training_job_run(job_id=job_id, worker=f"{self.request.hostname}:{os.getpid()}")


@task_failure.connect(sender=train_model_task)
def training_job_lost(sender=None, args=None, exception=None, **kwargs) -> None:
    """The pool process running a job died (killed, out of memory): its worker lives on and
    keeps beating, so the reaper would keep the job; the worker's main process says it here."""
    if isinstance(exception, WorkerLostError) and args:
        services.training_job_fail(job_id=args[0], error=f"the process running the job died: {exception}")
