"""The browsable API at /api/predict in a real browser: its HTML form uploads a file and shows the answer."""

import json
import re

import pytest
from playwright.sync_api import expect

from recognizer.models import Prediction
from tests.browser.pages import RESULT_TIMEOUT_MS
from tests.images import digit_png

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_file_chosen_in_the_browsable_apis_form_is_recognised(page):
    data, label = digit_png(4)
    page.goto("/api/predict")
    page.get_by_role("link", name="HTML form").click()
    form = page.locator("#post-object-form form")
    upload = {"name": "four.png", "mimeType": "image/png", "buffer": data}
    form.locator("input[name=file]").set_input_files(files=[upload])
    with page.expect_navigation(timeout=RESULT_TIMEOUT_MS):
        form.get_by_role("button", name="POST").click()
    expect(page.locator(".response-info")).to_contain_text("HTTP 200 OK")
    text = page.locator(".response-info pre").inner_text()
    answer = json.loads(text[text.index("{") :])
    assert answer["prediction"] == label and answer["rejected"] is False
    stored = Prediction.objects.get()
    assert (stored.pk, stored.prediction, stored.original_name) == (answer["id"], label, "four.png")
    expect(page).to_have_url(re.compile(r"/api/predict$"))
    # The answer's image links open in this browser, which has no session that owns the prediction.
    for url in (answer["input_url"], answer["original_url"]):
        image = page.request.get(url)
        assert image.status == 200 and image.headers["content-type"] == "image/png"
