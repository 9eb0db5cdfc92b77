"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

One browser per test module, a fresh context (cookies, session) per test. Every test leaves a
full-page screenshot in $BROWSER_ARTIFACTS (default artifacts/browser/<test name>.png), and
fails if the page threw a JavaScript error.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser.pages import PHONE, launch
from tests.conftest import ROOT

expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
def browser_artifacts() -> Path:
    folder = Path(os.environ.get("BROWSER_ARTIFACTS") or ROOT / "artifacts" / "browser")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API runs an event loop in this thread, which Django's async-safety check sees.
    # The test's own ORM calls are plain synchronous code, so let Django run them; module scope ends
    # the loop (and the permission) before the tests of other folders run.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def console_error(message) -> bool:
    """A console error, except the browser's own note on a refused upload (the API's 4xx is expected)."""
    if message.type != "error":
        return False
    url = message.location.get("url", "")
    expected = url.endswith("/api/predict") or url.endswith("/favicon.ico")  # the admin declares no favicon
    return not (message.text.startswith("Failed to load resource") and expected)


def open_page(request, browser, browser_artifacts, live_server, **context_options):
    context = browser.new_context(base_url=live_server.url, **context_options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: console_error(message) and errors.append(message.text))

    def finish():
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        try:
            page.screenshot(path=browser_artifacts / f"{name}.png", full_page=True)
        finally:
            context.close()
        assert not errors, f"the page reported errors: {errors}"

    request.addfinalizer(finish)
    return page


@pytest.fixture
def page(request, browser, browser_artifacts, live_server, served_default_model):
    """A desktop-sized page on a new browser context, the shipped model active."""
    return open_page(request, browser, browser_artifacts, live_server, viewport={"width": 1280, "height": 900})


@pytest.fixture
def phone_page(request, browser, browser_artifacts, live_server, served_default_model):
    """A phone-sized touch page."""
    return open_page(request, browser, browser_artifacts, live_server, **PHONE)
