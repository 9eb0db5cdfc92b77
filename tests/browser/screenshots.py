"""Screenshots of the pages for the README, taken from a realistic state against a running server.

    .venv/bin/python tests/browser/screenshots.py --url http://127.0.0.1:8000 \\
        --username admin --password '...'          # a staff user (manage.py createsuperuser)

It recognises a few real MNIST test digits (uploaded and drawn), a blank page (rejected), a
sideways photo of a 4 and a 4 drawn over a 9 (a close call), reviews some in the admin and one
in the review queue, and writes PNGs to docs/screenshots/: index.png, recognised.png,
history.png, models.png, admin-review.png and review.png (1280 wide, at most 1200 tall).
Without a staff user the admin and review screenshots are left out. `--only review.png` writes
only the files named (the same steps run).
"""

import argparse
import io
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from tests.browser.pages import (  # noqa: E402
    admin_login,
    admin_run_action,
    admin_set_true_label,
    draw_with_mouse,
    expect_result,
    is_predict_response,
    launch,
    recognise_drawing,
)
from tests.images import blank_png, encode, mnist_sample, render  # noqa: E402

WIDTH, MAX_HEIGHT, MAX_BYTES = 1280, 1200, 300_000
UPLOADS = [(0, "paper"), (17, "paper"), (4, "transparent"), (11, "dark")]  # a 7, a 3, a 4, a 6
DRAWN = 27  # an 8
CLOSE_CALL = (4, 7)  # a 4 and a 9 drawn over each other: a close call for the review queue
ONLY: set[str] = set()  # --only: the files to write (empty: all)


def save(page: Page, path: Path) -> None:
    """A screenshot of the top of the page, at most MAX_HEIGHT tall, made smaller if it is heavy."""
    if ONLY and path.name not in ONLY:
        return
    height = min(MAX_HEIGHT, page.evaluate("document.documentElement.scrollHeight"))
    clip = {"x": 0, "y": 0, "width": WIDTH, "height": height}
    png = page.screenshot(full_page=True, clip=clip, animations="disabled")
    image = Image.open(io.BytesIO(png)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    if buffer.tell() > MAX_BYTES:
        buffer = io.BytesIO()
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(buffer, format="PNG", optimize=True)
    path.write_bytes(buffer.getvalue())
    print(f"{path} {image.width}x{image.height} {buffer.tell() // 1024} KB")


def upload(page: Page, name: str, data: bytes) -> int:
    """Choose a file on the recognise page; the id of the stored prediction."""
    with page.expect_response(is_predict_response) as answer:
        page.set_input_files("#file-input", files=[{"name": name, "mimeType": "image/png", "buffer": data}])
    return answer.value.json()["id"]


def show_all_images(page: Page) -> None:
    """Lazy images load only near the viewport: bring each into view, then go back to the top."""
    for image in page.locator("img").all():
        image.scroll_into_view_if_needed()
    page.wait_for_function("() => [...document.images].every((i) => i.complete)")
    page.evaluate("window.scrollTo(0, 0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the running server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="folder for the PNG files")
    parser.add_argument("--username", default=os.environ.get("SCREENSHOT_USERNAME"), help="a staff user")
    parser.add_argument("--password", default=os.environ.get("SCREENSHOT_PASSWORD"), help="its password")
    parser.add_argument("--only", default="", help="comma-separated file names to write (default: all)")
    args = parser.parse_args()
    ONLY.update(name for name in args.only.split(",") if name)
    base = args.url.rstrip("/")
    args.out.mkdir(parents=True, exist_ok=True)
    images, labels = mnist_sample()

    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(base_url=base, viewport={"width": WIDTH, "height": 900})
        page = context.new_page()

        page.goto("/")
        save(page, args.out / "index.png")

        ids = {}
        for index, style in UPLOADS:
            name = f"digit-{int(labels[index])}-{style}.png"
            ids[index] = upload(page, name, encode(render(images[index], style=style)))
        sideways = encode(render(images[4], style="paper").rotate(90, fillcolor=255))
        sideways_id = upload(page, "photo-sideways.png", sideways)
        upload(page, "blank-page.png", blank_png())
        close_call = np.maximum(images[CLOSE_CALL[0]], images[CLOSE_CALL[1]])
        upload(page, "four-or-nine.png", encode(render(close_call, style="paper")))

        page.goto("/")
        draw_with_mouse(page, images[DRAWN])
        recognise_drawing(page)
        expect_result(page, int(labels[DRAWN]))
        page.mouse.move(0, 0)
        save(page, args.out / "recognised.png")

        page.goto("/history")
        show_all_images(page)
        save(page, args.out / "history.png")

        page.goto("/models")
        show_all_images(page)
        save(page, args.out / "models.png")

        if args.username and args.password:
            admin = browser.new_context(base_url=base, viewport={"width": WIDTH, "height": 900})
            page = admin.new_page()
            admin_login(page, base, args.username, args.password)
            page.goto("/admin/recognizer/prediction/")
            admin_run_action(page, [ids[i] for i, _ in UPLOADS[:3]], "mark_correct")
            expect(page.locator("ul.messagelist")).to_contain_text("as correct")
            admin_set_true_label(page, [sideways_id], 4)
            page.goto("/admin/recognizer/prediction/")
            page.click("#toggle-nav-sidebar")  # more room for the list
            show_all_images(page)
            save(page, args.out / "admin-review.png")

            page.goto("/review")
            expect(page.locator("#review-answer")).to_have_text("rejected")  # the blank page comes first
            page.keyboard.press("n")
            expect(page.locator("#review-last")).to_contain_text("labelled not a digit")
            page.wait_for_function("() => [...document.images].every((i) => i.hidden || i.complete)")
            save(page, args.out / "review.png")
        else:
            print("no --username/--password: the admin and review screenshots are left out")
        browser.close()


if __name__ == "__main__":
    main()
