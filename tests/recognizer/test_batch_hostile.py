"""Hostile and broken inputs: bounded, reported per item or as a clear job error, never a crash."""

import io
import struct
import zipfile

import pytest

from recognizer import batch
from recognizer.models import BatchJob, Prediction
from tests.images import blank_png
from tests.recognizer.batch_helpers import mnist_pngs, upload, zip_bytes

pytestmark = pytest.mark.django_db

DIGIT, _ = mnist_pngs(1)[0]
MB = 1024 * 1024


def lying_zip() -> bytes:
    """A member that declares 100 bytes but inflates to 5 MB (both headers patched)."""
    data = bytearray(zip_bytes([("liar.png", b"\0" * (5 * MB)), ("ok.png", DIGIT)]))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info, start_dir = archive.infolist()[0], archive.start_dir
    struct.pack_into("<I", data, info.header_offset + 22, 100)
    struct.pack_into("<I", data, start_dir + 24, 100)
    return bytes(data)


def encrypted_flag_zip() -> bytes:
    data = bytearray(zip_bytes([("secret.png", DIGIT), ("ok.png", DIGIT)]))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info, start_dir = archive.infolist()[0], archive.start_dir
    struct.pack_into("<H", data, start_dir + 8, info.flag_bits | 0x1)
    return bytes(data)


# (case, archive, name of the hostile member, the start of its per-item error or None when it is read)
PER_ITEM_CASES = [
    ("declared bomb", lambda: zip_bytes([("bomb.png", b"\0" * (3 * MB)), ("ok.png", DIGIT)]), "bomb.png", "too large"),
    (
        "ratio bomb",
        lambda: zip_bytes([("zeros.png", b"\0" * (2 * MB)), ("ok.png", DIGIT)]),
        "zeros.png",
        "suspicious compression ratio",
    ),
    ("lying sizes", lying_zip, "liar.png", "cannot read this file"),
    ("path traversal", lambda: zip_bytes([("../../etc/x.png", DIGIT), ("ok.png", DIGIT)]), "../../etc/x.png", None),
    ("absolute path", lambda: zip_bytes([("/tmp/abs.png", DIGIT), ("ok.png", DIGIT)]), "/tmp/abs.png", None),
    (
        "nested zip",
        lambda: zip_bytes([("inner.zip", zip_bytes([("a.png", DIGIT)])), ("ok.png", DIGIT)]),
        "inner.zip",
        "nested archives are not read",
    ),
    (
        "nested zip named png",
        lambda: zip_bytes([("sneaky.png", zip_bytes([("a.png", DIGIT)])), ("ok.png", DIGIT)]),
        "sneaky.png",
        "nested archives are not read",
    ),
    ("text file", lambda: zip_bytes([("notes.txt", b"hello"), ("ok.png", DIGIT)]), "notes.txt", "not an image"),
    ("empty file", lambda: zip_bytes([("empty.png", b""), ("ok.png", DIGIT)]), "empty.png", "not an image"),
    ("truncated png", lambda: zip_bytes([("cut.png", DIGIT[:40]), ("ok.png", DIGIT)]), "cut.png", "not an image"),
    ("encrypted", encrypted_flag_zip, "secret.png", "encrypted files are not read"),
    ("blank image", lambda: zip_bytes([("blank.png", blank_png()), ("ok.png", DIGIT)]), "blank.png", None),
]


@pytest.mark.parametrize(("case", "make", "name", "error"), PER_ITEM_CASES, ids=[c[0] for c in PER_ITEM_CASES])
def test_a_hostile_member_is_reported_on_its_own_and_the_job_goes_on(
    served_default_model, settings, media_root, case, make, name, error
):
    settings.BATCH_MAX_MEMBER_BYTES = 2 * MB
    job = batch.batch_job_create(archive=upload(make()), queue=False)
    job = batch.batch_job_run_sync(job_id=job.pk)
    assert job.status == "succeeded", job.error
    assert job.total == 2 and job.done == 2
    hostile = Prediction.objects.get(batch_job=job, original_name=name)
    if error is None:
        assert hostile.error == ""
    else:
        assert hostile.error.startswith(error), hostile.error
        assert hostile.prediction is None
        assert job.failed_items == 1
    assert Prediction.objects.get(batch_job=job, original_name="ok.png").error == ""
    assert not (media_root.parent / "etc").exists() and not (media_root / "etc").exists()
    # nothing extracted: the job folder holds the archive and its manifest only
    assert sorted(p.name for p in batch.batch_dir(job).iterdir()) == ["input.zip", "manifest.json"]


# (case, settings, archive, the start of the job's error)
JOB_ERROR_CASES = [
    (
        "too many files",
        {"BATCH_MAX_ITEMS": 50},
        lambda: zip_bytes([(f"{i}.png", b"x") for i in range(51)]),
        "the archive holds 51 files; the limit is 50",
    ),
    (
        "too large in total",
        {"BATCH_MAX_TOTAL_BYTES": 3 * MB},
        lambda: zip_bytes([(f"{i}.png", b"\0" * MB) for i in range(4)]),
        "the archive declares",
    ),
]


@pytest.mark.parametrize(("case", "limits", "make", "error"), JOB_ERROR_CASES, ids=[c[0] for c in JOB_ERROR_CASES])
def test_an_archive_over_a_job_limit_gives_a_failed_job_with_the_reason(settings, case, limits, make, error):
    for key, value in limits.items():
        setattr(settings, key, value)
    job = batch.batch_job_create(archive=upload(make()), queue=False)
    assert job.status == "failed" and job.error.startswith(error), job.error
    assert job.finished is not None and not job.chunks.exists()


def test_thousands_of_tiny_files_are_counted_from_the_directory_alone(settings):
    settings.BATCH_MAX_ITEMS = 2000
    job = batch.batch_job_create(archive=upload(zip_bytes([(f"t/{i}.png", b"") for i in range(3000)])), queue=False)
    assert job.status == "failed" and "3000 files" in job.error


def test_folders_and_mac_metadata_are_not_items(served_default_model):
    data = zip_bytes([("d/", b""), ("d/1/a.png", DIGIT), ("__MACOSX/d/1/._a.png", b"junk"), ("d/.DS_Store", b"x")])
    job = batch.batch_job_create(archive=upload(data), queue=False)
    assert job.total == 1


# (case, body) for uploads refused with a 400 before anything is created
BAD_UPLOADS = [
    ("not a zip", lambda: DIGIT),
    ("text", lambda: b"hello, world"),
    ("truncated zip", lambda: zip_bytes([("a.png", DIGIT)])[:-30]),
    ("empty zip", lambda: zip_bytes([])),
    ("only folders", lambda: zip_bytes([("a/", b""), ("a/b/", b"")])),
]


@pytest.mark.parametrize(("case", "make"), BAD_UPLOADS, ids=[c[0] for c in BAD_UPLOADS])
def test_an_upload_that_is_not_a_readable_zip_is_a_400_and_creates_nothing(
    client, django_user_model, media_root, case, make
):
    client.force_login(django_user_model.objects.create_user("ann"))
    response = client.post("/api/batches", {"file": upload(make())})
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error", "detail"} and body["error"]
    assert not BatchJob.objects.exists()
    assert not list((media_root / "batches").glob("*/*"))


def test_a_job_in_which_no_item_is_an_image_succeeds_with_every_item_reported(served_default_model):
    archive = zip_bytes([("notes.txt", b"hello"), ("empty.png", b""), ("cut.png", DIGIT[:40])])
    job = batch.batch_job_run_sync(job_id=batch.batch_job_create(archive=upload(archive), queue=False).pk)
    assert job.status == "succeeded", job.error
    assert (job.total, job.done, job.failed_items) == (3, 3, 3)
    items = Prediction.objects.filter(batch_job=job)
    assert all(item.error.startswith("not an image") and item.prediction is None for item in items)
