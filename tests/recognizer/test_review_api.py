"""The review API: POST/DELETE /api/predictions/<id>/review, GET /api/review/queue,
GET /api/predictions?reviewed=true, and the /review page's access rules."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from recognizer.models import NOT_A_DIGIT, LabelSource
from tests.factories import ModelVersionFactory, PredictionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("reviewer", password="pw-reviewer-1", is_staff=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def review(client, pk, body, **extra):
    return client.post(f"/api/predictions/{pk}/review", body, content_type="application/json", **extra)


@pytest.mark.parametrize(
    ("label", "stored", "answered"),
    [(0, 0, 0), (7, 7, 7), (9, 9, 9), ("none", NOT_A_DIGIT, "none"), ("NONE", NOT_A_DIGIT, "none"), ("4", 4, 4)],
)
def test_staff_review_stores_the_label_who_and_when(staff_client, staff, label, stored, answered):
    row = PredictionFactory()
    response = review(staff_client, row.pk, {"label": label})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["true_label"], body["label_source"], body["reviewed_by"]) == (
        row.pk,
        answered,
        "review",
        "reviewer",
    )
    assert body["reviewed_at"] is not None
    row.refresh_from_db()
    assert (row.true_label, row.label_source, row.reviewed_by) == (stored, LabelSource.REVIEW, staff)


@pytest.mark.parametrize(
    "body",
    [{"label": 10}, {"label": -1}, {"label": 1.5}, {"label": True}, {"label": "seven"}, {"label": "12"},
     {"label": None}, {"label": [3]}, {}, {"digit": 3}],
)  # fmt: skip
def test_a_label_that_is_not_a_digit_or_none_is_a_400_and_changes_nothing(staff_client, body):
    row = PredictionFactory()
    response = review(staff_client, row.pk, body)
    assert response.status_code == 400
    answer = response.json()
    assert set(answer) == {"error", "detail"} and "label" in answer["detail"]
    row.refresh_from_db()
    assert (row.true_label, row.label_source, row.reviewed_at) == (None, "", None)


def test_a_body_that_is_not_json_is_a_400(staff_client):
    row = PredictionFactory()
    response = staff_client.post(f"/api/predictions/{row.pk}/review", "{label:", content_type="application/json")
    assert response.status_code == 400 and "error" in response.json()


def test_reviewing_again_replaces_the_label(staff_client):
    row = PredictionFactory()
    review(staff_client, row.pk, {"label": 3})
    assert review(staff_client, row.pk, {"label": "none"}).json()["true_label"] == "none"
    row.refresh_from_db()
    assert (row.true_label, row.label_source) == (NOT_A_DIGIT, "review")


def test_a_review_replaces_a_batch_label(staff_client):
    row = PredictionFactory(source="batch", true_label=1, label_source=LabelSource.BATCH)
    review(staff_client, row.pk, {"label": 7})
    row.refresh_from_db()
    assert (row.true_label, row.label_source) == (7, "review")


def test_undo_takes_the_review_back_and_the_row_returns_to_the_queue(staff_client):
    row = PredictionFactory()
    review(staff_client, row.pk, {"label": 5})
    assert staff_client.get("/api/review/queue").json()["remaining"] == 0
    response = staff_client.delete(f"/api/predictions/{row.pk}/review")
    assert response.status_code == 200
    body = response.json()
    assert (body["true_label"], body["label_source"], body["reviewed_by"], body["reviewed_at"]) == (
        None,
        None,
        None,
        None,
    )
    row.refresh_from_db()
    assert (row.true_label, row.label_source, row.reviewed_by) == (None, "", None)
    assert [item["id"] for item in staff_client.get("/api/review/queue").json()["results"]] == [row.pk]


def test_undo_leaves_a_batch_label_alone(staff_client):
    row = PredictionFactory(source="batch", true_label=1, label_source=LabelSource.BATCH)
    assert staff_client.delete(f"/api/predictions/{row.pk}/review").json()["true_label"] == 1
    row.refresh_from_db()
    assert (row.true_label, row.label_source) == (1, "batch")


@pytest.mark.parametrize("method", ["post", "delete"])
def test_an_unknown_prediction_is_a_json_404(staff_client, method):
    response = getattr(staff_client, method)("/api/predictions/999999/review", {"label": 3}, "application/json")
    assert response.status_code == 404
    assert set(response.json()) == {"error", "detail"}


@pytest.mark.parametrize("method", ["post", "delete"])
def test_users_who_are_not_staff_get_403_and_change_nothing(client, django_user_model, method):
    row = PredictionFactory()
    assert (
        getattr(client, method)(f"/api/predictions/{row.pk}/review", {"label": 3}, "application/json").status_code
        == 403
    )
    user = django_user_model.objects.create_user("visitor", password="pw-visitor-1")
    row.owner = user
    row.save()
    client.force_login(user)  # even the prediction's owner
    response = getattr(client, method)(f"/api/predictions/{row.pk}/review", {"label": 3}, "application/json")
    assert response.status_code == 403 and set(response.json()) == {"error", "detail"}
    assert client.get("/api/review/queue").status_code == 403
    row.refresh_from_db()
    assert row.true_label is None


def test_a_staff_token_reviews_without_a_session_or_csrf(client, staff):
    row = PredictionFactory()
    token = Token.objects.create(user=staff).key
    response = review(client, row.pk, {"label": 2}, HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200 and response.json()["true_label"] == 2


def test_a_session_review_needs_the_csrf_token(staff):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)
    row = PredictionFactory()
    assert review(browser, row.pk, {"label": 2}).status_code == 403
    browser.get("/review")  # the page sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    assert review(browser, row.pk, {"label": 2}, HTTP_X_CSRFTOKEN=token).status_code == 200


def test_reviewed_filter_lists_human_reviews_only(staff_client):
    reviewed = PredictionFactory()
    PredictionFactory(source="batch", true_label=4, label_source=LabelSource.BATCH)
    unlabelled = PredictionFactory()
    review(staff_client, reviewed.pk, {"label": "none"})
    listed = staff_client.get("/api/predictions", {"reviewed": "true"}).json()
    assert [row["id"] for row in listed["results"]] == [reviewed.pk]
    assert listed["results"][0]["true_label"] == "none"
    not_reviewed = staff_client.get("/api/predictions", {"reviewed": "false"}).json()
    assert reviewed.pk not in {row["id"] for row in not_reviewed["results"]}
    assert unlabelled.pk in {row["id"] for row in not_reviewed["results"]}


def test_the_reviewed_list_costs_the_same_queries_for_one_row_or_many(staff_client, staff):
    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert staff_client.get("/api/predictions", {"reviewed": "true"}).status_code == 200
        return len(queries)

    version = ModelVersionFactory()
    PredictionFactory(model_version=version, true_label=1, label_source="review", reviewed_by=staff)
    one = queries_for_list()
    for n in range(12):
        other = ModelVersionFactory()
        PredictionFactory(model_version=other, true_label=n % 10, label_source="review", reviewed_by=staff)
    assert queries_for_list() == one
    assert one <= 4  # session, user, count, page (model version and reviewer joined)


def test_queue_answers_the_most_uncertain_first_and_counts_what_is_left(staff_client):
    clear = PredictionFactory(probs=[0.99] + [0.001] * 9)
    close = PredictionFactory(probs=[0.5, 0.49] + [0.00125] * 8)
    rejected = PredictionFactory(prediction=None)
    PredictionFactory(true_label=3, label_source="review")
    body = staff_client.get("/api/review/queue", {"limit": 2}).json()
    assert body["remaining"] == 3
    assert [item["id"] for item in body["results"]] == [rejected.pk, close.pk]
    skipped = staff_client.get("/api/review/queue", {"exclude": f"{rejected.pk},{close.pk}"}).json()
    assert skipped["remaining"] == 3 and [item["id"] for item in skipped["results"]] == [clear.pk]


def test_queue_filters(staff_client):
    version = ModelVersionFactory(version="v-canvas")
    canvas = PredictionFactory(source="canvas", model_version=version)
    PredictionFactory(source="upload")
    body = staff_client.get("/api/review/queue", {"source": "canvas", "model_version": "v-canvas"}).json()
    assert body["remaining"] == 1 and [item["id"] for item in body["results"]] == [canvas.pk]
    future = staff_client.get("/api/review/queue", {"created_after": "2999-01-01T00:00:00Z"}).json()
    assert future == {"remaining": 0, "remaining_exact": True, "results": []}


def test_queue_counts_up_to_its_cap(staff_client, monkeypatch):
    from recognizer import api_review

    monkeypatch.setattr(api_review, "REMAINING_MAX", 3)
    PredictionFactory.create_batch(5)
    body = staff_client.get("/api/review/queue", {"limit": 1}).json()
    assert (body["remaining"], body["remaining_exact"], len(body["results"])) == (3, False, 1)


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 51}, {"limit": "x"}, {"source": "fax"}, {"exclude": "1,a"},
     {"exclude": ",".join(["1"] * 1001)}, {"created_after": "yesterday"},
     {"created_after": "0001-01-01T00:00:00+15:00"}],
)  # fmt: skip
def test_queue_refuses_bad_parameters_with_a_400(staff_client, query):
    response = staff_client.get("/api/review/queue", query)
    assert response.status_code == 400 and set(response.json()) == {"error", "detail"}


def test_schema_documents_the_review_operations(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operations = schema["paths"]["/api/predictions/{id}/review"]
    assert set(operations) >= {"post", "delete"}
    assert {"200", "400", "403", "404"} <= set(operations["post"]["responses"])
    assert "/api/review/queue" in schema["paths"]
    output = schema["components"]["schemas"]["PredictionOutput"]["properties"]
    assert {"true_label", "label_source", "reviewed_by", "reviewed_at"} <= set(output)


def test_review_page_asks_anonymous_visitors_to_log_in(client):
    response = client.get("/review")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_review_page_refuses_users_who_are_not_staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("visitor", password="pw-visitor-1"))
    assert client.get("/review").status_code == 403


def test_review_page_for_staff_offers_the_filters_and_the_keys(staff_client):
    ModelVersionFactory(version="2026-v7")
    html = staff_client.get("/review").content.decode()
    assert 'id="review-filters"' in html and '<option value="2026-v7"' in html
    assert all(f'id="key-{key}"' in html for key in [*"0123456789", "none", "skip", "undo"])
    assert "js/review.js" in html
    assert 'id="nav-review"' in html


def test_review_page_is_not_in_the_navigation_of_others(client):
    assert 'id="nav-review"' not in client.get("/").content.decode()


def test_history_shows_a_confirmed_rejection_as_not_a_digit_and_right(staff_client):
    PredictionFactory(prediction=None, reason="not a digit", true_label=NOT_A_DIGIT, label_source="review")
    html = staff_client.get("/history").content.decode()
    assert "true label not a digit ✓" in html


def test_a_number_prediction_is_not_reviewed_with_a_digit_label(staff_client):
    number = PredictionFactory(kind="number", text="42", prediction=None, rejected=False, uncertainty=None)
    response = review(staff_client, number.pk, {"label": 4})
    assert response.status_code == 400 and "number" in response.json()["error"]
    number.refresh_from_db()
    assert (number.true_label, number.label_source) == (None, "")
