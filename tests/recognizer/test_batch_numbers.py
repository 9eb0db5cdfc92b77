"""Batch jobs in number mode: labels from labels.csv or folders, exact-string accuracy, the
text in the results; the command, the API and a real worker."""

import csv
import io
import json

import pytest
from django.core.management import call_command

from recognizer import batch
from recognizer.batch_sources import number_label_from_name
from recognizer.models import BatchJob, Kind, Prediction
from tests.conftest import wait_until
from tests.images import encode, font_text, mnist_number, mnist_sample
from tests.recognizer.batch_helpers import upload, zip_bytes

pytestmark = pytest.mark.django_db

NUMBERS = [(0, 1), (2, 3, 4), (5, 6), (7, 8, 9, 10)]


def numbers() -> list[tuple[bytes, str]]:
    _, labels = mnist_sample()
    return [(encode(mnist_number(list(ix))), "".join(str(labels[i]) for i in ix)) for ix in NUMBERS]


def numbers_zip_with_csv() -> tuple[bytes, list[str]]:
    items = numbers()
    rows = "file,label\n" + "".join(f"n{k}.png,{label}\n" for k, (_, label) in enumerate(items))
    rows += "word.png,none\n"
    members = [(f"set/n{k}.png", data) for k, (data, _) in enumerate(items)]
    members += [("set/word.png", encode(font_text("hello"))), ("set/labels.csv", rows.encode())]
    return zip_bytes(members), [label for _, label in items]


@pytest.mark.parametrize(
    ("name", "label"),
    [("2026/a.png", "2026"), ("x/007/b/c.png", "007"), ("7/a.png", "7"), ("a.png", None), ("12a/x.png", None)],
)
def test_a_number_label_comes_from_the_nearest_folder_named_with_digits(name, label):
    assert number_label_from_name(name) == label


def test_a_number_job_reads_labels_csv_and_scores_exact_strings(served_default_model):
    data, labels = numbers_zip_with_csv()
    job = batch.batch_job_create(archive=upload(data), queue=False, mode=Kind.NUMBER)
    assert job.mode == "number" and job.total == 5 and job.has_labels  # labels.csv is not an item
    job = batch.batch_job_run_sync(job_id=job.pk)
    assert job.status == "succeeded", job.error
    items = list(Prediction.objects.filter(batch_job=job).order_by("batch_index"))
    assert all(p.kind == "number" and p.source == "batch" for p in items)
    assert [p.true_text for p in items] == [*labels, ""]  # "none": no number to match
    assert items[-1].rejected and items[-1].text == ""  # the word
    right = sum(p.text == p.true_text for p in items[:4])
    assert right >= 3
    assert job.accuracy == pytest.approx(right / 4)
    assert job.confusion is None
    rows = list(batch.batch_results(job=job))
    assert [r["text"] for r in rows[:4]] == [p.text or None for p in items[:4]]
    assert rows[0]["true_text"] == labels[0]


def test_a_number_job_takes_labels_from_folder_names(served_default_model, tmp_path):
    for k, (data, label) in enumerate(numbers()[:2]):
        folder = tmp_path / "set" / label
        folder.mkdir(parents=True)
        (folder / f"{k}.png").write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    call_command("batch_predict", str(tmp_path / "set"), "--mode", "number", "--sync", "--json", stdout=out, stderr=err)
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert summary["mode"] == "number" and summary["total"] == 2
    items = Prediction.objects.filter(batch_job_id=summary["id"]).order_by("batch_index")
    assert {(p.original_name.split("/")[0], p.true_text) for p in items} == {(lb, lb) for _, lb in numbers()[:2]}
    assert summary["accuracy"] == pytest.approx(sum(p.text == p.true_text for p in items) / 2)


def test_the_api_starts_a_number_job_and_its_csv_carries_the_text(
    ann_client, served_default_model, django_capture_on_commit_callbacks
):
    data, labels = numbers_zip_with_csv()
    with django_capture_on_commit_callbacks(execute=False):
        response = ann_client.post("/api/batches", {"file": upload(data), "mode": "number"})
    assert response.status_code == 201, response.json()
    assert response.json()["mode"] == "number"
    job = batch.batch_job_run_sync(job_id=response.json()["id"])
    body = ann_client.get(f"/api/batches/{job.pk}/results.csv").getvalue().decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert {"text", "true_text"} <= set(rows[0])
    assert rows[0]["true_text"] == labels[0]
    assert rows[0]["text"] == Prediction.objects.get(batch_job=job, batch_index=0).text


def test_the_api_refuses_an_unknown_mode(ann_client):
    data, _ = numbers_zip_with_csv()
    response = ann_client.post("/api/batches", {"file": upload(data), "mode": "words"})
    assert response.status_code == 400
    assert "mode" in json.dumps(response.json())
    assert BatchJob.objects.count() == 0


@pytest.mark.integration
@pytest.mark.slow
def test_a_real_worker_reads_a_number_job(celery_worker_process, served_default_model):
    celery_worker_process(name="numbers", queues="default")
    data, labels = numbers_zip_with_csv()
    job = batch.batch_job_create(archive=upload(data), queue=True, mode=Kind.NUMBER)

    def finished():
        job.refresh_from_db()
        return job.finished_state

    wait_until(finished, timeout=120, message="number job finished")
    assert job.status == "succeeded", job.error
    items = Prediction.objects.filter(batch_job=job).order_by("batch_index")
    assert items.count() == 5 and all(p.kind == "number" for p in items)
    assert job.accuracy == pytest.approx(sum(p.text == p.true_text for p in items[:4]) / 4)
