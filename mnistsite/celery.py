"""The Celery app: CELERY_-prefixed settings, tasks autodiscovered from the apps."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mnistsite.settings")

app = Celery("mnistsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="mnistsite.ping", ignore_result=False)
def ping() -> str:
    """No side effects: shows that a worker takes tasks from the broker and answers."""
    return "pong"
