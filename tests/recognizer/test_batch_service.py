"""Batch jobs run in-process: staging, chunks, results, idempotence, the command."""

import gzip
import io
import json
import shutil

import numpy as np
import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from recognizer import batch
from recognizer.batch_sources import Limits, folder_manifest, folder_pack, label_from_name, zip_manifest
from recognizer.models import BatchChunk, BatchJob, Prediction
from tests.images import mnist_sample
from tests.recognizer.batch_helpers import labelled_zip, mnist_pngs, upload, zip_bytes
from vision.idx import write_idx

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_chunks(settings):
    settings.BATCH_CHUNK_SIZE = 7


def job_from_zip(data: bytes, **kwargs) -> BatchJob:
    return batch.batch_job_create(archive=upload(data), queue=False, **kwargs)


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("3/a.png", 3),
        ("train/7/sub/b.png", 7),  # the nearest parent named with one digit, not the nearest parent
        ("train/7/b.png", 7),
        ("a/1/b/5/c.png", 5),
        ("x.png", None),
        ("12/x.png", None),
        ("digits\\4\\x.png", 4),
        ("4", None),
    ],
)
def test_label_comes_from_the_nearest_parent_folder_named_with_one_digit(name, label):
    assert label_from_name(name) == label


def test_zip_of_labelled_digits_gives_every_item_accuracy_and_confusion(served_default_model, small_chunks):
    job = job_from_zip(labelled_zip(30))
    assert job.status == "queued" and job.total == 30 and job.has_labels
    assert BatchChunk.objects.filter(job=job).count() == 5
    job = batch.batch_job_run_sync(job_id=job.pk)
    assert job.status == "succeeded", job.error
    assert (job.done, job.failed_items) == (30, 0)
    items = Prediction.objects.filter(batch_job=job).order_by("batch_index")
    assert [p.batch_index for p in items] == list(range(30))
    _, labels = mnist_sample()
    assert [p.true_label for p in items] == [int(v) for v in labels]
    assert all(p.source == "batch" and p.reviewed_at is None and not p.original for p in items)
    assert all(len(bytes(p.model_input)) == 784 for p in items)
    assert items[0].original_name.startswith("digits/")
    assert np.array(job.confusion).shape == (10, 11) and np.array(job.confusion).sum() == 30
    correct = sum(p.prediction == p.true_label for p in items)
    assert job.accuracy == pytest.approx(correct / 30)
    assert job.images_per_second > 0 and job.started <= job.finished


def test_items_without_labels_give_no_accuracy(served_default_model):
    job = job_from_zip(zip_bytes([(f"img{i}.png", data) for i, (data, _) in enumerate(mnist_pngs(5))]))
    job = batch.batch_job_run_sync(job_id=job.pk)
    assert job.status == "succeeded"
    assert not job.has_labels and job.accuracy is None and job.confusion is None


def test_a_chunk_run_again_rewrites_its_items_once(served_default_model, small_chunks):
    job = job_from_zip(labelled_zip(30))
    assert batch.batch_chunk_run(job_id=job.pk, chunk_index=1) == "written"
    assert batch.batch_chunk_run(job_id=job.pk, chunk_index=1) == "skipped"  # done: a redelivery does nothing
    BatchChunk.objects.filter(job=job, index=1).update(done=False)  # as if killed after the commit, before the ack
    assert batch.batch_chunk_run(job_id=job.pk, chunk_index=1) == "written"
    assert Prediction.objects.filter(batch_job=job).count() == 7
    job = batch.batch_job_run_sync(job_id=job.pk)
    assert job.status == "succeeded"
    assert Prediction.objects.filter(batch_job=job).count() == job.total == job.done == 30


def test_the_database_refuses_a_second_row_for_one_batch_item(served_default_model):
    job = batch.batch_job_run_sync(job_id=job_from_zip(labelled_zip(3)).pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        Prediction.objects.create(batch_job=job, batch_index=0, source="batch")
    Prediction.objects.create(source="api")  # rows outside batches are not constrained
    Prediction.objects.create(source="api")


def test_a_cancelled_job_skips_its_remaining_chunks(served_default_model, small_chunks):
    job = job_from_zip(labelled_zip(30))
    batch.batch_chunk_run(job_id=job.pk, chunk_index=0)
    job = batch.batch_job_cancel(job=job)
    assert job.status == "cancelled" and job.finished is not None
    job = batch.batch_job_run_sync(job_id=job.pk)
    assert job.status == "cancelled"
    assert Prediction.objects.filter(batch_job=job).count() == 7


def test_a_job_whose_archive_disappears_fails_with_a_reason(served_default_model):
    job = job_from_zip(labelled_zip(3))
    (batch.batch_dir(job) / "input.zip").unlink()
    batch._manifests.clear()
    job = batch.batch_job_run_sync(job_id=job.pk)
    assert job.status == "failed"
    assert "archive" in job.error and job.finished is not None


def test_several_uploaded_files_are_staged_as_one_zip(served_default_model):
    from django.core.files.uploadedfile import SimpleUploadedFile

    files = [SimpleUploadedFile(f"d{i}.png", data) for i, (data, _) in enumerate(mnist_pngs(4))]
    job = batch.batch_job_create(files=files, queue=False)
    assert (batch.batch_dir(job) / "input.zip").is_file()
    job = batch.batch_job_run_sync(job_id=job.pk)
    assert job.total == 4 and job.status == "succeeded", job.error
    assert sorted(Prediction.objects.filter(batch_job=job).values_list("original_name", flat=True)) == [
        "d0.png",
        "d1.png",
        "d2.png",
        "d3.png",
    ]


def test_a_staged_input_is_found_beside_its_manifest_under_another_media_root(served_default_model, settings, tmp_path):
    job = job_from_zip(labelled_zip(5))
    assert json.loads((batch.batch_dir(job) / "manifest.json").read_text())["path"] == "input.zip"
    elsewhere = tmp_path / "another-host-media"
    shutil.copytree(settings.MEDIA_ROOT, elsewhere)
    shutil.rmtree(settings.MEDIA_ROOT)
    settings.MEDIA_ROOT = elsewhere
    batch._manifests.clear()
    job = batch.batch_job_run_sync(job_id=job.pk)
    assert (job.status, job.done, job.failed_items) == ("succeeded", 5, 0), job.error


def test_a_folder_packed_for_other_hosts_keeps_its_items_names_labels_and_known_errors(tmp_path):
    folder = tmp_path / "set"
    for n, (data, label) in enumerate(mnist_pngs(3)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        (folder / str(label) / f"{n}.png").write_bytes(data)
    (folder / "inner.zip").write_bytes(zip_bytes([("a.png", mnist_pngs(1)[0][0])]))
    (folder / "readme.txt").write_text("not an image")
    manifest = folder_manifest(folder, limits=Limits())
    folder_pack(manifest, tmp_path / "packed.zip")
    packed = zip_manifest(tmp_path / "packed.zip", path="packed.zip", limits=Limits())
    assert (packed.names, packed.labels, packed.errors) == (manifest.names, manifest.labels, manifest.errors)
    assert packed.errors  # the nested archive is known up front in both


def run_command(*args) -> tuple[str, dict]:
    out, err = io.StringIO(), io.StringIO()
    call_command("batch_predict", *args, stdout=out, stderr=err)
    return err.getvalue(), json.loads(out.getvalue().strip().splitlines()[-1])


@pytest.mark.parametrize("gz", [False, True])
def test_command_reads_an_idx_file_and_the_labels_beside_it(served_default_model, tmp_path, gz):
    images, labels = mnist_sample()
    suffix = ".gz" if gz else ""
    for name, array in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        write_idx(tmp_path / name, array.astype(np.uint8))
        if gz:
            (tmp_path / (name + suffix)).write_bytes(gzip.compress((tmp_path / name).read_bytes()))
            (tmp_path / name).unlink()
    _, summary = run_command(str(tmp_path / f"t10k-images-idx3-ubyte{suffix}"), "--sync", "--json")
    assert set(summary) == {"id", "mode", "status", "total", "succeeded", "failed", "images_per_second", "accuracy"}
    assert summary["mode"] == "digit"
    assert summary["status"] == "succeeded" and summary["total"] == 30 and summary["failed"] == 0
    assert summary["accuracy"] is not None
    job = BatchJob.objects.get(pk=summary["id"])
    assert "t10k-labels-idx1-ubyte" in job.source
    assert Prediction.objects.get(batch_job=job, batch_index=4).original_name == f"t10k-images-idx3-ubyte{suffix}[4]"


def test_command_reads_a_folder_in_place_with_labels_from_digit_folders(served_default_model, tmp_path):
    for n, (data, label) in enumerate(mnist_pngs(12)):
        folder = tmp_path / "set" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{n}.png").write_bytes(data)
    (tmp_path / "set" / "readme.txt").write_text("not an image")
    err, summary = run_command(str(tmp_path / "set"), "--wait", "--sync", "--json")
    assert summary["total"] == 13 and summary["failed"] == 1 and summary["succeeded"] == 12
    assert summary["accuracy"] is not None and "succeeded" in err
    error = Prediction.objects.get(batch_job_id=summary["id"], original_name="readme.txt").error
    assert error.startswith("not an image")


def test_command_without_wait_prints_the_job_id_and_queues_it(served_default_model, tmp_path):
    (tmp_path / "a.zip").write_bytes(labelled_zip(3))
    out = io.StringIO()
    call_command("batch_predict", str(tmp_path / "a.zip"), stdout=out)
    job = BatchJob.objects.get(pk=int(out.getvalue().strip()))
    assert job.status == "queued" and job.total == 3


def test_command_refuses_a_path_that_is_not_a_zip_folder_or_idx(tmp_path):
    from django.core.management.base import CommandError

    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(CommandError, match="not a zip"):
        call_command("batch_predict", str(tmp_path / "x.txt"))
    assert not BatchJob.objects.exists()


def test_command_waiting_says_when_no_worker_takes_tasks_from_its_broker(served_default_model, tmp_path, monkeypatch):
    from django.utils import timezone

    from mnistsite.workers import worker_beat
    from recognizer.management.commands.batch_predict import Command

    (tmp_path / "a.zip").write_bytes(labelled_zip(3))
    worker_beat(hostname="w@other", pid=1, broker="embedded+sqlite:////other.sqlite3", started=timezone.now())

    def run_here(self, job, *, sync, poll):  # a worker would have run it; this test has none
        return batch.batch_job_run_sync(job_id=job.pk)

    monkeypatch.setattr(Command, "follow", run_here)
    err = io.StringIO()
    call_command("batch_predict", str(tmp_path / "a.zip"), "--wait", stdout=io.StringIO(), stderr=err)
    assert "no Celery worker takes tasks from" in err.getvalue()
    assert "another broker: embedded+sqlite:////other.sqlite3" in err.getvalue()
