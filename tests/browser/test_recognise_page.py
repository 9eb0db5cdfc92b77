"""The recognise page in a real browser: drawing with a mouse and a finger, the file chooser, drag and drop."""

import pytest
from playwright.sync_api import expect

from tests.browser.pages import (
    PHONE,
    choose_file,
    draw_with_mouse,
    draw_with_touch,
    drop_file,
    expect_result,
    recognise_drawing,
)
from tests.images import digit_png, mnist_sample

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Indices into tests/images.py mnist_sample(): real MNIST test digits.
MOUSE_DIGITS = [1, 3, 27]  # a 2, a 0, an 8
TOUCH_DIGITS = [7, 15]  # a 9, a 5


def test_digits_drawn_with_the_mouse_are_recognised(page):
    images, labels = mnist_sample()
    page.goto("/")
    for index in MOUSE_DIGITS:
        page.locator("#clear").click()
        draw_with_mouse(page, images[index])
        recognise_drawing(page)
        expect_result(page, int(labels[index]))


def test_digits_drawn_with_a_finger_on_a_phone_are_recognised(phone_page):
    page = phone_page
    images, labels = mnist_sample()
    page.goto("/")
    page.evaluate(
        """() => {
            window.pointerTypes = [];
            const canvas = document.getElementById("canvas");
            canvas.addEventListener("pointerdown", (e) => window.pointerTypes.push(e.pointerType));
        }"""
    )
    # The page fits the phone's width: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]
    cdp = page.context.new_cdp_session(page)
    for index in TOUCH_DIGITS:
        page.locator("#clear").tap()
        draw_with_touch(page, cdp, images[index])
        recognise_drawing(page, tap=True)
        expect_result(page, int(labels[index]))
    assert set(page.evaluate("window.pointerTypes")) == {"touch"}


def test_file_chosen_in_the_file_chooser_is_recognised(page):
    data, label = digit_png(4)
    page.goto("/")
    choose_file(page, "four.png", data)
    expect_result(page, label)
    page.locator("#file-name").get_by_text("Selected: four.png").wait_for()


def test_file_dropped_on_the_drop_zone_is_recognised(page):
    data, label = digit_png(11, style="dark")
    page.goto("/")
    drop_file(page, "six.png", data)
    expect_result(page, label)
    page.locator("#file-name").get_by_text("Dropped: six.png").wait_for()


@pytest.mark.parametrize("how", ["chooser", "drop"])
def test_file_that_is_not_an_image_gets_a_readable_error(page, how):
    page.goto("/")
    upload = choose_file if how == "chooser" else drop_file
    upload(page, "notes.png", b"shopping list: eggs, milk\n")
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("not an image we can read")
    expect(page.locator("#result")).to_be_hidden()
