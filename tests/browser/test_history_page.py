"""The history page lists the predictions made in this browser session, newest first."""

import pytest
from playwright.sync_api import expect

from tests.browser.pages import choose_file, drop_file, expect_result, image_loaded
from tests.images import blank_png, digit_png

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_history_shows_the_predictions_of_this_session(page, browser, live_server):
    seven, seven_label = digit_png(0)
    three, three_label = digit_png(17)
    page.goto("/")
    choose_file(page, "seven.png", seven)
    expect_result(page, seven_label)
    drop_file(page, "three.png", three)
    expect_result(page, three_label)
    choose_file(page, "blank.png", blank_png())
    expect(page.locator("#result-digit")).to_have_text("?")
    expect(page.locator("#result-reason")).to_contain_text("Rejected: ")

    page.click("#nav-history")
    expect(page).to_have_url(f"{live_server.url}/history")
    items = page.get_by_test_id("history-item")
    expect(items).to_have_count(3)
    expect(page.locator("#history-count")).to_have_text("3 predictions")
    # Newest first: the blank page (rejected), then the three, then the seven.
    expect(items.nth(0).locator(".answer")).to_contain_text("rejected")
    expect(items.nth(1).locator(".answer")).to_have_text(f"Digit {three_label}")
    expect(items.nth(2).locator(".answer")).to_have_text(f"Digit {seven_label}")
    expect(items.nth(2)).to_contain_text("seven.png")
    image_loaded(page, "#history-list img")

    # Another visitor's browser does not see them.
    stranger = browser.new_context(base_url=live_server.url)
    try:
        other = stranger.new_page()
        other.goto("/history")
        expect(other.locator("#history-empty")).to_be_visible()
        expect(other.get_by_test_id("history-item")).to_have_count(0)
    finally:
        stranger.close()
