"""The recognise page's number mode in a real browser: a wide canvas, /api/read, a box per digit."""

import pytest
from playwright.sync_api import expect

from recognizer.models import Prediction
from tests.browser.pages import RESULT_TIMEOUT_MS, draw_number_with_mouse, image_loaded, is_read_response
from tests.images import mnist_sample

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NUMBER = [1, 3, 27]  # a 2, a 0, an 8: MNIST test digits drawn with the mouse


def test_a_three_digit_number_drawn_on_the_wide_canvas_is_read_with_a_box_per_digit(page):
    images, labels = mnist_sample()
    page.goto("/")
    square = page.locator("#canvas").bounding_box()
    page.locator("#mode-number").check()
    expect(page.locator("#draw-heading")).to_have_text("Draw a number")
    wide = page.locator("#canvas").bounding_box()
    assert wide["width"] > 2 * wide["height"] and wide["width"] > square["width"]
    draw_number_with_mouse(page, [images[i] for i in NUMBER])
    with page.expect_response(is_read_response, timeout=RESULT_TIMEOUT_MS) as answer:
        page.locator("#recognise").click()
    body = answer.value.json()
    expected = "".join(str(labels[i]) for i in NUMBER)
    expect(page.locator("#number-result")).to_be_visible()
    expect(page.locator("#result")).to_be_hidden()
    expect(page.locator("#number-text")).to_have_text(expected)
    image_loaded(page, "#number-image")
    boxes = page.locator("#number-overlay .number-box")
    expect(boxes).to_have_count(3)
    expect(boxes.locator(".number-box-digit")).to_have_text(list(expected))
    # Each box sits over the image, left to right, where the API put it.
    image = page.locator("#number-image").bounding_box()
    lefts = []
    for k in range(3):
        box = boxes.nth(k).bounding_box()
        assert image["x"] - 1 <= box["x"] and box["x"] + box["width"] <= image["x"] + image["width"] + 1
        lefts.append(box["x"])
    assert lefts == sorted(lefts)
    stored = Prediction.objects.get(pk=body["id"])
    assert stored.kind == "number" and stored.source == "canvas" and stored.text == expected
