"""A staff member works through the review queue at /review: with the keyboard on a desktop
(digits, N, S, U) and with the buttons on a phone."""

import pytest
from playwright.sync_api import Page, expect

from recognizer.models import NOT_A_DIGIT, Prediction
from tests.factories import PredictionFactory

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PASSWORD = "correct horse battery"


@pytest.fixture
def reviewer(django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # a fast login; not what is tested
    return django_user_model.objects.create_user("reviewer", password=PASSWORD, is_staff=True)


def queue_rows() -> list[Prediction]:
    """Four unlabelled predictions, in the queue's order: a rejection, then ever larger margins."""
    return [
        PredictionFactory(prediction=None, no_digit_prob=0.9),
        PredictionFactory(probs=[0.5, 0.45] + [0.00625] * 8),
        PredictionFactory(probs=[0.7, 0.2] + [0.0125] * 8),
        PredictionFactory(probs=[0.95, 0.01] + [0.005] * 8),
    ]


def log_in_to_review(page: Page) -> None:
    page.goto("/review")  # anonymous: the login page first, then back here
    page.fill("#id_username", "reviewer")
    page.fill("#id_password", PASSWORD)
    page.click("#login-submit")
    expect(page.locator("h1")).to_have_text("Review predictions")


def expect_showing(page: Page, row: Prediction, left: int) -> None:
    expect(page.locator("#review-item")).to_have_attribute("data-id", str(row.pk))
    expect(page.locator("#review-remaining")).to_have_attribute("data-remaining", str(left))


def test_staff_reviews_the_queue_with_the_keyboard(page, reviewer):
    a, b, c, d = queue_rows()
    log_in_to_review(page)
    expect_showing(page, a, 4)
    expect(page.locator("#review-remaining")).to_have_text("4 predictions left to review")
    expect(page.locator("#review-answer")).to_have_text("rejected")
    expect(page.locator("#review-chart .prob-row")).to_have_count(10)
    page.wait_for_function("() => document.getElementById('review-input').naturalWidth === 140")

    page.keyboard.press("7")
    expect_showing(page, b, 3)
    page.keyboard.press("n")
    expect_showing(page, c, 2)
    page.keyboard.press("s")  # skipped: it comes back at the end
    expect_showing(page, d, 2)
    expect(page.locator("#review-skipped")).to_contain_text("1 skipped")
    page.keyboard.press("u")  # the skip undone
    expect_showing(page, c, 2)
    page.keyboard.press("s")
    expect_showing(page, d, 2)
    page.keyboard.press("3")
    expect_showing(page, c, 1)  # the queue is done: the skipped one again
    page.keyboard.press("u")  # the 3 undone: d is unlabelled and shown again
    expect_showing(page, d, 2)
    d.refresh_from_db()
    assert (d.true_label, d.label_source) == (None, "")
    page.keyboard.press("4")
    expect_showing(page, c, 1)
    page.keyboard.press("1")
    expect(page.locator("#review-done")).to_be_visible()
    expect(page.locator("#review-remaining")).to_have_text("0 predictions left to review")

    labels = {p.pk: (p.true_label, p.label_source, p.reviewed_by_id) for p in Prediction.objects.all()}
    assert labels == {
        a.pk: (7, "review", reviewer.pk),
        b.pk: (NOT_A_DIGIT, "review", reviewer.pk),
        c.pk: (1, "review", reviewer.pk),
        d.pk: (4, "review", reviewer.pk),
    }


def test_staff_reviews_with_the_buttons_on_a_phone(phone_page, reviewer):
    page = phone_page
    a, b, *_ = queue_rows()
    log_in_to_review(page)
    expect_showing(page, a, 4)
    keys = page.locator("#key-9")
    assert keys.bounding_box()["x"] + keys.bounding_box()["width"] <= 390  # every key fits the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("#key-none").tap()
    expect_showing(page, b, 3)
    page.locator("#key-2").tap()
    expect(page.locator("#review-remaining")).to_have_attribute("data-remaining", "2")
    page.locator("#key-undo").tap()
    expect_showing(page, b, 3)
    assert Prediction.objects.get(pk=a.pk).true_label == NOT_A_DIGIT
    assert Prediction.objects.get(pk=b.pk).true_label is None
