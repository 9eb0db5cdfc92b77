"""Writes to the model registry and training jobs. Plain functions; tests call them directly."""

import json
import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from mnistsite.metrics import training_job_record
from mnistsite.objectstore import (
    ObjectStorageError,
    file_sha256,
    object_get,
    object_storage_enabled,
    object_tree_put,
)
from training import progress as phases
from training.gate import GateDecision, activation_decide
from training.models import ModelVersion, TrainingJob
from training.selectors import EDA_NAMES_KEY, EDA_PREFIX

logger = logging.getLogger(__name__)


class ActivationRefused(Exception):
    """The activation gate keeps the active version (training.gate)."""


class ModelFetchError(Exception):
    """A version's model file cannot be had on this host: missing, unreadable, or not the
    bytes the registry recorded. A sentence for people."""


def model_version_register(
    *, directory: Path, version: str | None = None, training_job: TrainingJob | None = None
) -> ModelVersion:
    """Record the model in `directory` (model.tflite, metrics.json, maybe model.keras) as a
    version, with the SHA-256 of its model.tflite. With object storage, the folder's files
    (model, metrics, reports) are stored in the bucket first, under models/<version>/, so
    that every host can serve it; the shipped default lies on every host and stays local."""
    directory = Path(directory).resolve()
    metrics = json.loads((directory / "metrics.json").read_text())
    tflite = directory / "model.tflite"
    if not tflite.is_file():
        raise FileNotFoundError(f"{tflite} is missing")
    keras_file = directory / "model.keras"
    version = version or metrics.get("version") or directory.name
    sha256, storage_prefix = file_sha256(tflite), ""
    if object_storage_enabled() and directory != Path(settings.DEFAULT_MODEL_DIR).resolve():
        storage_prefix = f"models/{version}"
        object_tree_put(directory=directory, prefix=storage_prefix)
    temperature = (metrics.get("calibration") or {}).get("temperature") or 1.0
    return ModelVersion.objects.create(
        version=version,
        architecture=metrics.get("architecture", "unknown"),
        accuracy=float(metrics["accuracy"]),
        metrics=metrics,
        directory=str(directory),
        tflite_path=str(tflite),
        keras_path=str(keras_file) if keras_file.is_file() else "",
        sha256=sha256,
        storage_prefix=storage_prefix,
        training_job=training_job,
        temperature=float(temperature),
    )


def eda_report_store(*, directory: Path) -> str:
    """With object storage, store the data analysis written in `directory` (eda_report) in the
    bucket under eda/, replacing the last run's, so that every web host shows it; returns the
    prefix ("" without a bucket: the models page reads ARTIFACTS_DIR/eda of its own host)."""
    if not object_storage_enabled():
        return ""
    object_tree_put(directory=Path(directory), prefix=EDA_PREFIX)
    cache.delete(EDA_NAMES_KEY)
    return EDA_PREFIX


def activation_gate(*, version: ModelVersion, active: ModelVersion | None) -> GateDecision:
    """The gate's decision from the stored scores. Field scores are compared only when both
    versions were scored on the same field-test set (the same key)."""
    ours = version.field_scores or {}
    theirs = (active.field_scores or {}) if active is not None else {}
    same = bool(ours.get("key")) and ours.get("key") == theirs.get("key")
    return activation_decide(
        candidate_mnist=version.accuracy,
        active_mnist=active.accuracy if active is not None else None,
        candidate_field=ours.get("accuracy") if same else None,
        active_field=theirs.get("accuracy") if same else None,
        field_test_size=max(ours.get("n") or 0, theirs.get("n") or 0),
    )


def model_version_file(*, version: ModelVersion) -> Path:
    """The version's model.tflite on this host.

    A version stored in the bucket is fetched once into MODEL_CACHE_DIR/<version>/, checked
    against its registered SHA-256 (and fetched again if that copy no longer matches);
    raises ModelFetchError when the object is missing, unreadable or not the registered
    bytes. A version on local disk only (no bucket, or the shipped default) is read in
    place, as it always was: LiteRT's own load tells a broken file."""
    if not version.storage_prefix:
        return Path(version.tflite_path)
    cached = Path(settings.MODEL_CACHE_DIR) / version.version / "model.tflite"
    if cached.is_file() and file_sha256(cached) == version.sha256:
        return cached
    try:
        object_get(name=f"{version.storage_prefix}/model.tflite", destination=cached, sha256=version.sha256)
    except ObjectStorageError as exc:
        raise ModelFetchError(f"model version {version.version}: {exc}") from exc
    logger.info("fetched model version %s from the object storage into %s", version.version, cached)
    return cached


def model_version_calibration_set(*, version: ModelVersion):
    """The version's general calibration images (uint8 (N, 28, 28), written beside its model
    at export), from the bucket when it is stored there; None when it has none (exported
    before field calibration existed) or it cannot be had."""
    import numpy as np

    from vision.calibration import CALIBRATION_SET_FILE

    path = Path(version.directory) / CALIBRATION_SET_FILE
    if not path.is_file() and version.storage_prefix:
        path = Path(settings.MODEL_CACHE_DIR) / version.version / CALIBRATION_SET_FILE
        if not path.is_file():
            try:
                object_get(name=f"{version.storage_prefix}/{CALIBRATION_SET_FILE}", destination=path)
            except ObjectStorageError as exc:
                logger.warning("no calibration set for %s: %s", version.version, exc)
                return None
    try:
        with np.load(path) as data:
            return data["x"]
    except (OSError, KeyError, ValueError):
        return None


def model_version_field_calibrate(
    *, version: ModelVersion, x, labels, ids, key: str, minimum: int | None = None
) -> dict:
    """Refit the field calibration of `version` from field-train (uint8 inputs `x`, labels
    0-10, prediction `ids`) and store it on the version with the set's key and the time.

    The domain gate learns every field-train review against the version's general
    calibration set; the field T is fitted only on the reviews the version never trained on
    (its metrics' ``field_trained_ids``): on those it trained on it is surer than on new
    ones. With fewer than `minimum` such reviews (FIELD_FIT_MINIMUM) nothing is fitted and
    the version serves its one T; the stored dict says why."""
    import numpy as np

    from training.evaluate import field_calibration_of
    from vision.calibration import FIELD_FIT_MINIMUM

    minimum = FIELD_FIT_MINIMUM if minimum is None else minimum
    trained = set((version.metrics or {}).get("field_trained_ids") or [])
    fresh = np.asarray([int(i) not in trained for i in ids], dtype=bool)
    base = {
        "key": key,
        "fresh": int(fresh.sum()),
        "trained_on": int(len(fresh) - fresh.sum()),
        "minimum": minimum,
        "computed": timezone.now().isoformat(),
    }
    general = None if base["fresh"] < minimum else model_version_calibration_set(version=version)
    if base["fresh"] < minimum:
        field = {**base, "reason": f"{base['fresh']} field-train reviews it never trained on; {minimum} needed"}
    elif general is None:
        field = {**base, "reason": "no general calibration set beside its model to tell the field from"}
    else:
        fit = field_calibration_of(
            tflite_path=model_version_file(version=version),
            temperature=version.temperature,
            x=np.asarray(x)[fresh],
            labels=np.asarray(labels)[fresh],
            field_x=np.asarray(x),
            general_x=general,
        )
        field = {**base, **fit}
    ModelVersion.objects.filter(pk=version.pk).update(field_calibration=field)
    version.field_calibration = field
    return field


def model_version_activate(*, version: ModelVersion, force: bool = False) -> ModelVersion:
    """Make `version` the one served when the activation gate lets it (training.gate), or
    with force (staff). The gate's reason is recorded on the version either way."""
    with transaction.atomic():
        active = ModelVersion.objects.select_for_update().filter(is_active=True).first()
        if active is not None and active.pk == version.pk:
            return version
        decision = activation_gate(version=version, active=active)
        if not decision.activate and not force:
            note = f"not activated: {decision.reason}"
        else:
            note = ("forced by staff; the gate said: " if force and not decision.activate else "activated: ") + (
                decision.reason
            )
            ModelVersion.objects.filter(is_active=True).update(is_active=False)
            version.is_active = True
            version.activated = timezone.now()
        version.activation_note = note
        version.save(update_fields=["is_active", "activated", "activation_note"])
    if not version.is_active:
        raise ActivationRefused(
            f"{version.version} stays inactive ({decision.reason}); use force to activate it anyway"
        )
    logger.info("model version %s is now active (%s)", version.version, note)
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
# The process running a job writes its progress at most this often, and its heartbeat at
# least this often (settings.TRAINING_HEARTBEAT_STALE_SECONDS must be several times more).
PROGRESS_WRITE_SECONDS = 1.0
HEARTBEAT_SECONDS = 10.0


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
    with_reviews: bool = False,
) -> TrainingJob:
    """Record a training job and, unless queue is off (in-process training), queue it on
    the training queue once the row is committed.

    The field set (reviewed predictions) travels as a snapshot file named in the params:
    its field-test part scores the new version for the activation gate, and with
    ``with_reviews`` its field-train part is trained on. The preset ``finetune`` starts
    from the active version's model.keras.
    """
    from mnistsite.health import broker_require
    from training.train import PRESETS

    if queue:
        broker_require()
    init_model = None
    if PRESETS.get(preset, {}).get("init") == "active":
        active = ModelVersion.objects.filter(is_active=True).first() or model_version_ensure_default()
        if active is None or not active.keras_path or not Path(active.keras_path).is_file():
            raise TrainingNotPossible(f"the {preset} preset starts from the active version's model.keras: none")
        init_model = active.keras_path
    field_set = field_set_snapshot()  # file I/O: before the transaction
    if with_reviews and not (field_set and field_set["train"]):
        raise TrainingNotPossible("--with-reviews: no reviewed predictions in field-train yet")
    params = {
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "architecture": architecture,
        "command": command,
        "with_reviews": with_reviews,
        "field_set": field_set,
        "init_model": init_model,
    }
    with transaction.atomic():
        job = TrainingJob.objects.create(
            preset=preset,
            params=params,
            activate=activate,
            requested_by=requested_by if requested_by is not None and requested_by.is_authenticated else None,
        )
        if queue:
            transaction.on_commit(lambda: training_job_send(job_id=job.pk))
    return job


class TrainingNotPossible(ValueError):
    """The job asks for what is not there (no reviews to train on, no weights to start from)."""


def field_set_snapshot() -> dict | None:
    """The field set's snapshot from settings.FIELD_SET_SNAPSHOT ({"path", "train", "test",
    "key_test"}, or None when nothing is reviewed). A setting, because the writer lives in
    recognizer, which training does not import."""
    from django.utils.module_loading import import_string

    path = getattr(settings, "FIELD_SET_SNAPSHOT", "")
    return import_string(path)() if path else None


def training_job_send(*, job_id: int) -> None:
    """Queue the job's task. A broker that fails now does not fail the caller: the job stays
    queued and training_jobs_resend sends it again once a training worker is idle."""
    from training.tasks import train_model_task

    TrainingJob.objects.filter(pk=job_id).update(sent=timezone.now())
    try:
        train_model_task.apply_async((job_id,), retry=False)
    except Exception as exc:  # kombu and each transport raise their own connection errors
        logger.warning(
            "training job %s not queued now (%s: %s); the sweep sends it later", job_id, type(exc).__name__, exc
        )


def training_jobs_resend() -> list[int]:
    """Send again the queued jobs whose message was lost (a broker restarted without
    persistence, a worker killed with the job in its prefetch): queued for
    TRAINING_RESEND_SECONDS since last sent, while a worker of this broker that takes the
    training queue is alive and no job is running. A job starts once, so a second message
    for it does nothing. Run by every worker's heartbeat thread (settings.WORKER_SWEEPS)."""
    from mnistsite.health import safe_broker_url
    from mnistsite.workers import workers_alive

    if TrainingJob.objects.filter(status=TrainingJob.Status.RUNNING).exists():
        return []
    trainers = workers_alive(broker=safe_broker_url()).filter(queues__contains="training")
    if not trainers.exists():
        return []
    before = timezone.now() - timedelta(seconds=settings.TRAINING_RESEND_SECONDS)
    lost = list(
        TrainingJob.objects.filter(status=TrainingJob.Status.QUEUED)
        .filter(Q(sent__lt=before) | Q(sent__isnull=True, created__lt=before))
        .values_list("pk", flat=True)
    )
    for job_id in lost:
        logger.warning("training job %s: sending it again (still queued while a training worker is idle)", job_id)
        training_job_send(job_id=job_id)
    return lost


def _log_tail(tail: str, *lines: str) -> str:
    return (tail + "".join(line.rstrip() + "\n" for line in lines))[-LOG_TAIL_CHARS:]


def _held(job_id: int, worker: str):
    """The job's row while this run still holds it: running, on this worker. Every write of
    a run goes through it, so that a run that was failed meanwhile (the reaper) writes nothing."""
    return TrainingJob.objects.filter(pk=job_id, status=TrainingJob.Status.RUNNING, worker=worker)


class TrainingJobWriter(threading.Thread):
    """In the process running a job, a daemon thread that owns the job's row.

    train() reports into `state` from the training loop (a dict update, no I/O); this
    thread writes the latest state at most every PROGRESS_WRITE_SECONDS when it changed, and
    touches the heartbeat at least every HEARTBEAT_SECONDS in any case, so a long fetch, an
    epoch or the export never looks dead, and the training loop never waits on the database
    (an SQLite writer may wait for the lock for seconds). `lost` turns true when the row is
    no longer this run's (failed meanwhile).
    """

    def __init__(
        self, *, job: TrainingJob, write_every: float = PROGRESS_WRITE_SECONDS, beat_every: float = HEARTBEAT_SECONDS
    ):
        super().__init__(name=f"training-job-{job.pk}", daemon=True)
        self.job_id, self.worker, self.log_tail = job.pk, job.worker, job.log_tail
        self.write_every, self.beat_every = write_every, beat_every
        self.state = phases.ProgressState(phase=job.phase or phases.STARTING, message=job.progress_message)
        self.lost = False
        self._lines: list[str] = []
        self._lines_lock = threading.Lock()
        self._stopping = threading.Event()
        self._written_version = -1

    def log(self, line: str) -> None:
        with self._lines_lock:
            self._lines.append(line)

    def run(self) -> None:
        last_write = 0.0
        try:
            while not self._stopping.wait(self.write_every):
                changed = self.state.version != self._written_version or self._lines
                if changed or time.monotonic() - last_write >= self.beat_every:
                    self._write_safely()
                    last_write = time.monotonic()
        finally:
            connection.close()  # this thread's own connection

    def stop(self) -> None:
        """Stop the thread and write the last state (from the caller's thread)."""
        self._stopping.set()
        self.join(timeout=60)
        self._write_safely()

    def _write_safely(self) -> None:
        try:
            self.write()
        except Exception:  # the database may be away for a moment: the next beat tries again
            logger.exception("could not write the progress of training job %s", self.job_id)

    def write(self) -> None:
        version, values, reached = self.state.snapshot()
        with self._lines_lock:
            lines, self._lines = self._lines, []
        log_tail = _log_tail(self.log_tail, *lines)
        fields = {
            "phase": values["phase"] or "",
            "step": values["step"] or 0,
            "steps": values["steps"] or 0,
            "progress_message": (values["message"] or "")[:255],
            "eta_seconds": values["eta_seconds"],
            "phases": reached,
            "heartbeat": timezone.now(),
        }
        for key in ("epoch", "epochs", "loss", "accuracy", "val_accuracy"):
            if values[key] is not None:
                fields[key] = values[key]
        if lines:
            fields["log_tail"] = log_tail
        try:
            updated = _held(self.job_id, self.worker).update(**fields)
        except Exception:
            with self._lines_lock:  # not written: keep the lines for the next try
                self._lines[:0] = lines
            raise
        if updated:
            self.log_tail, self._written_version = log_tail, version
        elif not self.lost:
            self.lost = True
            logger.warning("training job %s is no longer this run's (failed meanwhile); it keeps training", self.job_id)


def training_job_run(*, job_id: int, worker: str = "") -> TrainingJob:
    """Train for a queued job: progress on the row, a ModelVersion at the end, activated by the job's rule.

    Safe to call twice: only a queued job is started. Once started, every write is
    conditional on the job still being this run's (see _held).
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
        job.phase = phases.STARTING
        job.progress_message = f"on {worker or 'this process'}"
        job.phases = [{"phase": phases.STARTING, "seconds": None}]
        job.log_tail = _log_tail(job.log_tail, f"started on {worker or 'this process'}")
        job.save()

    logger.info("training job %s started on %s (preset %s)", job.pk, worker or "this process", job.preset)
    writer = TrainingJobWriter(job=job)

    def on_epoch(progress: dict) -> None:
        writer.state.report(**progress)
        writer.log(
            f"epoch {progress['epoch']}/{progress['epochs']} loss={progress['loss']:.4f}"
            f" accuracy={progress['accuracy']:.4f}"
            + (f" val_accuracy={progress['val_accuracy']:.4f}" if progress.get("val_accuracy") is not None else "")
        )

    params = job.params
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    version_name = f"{stamp}-{job.preset}-job{job.pk}"
    output_dir = Path(settings.MODEL_DIR) / "versions" / version_name
    writer.start()
    finished = False
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
            on_progress=writer.state.report,
            command=params.get("command") or f"manage.py train_model --preset {job.preset}",
            version=version_name,
            field_set=Path(params["field_set"]["path"]) if params.get("field_set") else None,
            with_reviews=bool(params.get("with_reviews")),
            init_model=Path(params["init_model"]) if params.get("init_model") else None,
        )
        finished = True
    except BaseException as exc:  # an interrupt or a worker's shutdown ends the job too
        logger.exception("training job %s failed", job.pk)
        writer.state.finish()
        writer.stop()
        _training_job_end_failed(job=job, error=f"{exc.__class__.__name__}: {exc}")
        raise
    finally:
        if writer.is_alive():  # stopped in every case: no thread beats for a run that ended
            writer.state.finish(phase=phases.DONE if finished else None)
            writer.stop()
    return _training_job_end_succeeded(job=job, output_dir=output_dir, version_name=version_name, metrics=metrics)


def _training_job_end_failed(*, job: TrainingJob, error: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        current = TrainingJob.objects.select_for_update().get(pk=job.pk)
        if current.status == TrainingJob.Status.RUNNING and current.worker == job.worker:
            current.status = TrainingJob.Status.FAILED
            current.error = error
            seconds = (now - current.started).total_seconds() if current.started else None
            transaction.on_commit(lambda: training_job_record(status="failed", seconds=seconds))
            current.log_tail = _log_tail(current.log_tail, f"failed: {error}")
        else:  # failed meanwhile: keep that record, and say how the run ended
            current.log_tail = _log_tail(current.log_tail, f"the run went on after that, and ended with {error}")
        current.finished = current.finished or now
        current.save(update_fields=["status", "error", "log_tail", "finished", "heartbeat"])


def _training_job_end_succeeded(*, job: TrainingJob, output_dir: Path, version_name: str, metrics: dict) -> TrainingJob:
    # Registered even when the job was failed meanwhile (its worker looked dead, yet the run
    # finished): the model is complete and evaluated, and a version row keeps its files
    # findable from the job instead of leaving an orphan folder. It is never activated then:
    # that stays a person's decision. Registering reads metrics.json, so it happens before
    # the transaction below (no file I/O inside a transaction).
    version = model_version_register(directory=output_dir, version=version_name, training_job=job)
    field_set = (job.params or {}).get("field_set")
    if field_set and field_set.get("test"):
        _field_scores_for_gate(version=version, snapshot=Path(field_set["path"]), key=field_set["key_test"])
    with transaction.atomic():
        current = TrainingJob.objects.select_for_update().get(pk=job.pk)
        lines = [f"test accuracy {metrics['accuracy']:.4f}; registered {version.version}"]
        if current.status != TrainingJob.Status.RUNNING or current.worker != job.worker:
            logger.warning(
                "training job %s finished after it was marked %s; registered %s without activating it",
                job.pk,
                current.status,
                version.version,
            )
            lines.append(
                f"the run finished after the job was marked {current.status} ({current.error}); "
                f"{version.version} is registered but was not activated: activate it by hand if wanted"
            )
            current.log_tail = _log_tail(current.log_tail, *lines)
            current.save(update_fields=["log_tail"])
            return current
        if current.activate != "never":
            try:
                model_version_activate(version=version, force=current.activate == "force")
                lines.append(f"activated {version.version}")
            except ActivationRefused as exc:
                lines.append(f"not activated: {exc}")
        current.status = TrainingJob.Status.SUCCEEDED
        current.finished = timezone.now()
        seconds = (current.finished - current.started).total_seconds() if current.started else None
        transaction.on_commit(lambda: training_job_record(status="succeeded", seconds=seconds))
        current.log_tail = _log_tail(current.log_tail, *lines)
        current.save()
    return current


def model_version_field_scores(*, version: ModelVersion, x, labels, sources, key: str) -> dict:
    """Score `version` on field-test arrays (uint8 inputs, labels 0-10, sources) as it is
    served, and store the scores with the set's key and the time on the version."""
    from training.evaluate import field_scores_of

    scores = field_scores_of(
        tflite_path=model_version_file(version=version),
        temperature=version.temperature,
        field_calibration=version.field_calibration,
        x=x,
        labels=labels,
        sources=sources,
    )
    scores = {**scores, "key": key, "computed": timezone.now().isoformat()}
    ModelVersion.objects.filter(pk=version.pk).update(field_scores=scores)
    version.field_scores = scores
    return scores


def _field_scores_for_gate(*, version: ModelVersion, snapshot: Path, key: str) -> None:
    """Score the new version, and the active one, on the job's field-test snapshot: the gate
    compares them on the same set. A snapshot that cannot be read leaves the scores as they
    are (the gate then refuses: not both scored on one set)."""
    import numpy as np

    try:
        with np.load(snapshot) as data:
            x, y, sources = data["x_test"], data["y_test"], data["source_test"]
    except (OSError, KeyError, ValueError) as exc:
        logger.warning("field set %s unreadable (%s): the new version is not scored on it", snapshot, exc)
        return
    versions = [version] + list(ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk))
    for each in versions:
        if each.pk != version.pk and (each.field_scores or {}).get("key") == key:
            continue  # already scored on this set
        model_version_field_scores(version=each, x=x, labels=y, sources=sources, key=key)


def training_job_fail(*, job_id: int, error: str) -> None:
    """Mark a job failed unless it already finished (the task's failure signal: a killed pool process)."""
    now = timezone.now()
    failed = TrainingJob.objects.filter(
        pk=job_id, status__in=[TrainingJob.Status.QUEUED, TrainingJob.Status.RUNNING]
    ).update(status=TrainingJob.Status.FAILED, error=error[:2000], finished=now, heartbeat=now)
    if failed:
        training_job_record(status="failed", seconds=None)


def _worker_hostname(worker: str) -> str:
    """The Celery node name in "name@host:pid"; "" for a run with no Worker row (--sync, tests)."""
    hostname = worker.rpartition(":")[0] if ":" in worker else worker
    return hostname if "@" in hostname else ""


def training_jobs_reap() -> int:
    """Mark failed the running jobs whose heartbeat is stale and whose worker does not answer.

    A stale heartbeat alone is not enough for a Celery worker's job: the worker may be
    alive and busy (its Worker row says so). A worker restarted under the same name since
    the job started is a new process that does not hold the job. A run with no Worker row
    (--sync) is judged by its heartbeat alone. Called by every worker's heartbeat thread.
    """
    from mnistsite.workers import worker_is_alive

    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.TRAINING_HEARTBEAT_STALE_SECONDS)
    stale = TrainingJob.objects.filter(status=TrainingJob.Status.RUNNING, heartbeat__lt=stale_before)
    reaped = 0
    for job in stale.only("pk", "worker", "started", "heartbeat", "log_tail"):
        hostname = _worker_hostname(job.worker)
        if hostname and worker_is_alive(hostname, since=job.started):
            continue
        if not hostname:
            why = f"{job.worker or 'its process'} stopped writing (killed or crashed)"
        elif worker_is_alive(hostname):
            why = f"worker {hostname} was restarted since the job started"
        else:
            why = f"worker {hostname} stopped answering (killed or crashed)"
        error = f"{why}; no heartbeat since {job.heartbeat:%Y-%m-%d %H:%M:%S %Z}"
        # Still stale and running: a heartbeat that came in meanwhile wins.
        reaped += stale.filter(pk=job.pk).update(
            status=TrainingJob.Status.FAILED,
            error=error,
            finished=now,
            log_tail=_log_tail(job.log_tail, f"marked failed: {error}"),
        )
    if reaped:
        logger.warning("marked %d training job(s) failed: their worker is gone", reaped)
        for _ in range(reaped):
            training_job_record(status="failed", seconds=None)
    return reaped
