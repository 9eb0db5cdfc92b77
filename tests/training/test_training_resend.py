"""A queued training job whose message was lost is sent again, once a training worker is idle."""

from datetime import timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from mnistsite.health import safe_broker_url
from mnistsite.workers import worker_beat
from training import services, tasks
from training.models import TrainingJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.train_model_task, "apply_async", lambda args, **kw: sent.append(args[0]))
    monkeypatch.setattr("mnistsite.health.broker_require", lambda: None)
    return sent


def trainer(queues: str = "default,training"):
    worker_beat(hostname="trainer@host", pid=1, queues=queues, broker=safe_broker_url(), started=timezone.now())


def queued_job(ago: float) -> TrainingJob:
    job = TrainingJob.objects.create(preset="tiny")
    TrainingJob.objects.filter(pk=job.pk).update(sent=timezone.now() - timedelta(seconds=ago))
    return job


def test_a_job_still_queued_while_a_trainer_is_idle_is_sent_again(published, settings):
    settings.TRAINING_RESEND_SECONDS = 120
    trainer()
    lost, fresh = queued_job(ago=121), queued_job(ago=10)
    assert services.training_jobs_resend() == [lost.pk]
    assert published == [lost.pk]
    assert services.training_jobs_resend() == [], "sending again resets the clock"
    assert fresh.pk not in published


def test_nothing_is_sent_again_while_a_job_runs_or_no_trainer_beats(published, settings):
    settings.TRAINING_RESEND_SECONDS = 0
    queued_job(ago=10)
    assert services.training_jobs_resend() == []  # nobody takes the training queue
    trainer(queues="default")
    assert services.training_jobs_resend() == []  # a worker, but not for training
    trainer()
    TrainingJob.objects.create(preset="tiny", status=TrainingJob.Status.RUNNING)
    assert services.training_jobs_resend() == []  # the trainer is busy: the message waits its turn
    assert published == []


def test_a_broker_that_fails_at_send_time_leaves_the_job_queued_for_the_sweep(
    monkeypatch, settings, django_capture_on_commit_callbacks
):
    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.train_model_task, "apply_async", broker_down)
    monkeypatch.setattr("mnistsite.health.broker_require", lambda: None)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.training_job_create(preset="tiny")
    job.refresh_from_db()
    assert job.status == "queued" and job.sent is not None
    sent = []
    monkeypatch.setattr(tasks.train_model_task, "apply_async", lambda args, **kw: sent.append(args[0]))
    settings.TRAINING_RESEND_SECONDS = 0
    trainer()
    assert services.training_jobs_resend() == [job.pk] and sent == [job.pk]
