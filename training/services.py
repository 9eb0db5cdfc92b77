"""Writes to the model registry and training jobs. Plain functions; tests call them directly."""

import json
import logging
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from training.models import ModelVersion, TrainingJob

logger = logging.getLogger(__name__)


class ActivationRefused(Exception):
    """A new version does not beat the active one on the test set."""


def model_version_register(
    *, directory: Path, version: str | None = None, training_job: TrainingJob | None = None
) -> ModelVersion:
    """Record the model in `directory` (model.tflite, metrics.json, maybe model.keras) as a version."""
    directory = Path(directory).resolve()
    metrics = json.loads((directory / "metrics.json").read_text())
    tflite = directory / "model.tflite"
    if not tflite.is_file():
        raise FileNotFoundError(f"{tflite} is missing")
    keras_file = directory / "model.keras"
    version = version or metrics.get("version") or directory.name
    return ModelVersion.objects.create(
        version=version,
        architecture=metrics.get("architecture", "unknown"),
        accuracy=float(metrics["accuracy"]),
        metrics=metrics,
        directory=str(directory),
        tflite_path=str(tflite),
        keras_path=str(keras_file) if keras_file.is_file() else "",
        training_job=training_job,
    )


def model_version_activate(*, version: ModelVersion, force: bool = False) -> ModelVersion:
    """Make `version` the one served. Without force it must beat the active one's test accuracy."""
    with transaction.atomic():
        active = ModelVersion.objects.select_for_update().filter(is_active=True).first()
        if active is not None and active.pk == version.pk:
            return version
        if active is not None and not force and version.accuracy <= active.accuracy:
            raise ActivationRefused(
                f"{version.version} ({version.accuracy:.4f}) does not beat the active "
                f"{active.version} ({active.accuracy:.4f}); use force to activate it anyway"
            )
        ModelVersion.objects.filter(is_active=True).update(is_active=False)
        version.is_active = True
        version.activated = timezone.now()
        version.save(update_fields=["is_active", "activated"])
    logger.info("model version %s is now active", version.version)
    return version


def model_version_ensure_default() -> ModelVersion | None:
    """Register and activate the shipped model when no version is active (a fresh database)."""
    active = ModelVersion.objects.filter(is_active=True).first()
    if active is not None:
        return active
    directory = Path(settings.DEFAULT_MODEL_DIR)
    if not (directory / "model.tflite").is_file():
        return None
    metrics = json.loads((directory / "metrics.json").read_text())
    version_name = metrics.get("version") or "default"
    version = ModelVersion.objects.filter(version=version_name).first()
    if version is None:
        version = model_version_register(directory=directory, version=version_name)
    return model_version_activate(version=version, force=True)


# --- Training jobs -------------------------------------------------------------------

LOG_TAIL_CHARS = 4000
# A running job whose worker has not written for this long is taken for dead.
HEARTBEAT_STALE_SECONDS = 300


def training_job_create(
    *,
    preset: str = "quick",
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int = 42,
    architecture: str | None = None,
    activate: str = "auto",
    requested_by=None,
    command: str = "",
    queue: bool = True,
) -> TrainingJob:
    """Record a training job and, unless queue is off (in-process training), queue it on
    the training queue once the row is committed."""
    from mnistsite.health import broker_require
    from training.tasks import train_model_task

    if queue:
        broker_require()
    params = {
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "architecture": architecture,
        "command": command,
    }
    with transaction.atomic():
        job = TrainingJob.objects.create(
            preset=preset,
            params=params,
            activate=activate,
            requested_by=requested_by if requested_by is not None and requested_by.is_authenticated else None,
        )
        if queue:
            transaction.on_commit(lambda: train_model_task.delay(job.pk))
    return job


def _log_append(job: TrainingJob, line: str) -> None:
    job.log_tail = (job.log_tail + line.rstrip() + "\n")[-LOG_TAIL_CHARS:]


def training_job_run(*, job_id: int, worker: str = "") -> TrainingJob:
    """Train for a queued job: progress on the row, a ModelVersion at the end, activated by the job's rule.

    Safe to call twice: only a queued job is started.
    """
    from training.train import train

    with transaction.atomic():
        job = TrainingJob.objects.select_for_update().get(pk=job_id)
        if job.status != TrainingJob.Status.QUEUED:
            logger.warning("training job %s is %s; not starting it again", job.pk, job.status)
            return job
        job.status = TrainingJob.Status.RUNNING
        job.started = timezone.now()
        job.worker = worker
        _log_append(job, f"started on {worker or 'this process'}")
        job.save()

    def on_epoch(progress: dict) -> None:
        job.epoch = progress["epoch"]
        job.epochs = progress["epochs"]
        job.loss = progress.get("loss")
        job.accuracy = progress.get("accuracy")
        job.val_accuracy = progress.get("val_accuracy")
        _log_append(
            job,
            f"epoch {job.epoch}/{job.epochs} loss={job.loss:.4f} accuracy={job.accuracy:.4f}"
            + (f" val_accuracy={job.val_accuracy:.4f}" if job.val_accuracy is not None else ""),
        )
        job.save(update_fields=["epoch", "epochs", "loss", "accuracy", "val_accuracy", "log_tail", "heartbeat"])

    params = job.params
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    version_name = f"{stamp}-{job.preset}-job{job.pk}"
    output_dir = Path(settings.MODEL_DIR) / "versions" / version_name
    try:
        metrics = train(
            preset=job.preset,
            epochs=params.get("epochs"),
            batch_size=params.get("batch_size"),
            seed=params.get("seed", 42),
            architecture=params.get("architecture"),
            output_dir=output_dir,
            mnist_dir=Path(settings.MNIST_DIR),
            on_epoch=on_epoch,
            command=params.get("command") or f"manage.py train_model --preset {job.preset}",
            version=version_name,
        )
        version = model_version_register(directory=output_dir, version=version_name, training_job=job)
        _log_append(job, f"test accuracy {metrics['accuracy']:.4f}; registered {version.version}")
        if job.activate != "never":
            try:
                model_version_activate(version=version, force=job.activate == "force")
                _log_append(job, f"activated {version.version}")
            except ActivationRefused as exc:
                _log_append(job, f"not activated: {exc}")
    except Exception as exc:
        logger.exception("training job %s failed", job.pk)
        job.status = TrainingJob.Status.FAILED
        job.error = f"{exc.__class__.__name__}: {exc}"
        job.finished = timezone.now()
        _log_append(job, f"failed: {job.error}")
        job.save()
        raise
    job.status = TrainingJob.Status.SUCCEEDED
    job.finished = timezone.now()
    job.save()
    return job


def training_job_fail(*, job_id: int, error: str) -> None:
    """Mark a job failed unless it already finished (the failure handler of the task)."""
    TrainingJob.objects.filter(pk=job_id, status__in=[TrainingJob.Status.QUEUED, TrainingJob.Status.RUNNING]).update(
        status=TrainingJob.Status.FAILED, error=error[:2000], finished=timezone.now()
    )


def training_jobs_reap(*, host: str | None = None) -> int:
    """Mark failed the running jobs whose worker is gone: those of `host` (a worker just
    started there, so whatever ran before died) or those whose heartbeat went stale."""
    from datetime import timedelta

    running = TrainingJob.objects.filter(status=TrainingJob.Status.RUNNING)
    stale = running.filter(heartbeat__lt=timezone.now() - timedelta(seconds=HEARTBEAT_STALE_SECONDS))
    reaped = stale.update(
        status=TrainingJob.Status.FAILED,
        error="the worker stopped answering (killed or crashed)",
        finished=timezone.now(),
    )
    if host:
        reaped += running.filter(worker__startswith=f"{host}:").update(
            status=TrainingJob.Status.FAILED,
            error="the worker running this job was restarted before it finished",
            finished=timezone.now(),
        )
    return reaped
