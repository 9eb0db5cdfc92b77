import pytest
from django.core.management import call_command

from tests.conftest import wait_until
from training.models import ModelVersion, TrainingJob
from training.services import training_job_create, training_jobs_reap


def test_a_training_job_runs_on_a_real_worker_and_registers_a_version(celery_worker_process, served_default_model):
    celery_worker_process(queues="training", name="trainer")
    job = training_job_create(preset="tiny", seed=7, activate="auto", command="test")
    finished = wait_until(
        lambda: TrainingJob.objects.filter(pk=job.pk, status__in=["succeeded", "failed"]).first(),
        timeout=300,
        interval=1.0,
        message="training job finished",
    )
    assert finished.status == "succeeded", finished.log_tail + finished.error
    assert finished.epoch == finished.epochs == 1
    assert finished.accuracy is not None
    assert finished.worker.startswith("trainer@")
    version = ModelVersion.objects.get(training_job=finished)
    assert version.metrics["preset"] == "tiny"
    assert version.metrics["command"] == "test"
    assert 0.5 < version.accuracy < served_default_model.accuracy
    # A tiny model does not beat the shipped one, so the shipped one stays active.
    assert not version.is_active
    assert "not activated" in finished.log_tail
    assert ModelVersion.objects.get(is_active=True) == served_default_model


@pytest.mark.django_db
def test_a_job_of_a_restarted_worker_is_marked_failed():
    job = TrainingJob.objects.create(status="running", worker="trainer@host:123")
    other = TrainingJob.objects.create(status="running", worker="trainer@elsewhere:9")
    assert training_jobs_reap(host="trainer@host") == 1
    job.refresh_from_db()
    other.refresh_from_db()
    assert job.status == "failed" and "restarted" in job.error
    assert other.status == "running"


@pytest.mark.django_db
def test_a_job_whose_heartbeat_went_stale_is_marked_failed():
    from datetime import timedelta

    from django.utils import timezone

    job = TrainingJob.objects.create(status="running", worker="w@h:1")
    TrainingJob.objects.filter(pk=job.pk).update(heartbeat=timezone.now() - timedelta(hours=1))
    assert training_jobs_reap() == 1
    job.refresh_from_db()
    assert job.status == "failed"


@pytest.mark.django_db
def test_a_job_is_not_started_twice(monkeypatch):
    from training import services

    job = TrainingJob.objects.create(status="succeeded", preset="tiny")
    assert services.training_job_run(job_id=job.pk).status == "succeeded"


@pytest.mark.django_db
def test_train_model_command_rejects_an_unknown_preset():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="unknown preset"):
        call_command("train_model", "--preset", "enormous")
    assert TrainingJob.objects.count() == 0
