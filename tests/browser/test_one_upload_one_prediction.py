"""One upload is one prediction on the recognise page: choosing (or dropping) a file recognises it
at once, and "Recognise file" afterwards shows that answer without storing the file a second time."""

import pytest
from playwright.sync_api import expect

from recognizer.models import Prediction
from tests.browser.conftest import open_page
from tests.browser.pages import RESULT_TIMEOUT_MS, choose_file, drop_file, expect_result, is_predict_response
from tests.images import digit_png

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def predict_requests(page) -> list[str]:
    """Every POST to /api/predict the page sends from now on."""
    sent: list[str] = []
    page.on("request", lambda r: r.method == "POST" and r.url.endswith("/api/predict") and sent.append(r.url))
    return sent


@pytest.mark.parametrize("how", ["chooser", "drop"])
def test_a_file_then_the_button_is_one_stored_prediction(page, how):
    data, label = digit_png(4)
    page.goto("/")
    sent = predict_requests(page)
    (choose_file if how == "chooser" else drop_file)(page, "four.png", data)
    expect_result(page, label)
    page.click("#upload-submit")
    # The button answers at once from the stored prediction: the status says so, the result stays.
    expect(page.locator("#status")).to_contain_text("Already recognised four.png")
    expect_result(page, label)
    assert len(sent) == 1, sent
    stored = Prediction.objects.get()
    assert (stored.prediction, stored.source, stored.original_name) == (label, "upload", "four.png")


def test_another_file_is_another_prediction(page):
    first, first_label = digit_png(4)
    second, second_label = digit_png(1)
    page.goto("/")
    choose_file(page, "first.png", first)
    expect_result(page, first_label)
    page.click("#upload-submit")
    expect(page.locator("#status")).to_contain_text("Already recognised first.png")
    choose_file(page, "second.png", second)
    expect_result(page, second_label)
    names = list(Prediction.objects.order_by("pk").values_list("original_name", flat=True))
    assert names == ["first.png", "second.png"]


def test_a_file_that_was_not_stored_is_sent_again_by_the_button(page):
    page.goto("/")
    choose_file(page, "notes.png", b"shopping list: eggs, milk\n")
    expect(page.locator("#error")).to_contain_text("not an image we can read")
    with page.expect_response(is_predict_response, timeout=RESULT_TIMEOUT_MS):
        page.click("#upload-submit")
    expect(page.locator("#error")).to_contain_text("not an image we can read")
    assert Prediction.objects.count() == 0


def test_without_javascript_the_button_posts_the_file_once(
    request, browser, browser_artifacts, live_server, served_default_model
):
    page = open_page(request, browser, browser_artifacts, live_server, java_script_enabled=False)
    data, label = digit_png(4)
    page.goto("/")
    page.set_input_files("#file-input", files=[{"name": "four.png", "mimeType": "image/png", "buffer": data}])
    assert Prediction.objects.count() == 0  # choosing alone sends nothing without JavaScript
    with page.expect_navigation(timeout=RESULT_TIMEOUT_MS):
        page.click("#upload-submit")
    expect(page.locator("#result-digit")).to_have_text(str(label))
    assert Prediction.objects.filter(original_name="four.png").count() == 1
