"""Rows the project package owns: the Celery workers that are alive."""

from django.db import models


class Worker(models.Model):
    """One running Celery worker, kept fresh by its own heartbeat thread (mnistsite.workers).

    Jobs record the worker that holds them; a job whose worker's row went stale, or was
    replaced by a worker started later under the same name, is held by a dead process.
    """

    hostname = models.CharField(max_length=255, unique=True, help_text="Celery node name, e.g. worker@host.")
    pid = models.PositiveIntegerField()
    queues = models.CharField(max_length=255, blank=True)
    broker = models.CharField(max_length=500, blank=True, help_text="The broker it takes tasks from (no password).")
    started = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return f"{self.hostname} (pid {self.pid})"
