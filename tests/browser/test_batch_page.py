"""The batch page: a zip chosen in the browser becomes a job, and the job's page follows it live."""

import re

import pytest
from playwright.sync_api import expect

from tests.recognizer.batch_helpers import labelled_zip

pytestmark = [pytest.mark.integration, pytest.mark.slow]

IMAGES = 60


def test_a_zip_uploaded_on_the_page_runs_on_a_worker_and_its_page_follows_it_to_the_end(
    page, live_server, django_user_model, settings, celery_worker_process
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # a fast login; not what is tested
    settings.BATCH_CHUNK_SIZE = 20
    django_user_model.objects.create_user("teacher", password="correct horse battery")

    page.goto("/batches/new")  # not logged in: the login page, then back here
    page.fill("#id_username", "teacher")
    page.fill("#id_password", "correct horse battery")
    page.click("[type=submit]")
    expect(page.locator("#batch-form")).to_be_visible()

    archive = labelled_zip(IMAGES, extra=[("digits/notes.txt", b"not an image")])
    page.set_input_files(
        "#batch-file", files=[{"name": "class-3b.zip", "mimeType": "application/zip", "buffer": archive}]
    )
    page.click("#batch-submit")
    expect(page).to_have_url(re.compile(r"/batches/\d+$"))
    # No worker yet: the job waits in the queue, and the page says so.
    expect(page.locator("#batch-status")).to_have_text("Queued")
    expect(page.locator("#batch-counts")).to_have_text(f"0 / {IMAGES + 1}")
    expect(page.locator("#batch-confusion")).to_have_count(0)

    celery_worker_process(queues="default", name="browser-batch-worker")
    # The page polls the job, then reloads once it has finished: nobody touches it meanwhile.
    expect(page.locator("#batch-status")).to_have_text("Succeeded", timeout=90_000)
    expect(page.locator("#batch-counts")).to_have_text(f"{IMAGES + 1} / {IMAGES + 1}")
    expect(page.locator("#batch-failed")).to_have_text("1")
    assert page.locator("#batch-progress").evaluate("bar => bar.value") == 1
    expect(page.locator("#batch-accuracy-value")).to_have_text(re.compile(r"^(0\.\d{4}|1\.0000)$"))
    expect(page.locator("#batch-confusion tbody tr")).to_have_count(10)

    csv = page.request.get(page.locator("#batch-results-csv").get_attribute("href"))
    assert csv.status == 200
    lines = csv.text().splitlines()
    assert lines[0].startswith("index,name,prediction")
    assert len(lines) == 1 + IMAGES + 1
    assert any("digits/notes.txt" in line and "not an image" in line for line in lines)
