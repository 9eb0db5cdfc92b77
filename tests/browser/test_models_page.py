"""The models page shows the active version and its test-set reports."""

import pytest
from playwright.sync_api import expect

from tests.browser.pages import image_loaded

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_models_page_shows_the_active_version_and_its_reports(page, served_default_model):
    page.goto("/")
    page.click("#nav-models")
    active = page.get_by_test_id("active-version")
    expect(page.locator("#active-version-name")).to_have_text(served_default_model.version)
    expect(active.locator(".badge.active")).to_be_visible()
    expect(active).to_contain_text("test accuracy")
    expect(active.locator(".plots img")).to_have_count(3)
    for title in ("Training curves", "Confusion matrix (test set)", "Misclassified test images"):
        expect(active.locator(".plots figcaption", has_text=title)).to_be_visible()
    image_loaded(page, "#active-version .plots img")
    row = page.locator(f'#versions-table tr[data-version="{served_default_model.version}"]')
    expect(row.locator(".badge.active")).to_have_text("active")
    expect(page.locator(f"#details-{served_default_model.pk}")).to_have_attribute("open", "")
