"""Celery tasks of the training queue: thin wrappers over training.services."""

import os

from celery import shared_task
from celery.signals import worker_ready

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
    services.training_job_run(job_id=job_id, worker=f"{self.request.hostname}:{os.getpid()}")


@worker_ready.connect
def reap_jobs_of_dead_worker(sender=None, **kwargs) -> None:
    """Worker names are unique, so a worker starting under a name means its predecessor died."""
    services.training_jobs_reap(host=getattr(sender, "hostname", None))
