"""Numbers on the pages and in the admin: the page's number mode without JavaScript, the
history, and the admin review that sets a true number."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from recognizer.models import Kind, LabelSource, Prediction
from recognizer.services import InvalidNumberText, prediction_create, prediction_review_number
from tests.images import encode, mnist_number, mnist_sample

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/recognizer/prediction/"
INDEXES = [0, 1, 2]


def number_png() -> tuple[bytes, str]:
    _, labels = mnist_sample()
    return encode(mnist_number(INDEXES)), "".join(str(labels[i]) for i in INDEXES)


@pytest.fixture
def number(served_default_model) -> Prediction:
    data, _ = number_png()
    return prediction_create(data=data, filename="n.png", source="upload", kind=Kind.NUMBER)


def test_the_page_reads_a_number_without_javascript_and_draws_its_boxes(client, served_default_model):
    data, label = number_png()
    response = client.post("/", {"file": SimpleUploadedFile("n.png", data), "mode": "number"})
    assert response.status_code == 200
    stored = Prediction.objects.get()
    assert stored.kind == "number" and stored.text == label
    html = response.content.decode()
    assert f'data-testid="number-text">{label}</p>' in html
    assert html.count('<div class="number-box') == len(label)
    assert 'id="mode-number" checked' in html


def test_the_page_opens_in_number_mode_from_the_address(client):
    html = client.get("/?mode=number").content.decode()
    assert 'id="mode-number" checked' in html and "is-number" in html
    assert 'id="mode-digit" checked' in client.get("/?mode=anything").content.decode()


def test_history_shows_the_number_and_its_digits(admin_client, number):
    html = admin_client.get("/history").content.decode()
    assert f'<span class="visually-hidden">Number </span>{number.text}</p>' in html
    assert "Least sure" in html


def test_admin_lists_numbers_and_filters_them_by_kind(admin_client, number):
    response = admin_client.get(f"{CHANGELIST}?kind__exact=number")
    assert response.status_code == 200
    assert {p.pk for p in response.context["cl"].result_list} == {number.pk}
    html = admin_client.get(f"{CHANGELIST}{number.pk}/change/").content.decode()
    assert 'id="number-digits"' in html and 'name="true_text"' in html
    assert 'name="true_label"' not in html


def test_admin_review_sets_the_true_number(admin_client, admin_user, number):
    response = admin_client.post(f"{CHANGELIST}{number.pk}/change/", {"true_text": "1234", "_save": "Save"})
    assert response.status_code == 302
    number.refresh_from_db()
    assert number.true_text == "1234" and number.reviewed_by == admin_user
    assert number.label_source == LabelSource.REVIEW and number.correct is (number.text == "1234")


def test_admin_refuses_a_true_number_that_is_not_digits(admin_client, number):
    response = admin_client.post(f"{CHANGELIST}{number.pk}/change/", {"true_text": "12a4", "_save": "Save"})
    assert response.status_code == 200
    assert "0-9 only" in response.content.decode()
    number.refresh_from_db()
    assert number.true_text == "" and number.reviewed_at is None


def test_mark_correct_confirms_a_number_read(admin_client, number):
    response = admin_client.post(CHANGELIST, {"action": "mark_correct", "_selected_action": [number.pk]}, follow=True)
    assert response.status_code == 200
    number.refresh_from_db()
    assert number.true_text == number.text and number.correct is True


@pytest.mark.parametrize("text", ["12.5", "٣", "x", "1" * 65])
def test_the_review_service_refuses_what_is_not_a_number(number, admin_user, text):
    with pytest.raises(InvalidNumberText):
        prediction_review_number(prediction=number, true_text=text, reviewer=admin_user)
