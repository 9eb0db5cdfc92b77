"""Batch jobs: many images recognised by Celery workers, a chunk of a few hundred per task.

Staging (``batch_job_create``, in the request or the command): the input is saved under
MEDIA_ROOT/batches/<job id>/ (an uploaded zip as is; several uploaded files written into
``input.zip``; an IDX file's pixels as ``images.npy``; a folder given to the command is read
in place, not copied) with ``manifest.json`` beside it (member names, labels, limits). The
job is cut into BatchChunk rows; one task per chunk, queued once the rows are committed.

With object storage (STORAGE_BUCKET), the staged folder is also stored in the bucket under
``batches/<stage dir>/`` before the job is recorded (a folder given to the command is packed
into ``input.zip`` first), and a worker whose MEDIA_ROOT lacks it downloads it once
(``batch_stage_fetch``): web and worker hosts share only the database and the bucket.

A chunk (``batch_chunk_run``) is safe to run twice and to be killed at any point: it reads
and recognises its items outside any transaction, then in one transaction locks its chunk
row, deletes whatever rows of its index range exist, writes all its rows, marks itself
done, and recomputes the job's counters from counts. The last chunk to finish finalises
the job (status, accuracy, confusion matrix, speed) under the job row's lock. With
acks_late, a worker killed mid-chunk leaves the message unacknowledged; it comes back
after the broker's visibility timeout and the chunk runs again from the start.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from PIL import Image

from mnistsite import metrics
from mnistsite.bulk import bulk_insert
from mnistsite.health import broker_require
from mnistsite.objectstore import ObjectStorageError, object_storage_enabled, object_tree_get, object_tree_put
from recognizer.batch_sources import (
    BatchLimitError,
    BatchSourceError,
    Item,
    Limits,
    Manifest,
    folder_manifest,
    folder_pack,
    idx_is_images_file,
    idx_labels_path,
    idx_manifest,
    items_read,
    numbers_relabel,
    zip_from_files,
    zip_manifest,
)
from recognizer.models import BatchChunk, BatchJob, Kind, LabelSource, Prediction
from recognizer.services import number_fields, prediction_answer_fields
from recognizer.serving import served_model
from vision.decode import ImageDecodeError, decode_image, pixels_to_uint8
from vision.infer import decide_rows
from vision.preprocess import Preprocessed
from vision.segment import read_number
from vision.stack import STACK_MAX_PIXELS, preprocess_images

logger = logging.getLogger(__name__)

ACTIVE = (BatchJob.Status.QUEUED, BatchJob.Status.RUNNING)
REJECTED_COLUMN = 10  # confusion matrix: columns 0-9 are predicted digits, 10 "rejected"
_manifests: dict[tuple, Manifest] = {}  # per process; a manifest never changes once written
MANIFEST_CACHE_SIZE = 8


def batch_limits() -> Limits:
    return Limits(
        max_items=settings.BATCH_MAX_ITEMS,
        max_member_bytes=settings.BATCH_MAX_MEMBER_BYTES,
        max_total_bytes=settings.BATCH_MAX_TOTAL_BYTES,
        max_ratio=settings.BATCH_MAX_COMPRESSION_RATIO,
    )


def batch_chunk_size() -> int:
    return max(1, int(settings.BATCH_CHUNK_SIZE))


def batch_dir(job: BatchJob) -> Path:
    return Path(settings.MEDIA_ROOT) / "batches" / (job.stage_dir or str(job.pk))


def batch_stage_name(job: BatchJob) -> str:
    """The job's staged folder in the object storage."""
    return f"batches/{job.stage_dir or job.pk}"


def batch_stage_fetch(*, job: BatchJob) -> Path:
    """The job's staged folder on this host: downloaded from the object storage the first
    time a process here needs it (another host staged it). Raises BatchSourceError."""
    directory = batch_dir(job)
    if directory.is_dir() or not object_storage_enabled():
        return directory
    try:
        return object_tree_get(prefix=batch_stage_name(job), destination=directory)
    except ObjectStorageError as exc:
        raise BatchSourceError(f"cannot fetch the job's staged input: {exc}") from exc


# --------------------------------------------------------------------------
# Creating a job
# --------------------------------------------------------------------------


def _stage(*, directory: Path, archive, files: list | None, path: Path | None, limits: Limits) -> tuple[Manifest, str]:
    """Save the input under `directory` and build its manifest. Returns (manifest, source)."""
    directory.mkdir(parents=True, exist_ok=True)
    staged = directory / "input.zip"
    if archive is not None:
        zip_manifest(archive, path="", limits=limits)  # refuses a non-zip before anything is copied
        archive.seek(0)
        with open(staged, "wb") as out:
            for block in archive.chunks():
                out.write(block)
        source = f"upload {getattr(archive, 'name', '') or 'archive.zip'}"
        return zip_manifest(staged, path=str(staged), limits=limits), source
    if files:
        zip_from_files(files, staged, limits=limits)
        return zip_manifest(staged, path=str(staged), limits=limits), f"upload of {len(files)} files"
    if path is None:
        raise BatchSourceError("send a zip file or image files")
    path = Path(path).expanduser().resolve()
    if path.is_dir():
        manifest = folder_manifest(path, limits=limits)
        if not object_storage_enabled():
            return manifest, f"folder {path}"
        folder_pack(manifest, staged)  # workers on other hosts cannot read this folder
        return zip_manifest(staged, path=str(staged), limits=limits), f"folder {path}"
    if not path.is_file():
        raise BatchSourceError(f"{path} does not exist")
    if idx_is_images_file(path):
        labels = idx_labels_path(path)
        manifest = idx_manifest(path, staged=directory / "images.npy", labels_path=labels, limits=limits)
        return manifest, f"IDX {path}" + (f" with labels {labels}" if labels else "")
    staged = directory / "input.zip"
    shutil.copyfile(path, staged)
    return zip_manifest(staged, path=str(staged), limits=limits), f"zip {path}"


def batch_job_create(
    *,
    archive=None,
    files: list | None = None,
    path: Path | str | None = None,
    owner=None,
    queue: bool = True,
    mode: str = Kind.DIGIT,
) -> BatchJob:
    """Stage the input (`archive`: an uploaded zip; `files`: uploaded images; `path`: a
    folder, zip or IDX images file on this machine), write the manifest, then record the job
    and its chunks and (unless queue is off, for in-process runs) queue one task per chunk
    once committed.

    The files are written before the transaction, which then only inserts rows: SQLite
    holds one write lock for the whole database. Raises BatchSourceError for input that
    cannot be read at all (nothing is created). An input over a limit gives a job marked
    failed with the reason. mode "number" reads a number per image (labels from a
    labels.csv or folder names, see batch_sources.numbers_relabel)."""
    mode = Kind(mode)
    if queue:
        broker_require()
    owner = owner if owner is not None and owner.is_authenticated else None
    stage_dir = uuid.uuid4().hex
    directory = Path(settings.MEDIA_ROOT) / "batches" / stage_dir
    try:
        manifest, source = _stage(directory=directory, archive=archive, files=files, path=path, limits=batch_limits())
        if mode == Kind.NUMBER:
            manifest = numbers_relabel(manifest)
        if Path(manifest.path).parent == directory:
            manifest.path = Path(manifest.path).name  # relative: the folder lies elsewhere on another host
        manifest.save(directory / "manifest.json")
        if object_storage_enabled():
            object_tree_put(directory=directory, prefix=f"batches/{stage_dir}")
    except BatchLimitError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        return BatchJob.objects.create(
            owner=owner,
            mode=mode,
            status=BatchJob.Status.FAILED,
            error=str(exc),
            finished=timezone.now(),
            source=_describe(archive, files, path),
        )
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    try:
        with transaction.atomic():
            job = BatchJob.objects.create(
                owner=owner,
                mode=mode,
                stage_dir=stage_dir,
                source=source[:500],
                total=len(manifest),
                has_labels=manifest.has_labels,
            )
            size = batch_chunk_size()
            chunks = BatchChunk.objects.bulk_create(
                BatchChunk(job=job, index=i, start=start, end=min(start + size, job.total))
                for i, start in enumerate(range(0, job.total, size))
            )
            if queue:
                indexes = [chunk.index for chunk in chunks]
                transaction.on_commit(lambda: batch_chunks_send(job_id=job.pk, indexes=indexes))
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return job


def _describe(archive, files, path) -> str:
    if archive is not None:
        return f"upload {getattr(archive, 'name', '')}"[:500]
    if files:
        return f"upload of {len(files)} files"
    return str(path or "")[:500]


def batch_chunks_send(*, job_id: int, indexes: list[int]) -> None:
    """Queue the chunks' tasks; they count as sent and held by nobody until a worker takes one.

    A broker that fails now (it answered a moment ago, when the job was accepted) does not
    fail the request: the chunks stay marked sent, and the workers' sweep sends them again
    BATCH_RESEND_SECONDS later, once the broker is back."""
    from recognizer.tasks import batch_chunk_task

    BatchChunk.objects.filter(job_id=job_id, index__in=indexes, done=False).update(
        sent=timezone.now(), claimed=None, worker=""
    )
    try:
        for index in indexes:
            batch_chunk_task.apply_async((job_id, index), queue="default", retry=False)
    except Exception as exc:  # kombu and each transport raise their own connection errors
        logger.warning(
            "batch job %s: chunks not queued now (%s: %s); the sweep sends them later", job_id, type(exc).__name__, exc
        )


def batch_chunk_claim(*, job_id: int, chunk_index: int, worker: str) -> None:
    """A worker received the chunk's task (it may wait in its prefetch before it runs)."""
    BatchChunk.objects.filter(job_id=job_id, index=chunk_index, done=False).update(
        worker=worker[:255], claimed=timezone.now()
    )


def batch_jobs_recover() -> dict[int, list[int]]:
    """Send again the undone chunks of active jobs that nobody will run: those held by a
    worker that died (its heartbeat went stale, or it was restarted under its name), and
    those sent BATCH_RESEND_SECONDS ago that no worker has taken (a broker that lost them).
    A chunk is idempotent, so a chunk sent twice is written once. Run by every worker's
    heartbeat thread (settings.WORKER_SWEEPS). Returns {job id: chunk indexes sent}."""
    from mnistsite.workers import workers_alive

    now = timezone.now()
    alive = dict(workers_alive().values_list("hostname", "started"))
    pending = BatchChunk.objects.filter(done=False, job__status__in=ACTIVE, sent__isnull=False)
    lost: dict[int, list[int]] = {}
    held = pending.filter(claimed__isnull=False).values_list("job_id", "index", "worker", "claimed")
    for job_id, index, worker, claimed in held:
        if worker not in alive or alive[worker] > claimed:
            lost.setdefault(job_id, []).append(index)
    resend_before = now - timedelta(seconds=settings.BATCH_RESEND_SECONDS)
    # Sent and never taken (a broker that lost it), or taken long ago by a worker that lives
    # on but never wrote it (a broker restart drops what a worker had prefetched): a chunk
    # takes seconds, and a worker holds at most its prefetch beyond the chunks it runs.
    forgotten = pending.filter(Q(claimed__isnull=True, sent__lt=resend_before) | Q(claimed__lt=resend_before))
    for job_id, index in forgotten.values_list("job_id", "index"):
        if index not in lost.get(job_id, []):
            lost.setdefault(job_id, []).append(index)
    for job_id, indexes in lost.items():
        logger.warning("batch job %s: sending chunks %s again (their worker is gone)", job_id, indexes)
        batch_chunks_send(job_id=job_id, indexes=indexes)
    return lost


# --------------------------------------------------------------------------
# Running a chunk
# --------------------------------------------------------------------------


def manifest_load(job: BatchJob) -> Manifest:
    path = batch_stage_fetch(job=job) / "manifest.json"
    try:
        # Keyed by the file, not the job id alone: another database (tests) reuses ids.
        key = (str(path), path.stat().st_mtime_ns)
        if key not in _manifests:
            manifest = Manifest.load(path)
            while len(_manifests) >= MANIFEST_CACHE_SIZE:
                _manifests.pop(next(iter(_manifests)))
            _manifests[key] = manifest
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise BatchSourceError(f"cannot read the job's manifest {path}: {exc}") from exc
    return _manifests[key]


def _decode(item: Item) -> Image.Image | None:
    if item.error is not None:
        return None
    try:
        return Image.fromarray(item.array) if item.array is not None else decode_image(item.data)
    except ImageDecodeError as exc:
        item.error = f"not an image: {exc}"
        return None


def chunk_preprocess(items_source) -> tuple[list[Item], list[Preprocessed | None], float]:
    """Read and preprocess the items; returns (items, results, ms per item). A result is
    None for an item that is not a readable image (item.error says why). Small images are
    preprocessed together at the end, as one stack (preprocess_images); a large one at once,
    so that at most one large image is held decoded."""
    started = time.perf_counter()
    items, results, small = [], [], []
    for item in items_source:
        image = _decode(item)
        item.data = None  # keep at most one member's bytes in memory
        items.append(item)
        results.append(None)
        if image is None:
            continue
        if image.size[0] * image.size[1] <= STACK_MAX_PIXELS:
            small.append((len(items) - 1, image))
        else:
            results[-1] = preprocess_images([image])[0]
    if small:
        for (position, _), result in zip(small, preprocess_images([image for _, image in small]), strict=True):
            results[position] = result
    for position, result in enumerate(results):
        if isinstance(result, ImageDecodeError):
            items[position].error, results[position] = f"not an image: {result}", None
    return items, results, (time.perf_counter() - started) * 1000.0 / max(len(items), 1)


def chunk_predictions(*, job: BatchJob, chunk: BatchChunk) -> list[dict]:
    """Read, preprocess and recognise the chunk's items (one batched model call); returns
    the Prediction rows to store, as dicts of field values (see mnistsite.bulk)."""
    if job.mode == Kind.NUMBER:
        return chunk_numbers(job=job, chunk=chunk)
    items, preprocessed, preprocess_ms = chunk_preprocess(items_read(manifest_load(job), chunk.start, chunk.end))
    model = served_model()
    readable = [i for i, p in enumerate(preprocessed) if p is not None and p.pixels is not None]
    inputs = np.stack([preprocessed[i].pixels for i in readable]) if readable else np.zeros((0, 28, 28), np.float32)
    started = time.perf_counter()
    probs = model.classifier.classify(inputs)
    inference_seconds = time.perf_counter() - started
    inference_ms = inference_seconds * 1000.0 / max(len(readable), 1)
    metrics.batch_stages_observe(
        preprocess_seconds=preprocess_ms * len(items) / 1000.0, inference_seconds=inference_seconds
    )
    stored_inputs = dict(zip(readable, pixels_to_uint8(inputs), strict=True))
    decision_of = dict(zip(readable, decide_rows(probs), strict=True))
    rows = []
    for position, item in enumerate(items):
        result = preprocessed[position]
        row = {
            "source": Prediction.Source.BATCH.value,
            "owner_id": job.owner_id,
            "batch_job_id": job.pk,
            "batch_index": item.index,
            "original_name": item.name[:255],
            "true_label": item.label,
            "label_source": (LabelSource.NONE if item.label is None else LabelSource.BATCH).value,
            "model_version_id": model.version.pk,
            "preprocess_ms": preprocess_ms,
        }
        if item.error is not None:
            row["error"] = item.error[:255]
        elif result.pixels is None:  # no ink found: a rejection with nothing stored to show
            row |= prediction_answer_fields(
                digit=None,
                confidence=0.0,
                digit_probs=[],
                no_digit_prob=0.0,
                reason=result.reason,
                model_input=None,
                has_original=False,
            )
        else:
            decision = decision_of[position]
            row |= prediction_answer_fields(
                digit=decision.digit,
                confidence=decision.confidence,
                digit_probs=decision.digit_probs,
                no_digit_prob=decision.no_digit_prob,
                reason=decision.reason,
                model_input=stored_inputs[position].tobytes(),
                has_original=False,  # a batch item keeps no original: its 28x28 input is what a reviewer sees
            )
            row["inference_ms"] = inference_ms
        rows.append(row)
    return rows


def chunk_numbers(*, job: BatchJob, chunk: BatchChunk) -> list[dict]:
    """chunk_predictions for a job that reads numbers: each image is segmented and its digits
    classified in one model call (vision.segment.read_number); rows as /api/read stores them."""
    model = served_model()
    rows = []
    for item in items_read(manifest_load(job), chunk.start, chunk.end):
        started = time.perf_counter()
        image = _decode(item)
        item.data = None
        row = {
            "source": Prediction.Source.BATCH.value,
            "kind": Kind.NUMBER.value,
            "owner_id": job.owner_id,
            "batch_job_id": job.pk,
            "batch_index": item.index,
            "original_name": item.name[:255],
            "true_text": "" if item.label is None else str(item.label),
            "label_source": (LabelSource.NONE if item.label is None else LabelSource.BATCH).value,
            "model_version_id": model.version.pk,
        }
        if image is not None:
            try:
                row.update(number_fields(read_number(image, model.classifier)))
            except ImageDecodeError as exc:
                item.error = f"not an image: {exc}"
            except Exception as exc:  # a decoder that was lazy about a damaged file
                item.error = f"not an image: the image file is damaged and cannot be read ({type(exc).__name__})"
        if item.error is not None:
            row["error"] = item.error[:255]
        row["preprocess_ms"] = (time.perf_counter() - started) * 1000.0
        rows.append(row)
    return rows


def batch_chunk_run(*, job_id: int, chunk_index: int, worker: str = "") -> str:
    """Run one chunk; safe to run any number of times. Returns what happened: "written",
    "skipped" (job finished, cancelled or gone; chunk already done) or "failed"."""
    job = BatchJob.objects.filter(pk=job_id).first()
    if job is None or job.status not in ACTIVE:
        return "skipped"
    chunk = BatchChunk.objects.filter(job_id=job_id, index=chunk_index).first()
    if chunk is None or chunk.done:
        return "skipped"
    if job.started is None:
        BatchJob.objects.filter(pk=job_id, status__in=ACTIVE, started__isnull=True).update(
            status=BatchJob.Status.RUNNING, started=timezone.now()
        )
    started, timer = timezone.now(), time.perf_counter()
    try:
        rows = chunk_predictions(job=job, chunk=chunk)
        written = _chunk_write(job_id=job_id, chunk=chunk, rows=rows, worker=worker, started=started)
        if written == "written":
            seconds = time.perf_counter() - timer
            version = rows[0]["model_version_id"] if rows else None
            metrics.batch_chunk_record(rows=rows, model_version=_version_name(version), seconds=seconds)
            logger.info("batch job %s: chunk %s written, %d items in %.2f s", job_id, chunk_index, len(rows), seconds)
        return written
    except BatchSourceError as exc:
        batch_job_fail(job_id=job_id, error=str(exc))
        return "failed"
    except Exception as exc:  # a bug or a time limit: the job must not stay "running" forever
        batch_job_fail(job_id=job_id, error=f"chunk {chunk_index} failed: {type(exc).__name__}: {exc}")
        raise


def _version_name(version_id: int | None) -> str:
    """The metric label of the version that wrote a chunk (the served one, unless it just changed)."""
    model = served_model()
    return model.version.version if model.version.pk == version_id else str(version_id)


def _chunk_write(*, job_id: int, chunk: BatchChunk, rows: list[dict], worker: str, started) -> str:
    with transaction.atomic():
        chunk = BatchChunk.objects.select_for_update().get(pk=chunk.pk)
        if chunk.done:  # a twin delivery of this chunk got here first
            return "skipped"
        Prediction.objects.filter(batch_job_id=job_id, batch_index__gte=chunk.start, batch_index__lt=chunk.end).delete()
        bulk_insert(Prediction, rows)
        chunk.done, chunk.worker, chunk.started, chunk.finished = True, worker[:255], started, timezone.now()
        chunk.save(update_fields=["done", "worker", "started", "finished"])
        # The job row's lock orders chunk commits: each count below sees every earlier chunk.
        job = BatchJob.objects.select_for_update().get(pk=job_id)
        if job.status not in ACTIVE:
            transaction.set_rollback(True)
            return "skipped"
        _counters_refresh(job)
        fields = ["done", "failed_items"]
        if not BatchChunk.objects.filter(job_id=job_id, done=False).exists():
            _finalize(job)
            fields += ["status", "finished", "images_per_second", "accuracy", "confusion", "started"]
        job.save(update_fields=fields)
    return "written"


def _counters_refresh(job: BatchJob) -> None:
    counts = Prediction.objects.filter(batch_job_id=job.pk).aggregate(
        done=Count("id"), failed=Count("id", filter=~Q(error=""))
    )
    job.done, job.failed_items = counts["done"], counts["failed"]


def _finalize(job: BatchJob) -> None:
    job.status = BatchJob.Status.SUCCEEDED
    job.finished = timezone.now()
    job.started = job.started or job.finished
    working = batch_job_working_seconds(job=job)
    job.images_per_second = job.total / working if working > 0 else None
    speed = job.images_per_second
    transaction.on_commit(
        lambda: metrics.batch_job_record(status="succeeded", working_seconds=working, images_per_second=speed)
    )
    if job.has_labels and job.mode == Kind.NUMBER:
        job.accuracy = batch_job_number_accuracy(job=job)
    elif job.has_labels:
        job.confusion, job.accuracy = batch_job_confusion(job=job)


def batch_job_working_seconds(*, job: BatchJob) -> float:
    """Seconds during which at least one of the job's chunks was being worked on: the time a
    dead worker's chunks waited to be sent again is not working time."""
    spans = sorted(
        (started, finished)
        for started, finished in BatchChunk.objects.filter(job=job, done=True).values_list("started", "finished")
        if started is not None and finished is not None
    )
    if not spans:  # chunks written before chunks had a start time
        return (job.finished - job.started).total_seconds()
    total, (open_start, open_end) = 0.0, spans[0]
    for start, end in spans[1:]:
        if start > open_end:
            total += (open_end - open_start).total_seconds()
            open_start, open_end = start, end
        else:
            open_end = max(open_end, end)
    return total + (open_end - open_start).total_seconds()


def batch_job_confusion(*, job: BatchJob) -> tuple[list[list[int]], float | None]:
    """10x11 counts over the labelled, readable items (rows: true digit; columns: predicted
    digit, then "rejected"), and the accuracy over them (a rejection counts as wrong)."""
    confusion = [[0] * 11 for _ in range(10)]
    counts = (
        Prediction.objects.filter(batch_job_id=job.pk, true_label__isnull=False, error="")
        .values_list("true_label", "prediction")
        .annotate(n=Count("id"))
        .order_by()
    )
    for true_label, predicted, n in counts:
        confusion[true_label][REJECTED_COLUMN if predicted is None else predicted] += n
    labelled = sum(map(sum, confusion))
    correct = sum(confusion[d][d] for d in range(10))
    return confusion, (correct / labelled if labelled else None)


def batch_job_number_accuracy(*, job: BatchJob) -> float | None:
    """The share of labelled, readable numbers read exactly (every digit right, none missing
    or extra; a rejection counts as wrong)."""
    labelled = Prediction.objects.filter(batch_job_id=job.pk, error="").exclude(true_text="")
    counts = labelled.aggregate(n=Count("id"), right=Count("id", filter=Q(text=F("true_text"))))
    return counts["right"] / counts["n"] if counts["n"] else None


def batch_job_fail(*, job_id: int, error: str) -> None:
    """Mark an active job failed and remove the rows its chunks wrote: a failed job's
    results are not counted anywhere (history, accuracy, admin), and a chunk still running
    finds the job failed and writes nothing."""
    logger.warning("batch job %s failed: %s", job_id, error)
    with transaction.atomic():
        failed = BatchJob.objects.filter(pk=job_id, status__in=ACTIVE).update(
            status=BatchJob.Status.FAILED, error=error[:2000], finished=timezone.now(), done=0, failed_items=0
        )
        if failed:
            Prediction.objects.filter(batch_job_id=job_id).delete()
            transaction.on_commit(lambda: metrics.batch_job_record(status="failed"))


def batch_job_cancel(*, job: BatchJob) -> BatchJob:
    """Cancel a queued or running job: chunks not yet written skip. Finished jobs stay as they are."""
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().get(pk=job.pk)
        if job.status in ACTIVE:
            job.status, job.finished = BatchJob.Status.CANCELLED, timezone.now()
            job.save(update_fields=["status", "finished"])
    return job


def batch_job_run_sync(*, job_id: int, progress: Callable[[BatchJob], None] | None = None) -> BatchJob:
    """Run every undone chunk in this process, in order (the command's --sync, tests)."""
    for index in BatchChunk.objects.filter(job_id=job_id, done=False).values_list("index", flat=True):
        batch_chunk_run(job_id=job_id, chunk_index=index, worker="sync")
        if progress is not None:
            progress(BatchJob.objects.get(pk=job_id))
    return BatchJob.objects.get(pk=job_id)


def batch_jobs_visible(*, user):
    """Staff see every job; a user their own; nobody else any."""
    queryset = BatchJob.objects.select_related("owner")
    if user.is_authenticated and user.is_staff:
        return queryset
    if user.is_authenticated:
        return queryset.filter(owner=user)
    return queryset.none()


# The results' columns (results.csv and results.json), each with the Prediction field it reads.
RESULT_COLUMNS = {
    "index": "batch_index",
    "name": "original_name",
    "prediction": "prediction",
    "text": "text",
    "confidence": "confidence",
    "rejected": "rejected",
    "reason": "reason",
    "true_label": "true_label",
    "true_text": "true_text",
    "error": "error",
}
RESULT_FIELDS = list(RESULT_COLUMNS)


def batch_results(*, job: BatchJob):
    """The job's items in order, as dicts (the results.csv and results.json rows)."""
    rows = Prediction.objects.filter(batch_job_id=job.pk).order_by("batch_index").values(*RESULT_COLUMNS.values())
    for row in rows.iterator(chunk_size=2000):
        result = {column: row[field] for column, field in RESULT_COLUMNS.items()}
        result["text"] = result["text"] or None
        result["true_text"] = result["true_text"] or None
        result["confidence"] = round(result["confidence"], 6)
        yield result


# A spreadsheet reads a cell that starts with one of these as a formula (OWASP: CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def batch_results_csv_row(row: dict) -> dict:
    """A batch_results row as results.csv writes it: None as an empty cell, and text that a
    spreadsheet would run as a formula prefixed with a single quote (OWASP). JSON stays raw."""
    return {key: _csv_cell(value) for key, value in row.items()}


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return f"'{value}"
    return value
