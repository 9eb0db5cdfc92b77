"""What a person does on the pages, as Playwright steps: shared by the browser tests and screenshots.py."""

import base64
import os
import re

import numpy as np
from playwright.sync_api import Browser, CDPSession, Page, Playwright, expect

from tests.browser.strokes import digit_strokes, scale_strokes

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")  # Debian's Chromium, never a downloaded one
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True, "device_scale_factor": 2}
RESULT_TIMEOUT_MS = 15_000


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)


def canvas_strokes(page: Page, digit: np.ndarray) -> list[list[tuple[float, float]]]:
    """The digit's strokes in viewport coordinates over the drawing canvas (scrolled into view)."""
    canvas = page.locator("#canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None, "the canvas is not visible"
    return scale_strokes(digit_strokes(digit), left=box["x"], top=box["y"], width=box["width"], height=box["height"])


def draw_with_mouse(page: Page, digit: np.ndarray) -> None:
    for line in canvas_strokes(page, digit):
        page.mouse.move(*line[0])
        page.mouse.down()
        for x, y in line[1:]:
            page.mouse.move(x, y)
        page.mouse.up()


def draw_number_with_mouse(page: Page, digits: list[np.ndarray]) -> None:
    """Several digits side by side on the (wide) canvas, each in a square slot of its height."""
    canvas = page.locator("#canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None, "the canvas is not visible"
    side = box["height"]
    step = min(side * 0.8, box["width"] / max(len(digits), 1))
    start = box["x"] + (box["width"] - step * len(digits)) / 2 - (side - step) / 2
    for k, digit in enumerate(digits):
        for line in scale_strokes(digit_strokes(digit), left=start + k * step, top=box["y"], width=side, height=side):
            page.mouse.move(*line[0])
            page.mouse.down()
            for x, y in line[1:]:
                page.mouse.move(x, y)
            page.mouse.up()


def is_read_response(response) -> bool:
    return response.url.endswith("/api/read") and response.request.method == "POST"


def draw_with_touch(page: Page, cdp: CDPSession, digit: np.ndarray) -> None:
    """A finger on a touch screen: CDP touch events, which the page receives as pointer events."""
    for line in canvas_strokes(page, digit):
        x, y = line[0]
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y, "id": 1}]})
        for x, y in line[1:]:
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y, "id": 1}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def is_predict_response(response) -> bool:
    return response.url.endswith("/api/predict") and response.request.method == "POST"


def recognise_drawing(page: Page, *, tap: bool = False) -> None:
    button = page.locator("#recognise")
    with page.expect_response(is_predict_response, timeout=RESULT_TIMEOUT_MS):
        button.tap() if tap else button.click()


def expect_result(page: Page, digit: int) -> None:
    """The recognised digit, ten probability rows with the top one marked, and the 28x28 input image loaded."""
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#result")).to_be_visible(timeout=RESULT_TIMEOUT_MS)
    expect(page.locator("#result-digit")).to_have_text(str(digit), timeout=RESULT_TIMEOUT_MS)
    expect(page.locator("#result-confidence")).to_contain_text("Confidence ")
    expect(page.locator("#prob-chart .prob-row")).to_have_count(10)
    expect(page.locator(f'#prob-chart .prob-row.top[data-digit="{digit}"]')).to_have_count(1)
    image_loaded(page, "#model-input")


def image_loaded(page: Page, selector: str) -> None:
    """Wait until every image `selector` matches is shown and decoded (a broken image has naturalWidth 0).
    Each is scrolled into view first, so lazy images load."""
    images = page.locator(selector)
    expect(images.first).to_be_visible()
    for index in range(images.count()):
        image = images.nth(index)
        image.scroll_into_view_if_needed()
        page.wait_for_function(
            "(img) => !img.hidden && img.complete && img.naturalWidth > 0",
            arg=image.element_handle(),
            timeout=RESULT_TIMEOUT_MS,
        )


def choose_file(page: Page, name: str, data: bytes, mime: str = "image/png") -> None:
    """Pick a file in the file chooser: choosing a file recognises it at once."""
    with page.expect_response(is_predict_response, timeout=RESULT_TIMEOUT_MS):
        page.set_input_files("#file-input", files=[{"name": name, "mimeType": mime, "buffer": data}])


def drop_file(page: Page, name: str, data: bytes, mime: str = "image/png") -> None:
    """Drag a file from the desktop onto the drop zone: dragenter, dragover and drop with a real File."""
    transfer = page.evaluate_handle(
        """([name, mime, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: mime }));
            return transfer;
        }""",
        [name, mime, base64.b64encode(data).decode("ascii")],
    )
    zone = page.locator("#drop-zone")
    zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    zone.dispatch_event("dragover", {"dataTransfer": transfer})
    expect(zone).to_have_class("drop-zone is-dragover")
    with page.expect_response(is_predict_response, timeout=RESULT_TIMEOUT_MS):
        zone.dispatch_event("drop", {"dataTransfer": transfer})
    transfer.dispose()


def admin_login(page: Page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(username)


def admin_filter_digit(page: Page, digit: int) -> None:
    """Click the digit in the "By predicted digit" filter of the prediction list."""
    panel = page.locator("#changelist-filter details", has_text="By predicted digit")
    panel.get_by_role("link", name=str(digit), exact=True).click()
    expect(page).to_have_url(re.compile(rf"[?&]digit={digit}(&|$)"))


def admin_run_action(page: Page, pks: list[int], action: str) -> None:
    for pk in pks:
        page.check(f'#result_list input.action-select[value="{pk}"]')
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def admin_set_true_label(page: Page, pks: list[int], label: int) -> None:
    admin_run_action(page, pks, "set_true_label")
    expect(page.locator("h1")).to_have_text("Set the true label")
    page.check(f'#set-true-label-form input[name=true_label][value="{label}"]')
    page.click('#set-true-label-form input[type=submit][value="Set true label"]')
    expect(page.locator("ul.messagelist")).to_contain_text(f"Set the true label {label}")
