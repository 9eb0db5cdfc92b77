"""A staff user reviews predictions in the admin: filter by digit, mark correct, set a true label."""

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from recognizer.models import Prediction
from recognizer.services import prediction_create
from tests.browser.pages import admin_filter_digit, admin_login, admin_run_action, admin_set_true_label
from tests.images import digit_png

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEVENS = [0, 16, 22]  # indices of three 7s in tests/images.py mnist_sample()
ONE = 2


def test_staff_reviews_predictions_and_the_accuracy_summary_follows(page, live_server, django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # a fast login; not what is tested
    staff = django_user_model.objects.create_user("reviewer", password="correct horse battery", is_staff=True)
    review = ["view_prediction", "change_prediction"]
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="recognizer", codename__in=review))
    predictions = [
        prediction_create(data=digit_png(i)[0], filename=f"digit-{i}.png", source="upload") for i in [*SEVENS, ONE]
    ]
    assert [p.prediction for p in predictions] == [7, 7, 7, 1], "the served model misreads a test digit"
    correct, wrong = predictions[0], predictions[1]

    admin_login(page, live_server.url, "reviewer", "correct horse battery")
    page.goto("/admin/recognizer/prediction/")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator("#summary-empty")).to_be_visible()

    admin_filter_digit(page, 7)
    expect(rows).to_have_count(3)
    expect(page.locator("#accuracy-summary h2")).to_contain_text("(current filters)")

    admin_run_action(page, [correct.pk], "mark_correct")
    expect(page.locator("ul.messagelist")).to_contain_text("Marked 1 prediction as correct.")
    expect(rows).to_have_count(3)  # still filtered
    expect(page.locator("#summary-total")).to_have_text("1/1 correct (100.0%)")

    admin_set_true_label(page, [wrong.pk], 1)
    expect(rows).to_have_count(3)
    expect(page.locator("#summary-total")).to_have_text("1/2 correct (50.0%)")
    upload_label = Prediction.Source("upload").label
    expect(page.locator("#summary-by-source tbody tr td")).to_have_text([upload_label, "2", "1", "50.0%"])

    correct.refresh_from_db()
    wrong.refresh_from_db()
    assert (correct.true_label, correct.reviewed_by) == (7, staff)
    assert (wrong.true_label, wrong.reviewed_by) == (1, staff)
    assert Prediction.objects.filter(true_label__isnull=False).count() == 2
