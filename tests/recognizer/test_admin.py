"""The admin review of predictions, and the training admin."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from recognizer.models import NOT_A_DIGIT, LabelSource, Prediction
from tests.factories import ModelVersionFactory, PredictionFactory
from training.models import ModelComparison, ModelVersion, TrainingJob

CHANGELIST = "/admin/recognizer/prediction/"


@pytest.fixture
def rows(admin_user):
    """3 reviewed right, 5 reviewed wrong, 7 unreviewed, one rejected, and a 2 labelled by its batch."""
    from django.utils import timezone

    now = timezone.now()
    review = {"reviewed_at": now, "label_source": LabelSource.REVIEW}
    return {
        "right": PredictionFactory(prediction=3, true_label=3, source="canvas", **review),
        "wrong": PredictionFactory(prediction=5, true_label=6, source="upload", **review),
        "open": PredictionFactory(prediction=7),
        "rejected": PredictionFactory(prediction=None, rejected=True, reason="not a digit"),
        "batch": PredictionFactory(prediction=2, true_label=2, source="batch", label_source=LabelSource.BATCH),
    }


def listed(response) -> set[int]:
    return {p.pk for p in response.context["cl"].result_list}


@pytest.mark.django_db
def test_admin_asks_anonymous_users_to_log_in(client):
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_admin_refuses_users_who_are_not_staff(client, django_user_model):
    user = django_user_model.objects.create_user("visitor", password="pw-12345-long")
    client.force_login(user)
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?digit=3",
        "?rejected__exact=1",
        "?reviewed=yes",
        "?reviewed=no",
        "?label_source=review",
        "?label_source=batch",
        "?label_source=none",
        "?correct=yes",
        "?correct=no",
        "?correct=unreviewed",
        "?source__exact=canvas",
        "?model_version__id__exact=1",
        "?created__gte=2020-01-01",
        "?q=digit",
        "?q=1",
    ],
)
def test_changelist_with_each_filter_answers_200(admin_client, rows, query):
    assert admin_client.get(CHANGELIST + query).status_code == 200


def test_changelist_shows_both_thumbnails(admin_client, rows):
    html = admin_client.get(CHANGELIST).content.decode()
    assert f"/predictions/{rows['open'].pk}/input.png?size=56" in html


def test_digit_filter_keeps_that_digit(admin_client, rows):
    assert listed(admin_client.get(CHANGELIST + "?digit=5")) == {rows["wrong"].pk}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("yes", {"right", "batch"}), ("no", {"wrong"}), ("unreviewed", {"open", "rejected"})],
)
def test_correct_filter(admin_client, rows, value, expected):
    assert listed(admin_client.get(CHANGELIST + f"?correct={value}")) == {rows[k].pk for k in expected}


def test_search_by_id(admin_client, rows):
    assert rows["open"].pk in listed(admin_client.get(CHANGELIST + f"?q={rows['open'].pk}"))


def test_summary_shows_accuracy_by_source_and_version(admin_client, rows):
    summary = admin_client.get(CHANGELIST).context["accuracy_summary"]
    assert summary["total"] == {"reviewed": 2, "correct": 1, "accuracy": 50.0}
    by_source = {row["key"]: (row["reviewed"], row["correct"]) for row in summary["by_source"]}
    assert by_source == {"Drawing canvas": (1, 1), "Upload page": (1, 0)}


def test_summary_counts_batch_labels_apart_from_reviews(admin_client, rows):
    PredictionFactory.create_batch(3, prediction=4, true_label=4, source="batch", label_source=LabelSource.BATCH)
    response = admin_client.get(CHANGELIST)
    summary = response.context["accuracy_summary"]
    assert summary["total"]["reviewed"] == 2  # the four batch labels are not reviews
    assert summary["batch"]["total"] == {"reviewed": 4, "correct": 4, "accuracy": 100.0}
    html = response.content.decode()
    assert '<strong id="summary-total">1/2 correct' in html
    assert '<strong id="batch-summary-total">4/4 correct' in html


def test_summary_before_any_review_says_so_even_with_batch_labels(admin_client):
    PredictionFactory.create_batch(2, prediction=4, true_label=4, source="batch", label_source=LabelSource.BATCH)
    html = admin_client.get(CHANGELIST).content.decode()
    assert 'id="summary-empty"' in html and 'id="summary-total"' not in html
    assert '<strong id="batch-summary-total">2/2 correct' in html


@pytest.mark.parametrize(
    ("value", "expected"), [("review", {"right", "wrong"}), ("batch", {"batch"}), ("none", {"open", "rejected"})]
)
def test_label_source_filter(admin_client, rows, value, expected):
    assert listed(admin_client.get(CHANGELIST + f"?label_source={value}")) == {rows[k].pk for k in expected}


def test_reviewed_filter_leaves_batch_labels_out(admin_client, rows):
    assert listed(admin_client.get(CHANGELIST + "?reviewed=yes")) == {rows["right"].pk, rows["wrong"].pk}


def test_summary_follows_the_filters(admin_client, rows):
    response = admin_client.get(CHANGELIST + "?source__exact=canvas")
    assert response.context["accuracy_summary"]["total"]["accuracy"] == 100.0
    assert 'id="accuracy-summary"' in response.content.decode()


def test_mark_as_correct_reviews_the_selected_predictions(admin_client, admin_user, rows):
    selected = [rows["open"].pk, rows["rejected"].pk]
    response = admin_client.post(CHANGELIST, {"action": "mark_correct", ACTION_CHECKBOX_NAME: selected}, follow=True)
    assert response.status_code == 200
    opened = Prediction.objects.get(pk=rows["open"].pk)
    assert (opened.true_label, opened.label_source, opened.reviewed_by) == (7, "review", admin_user)
    refused = Prediction.objects.get(pk=rows["rejected"].pk)  # a correct rejection: not a digit
    assert (refused.true_label, refused.label_source, refused.reviewed_by) == (NOT_A_DIGIT, "review", admin_user)
    assert response.context["accuracy_summary"]["total"] == {"reviewed": 4, "correct": 3, "accuracy": 75.0}


def test_mark_as_correct_leaves_unreadable_batch_items_alone(admin_client, rows):
    unreadable = PredictionFactory(prediction=None, rejected=False, error="not an image", model_input=None)
    admin_client.post(CHANGELIST, {"action": "mark_correct", ACTION_CHECKBOX_NAME: [unreadable.pk]}, follow=True)
    assert Prediction.objects.get(pk=unreadable.pk).true_label is None


def test_set_true_label_asks_for_the_digit_first(admin_client, rows):
    response = admin_client.post(CHANGELIST, {"action": "set_true_label", ACTION_CHECKBOX_NAME: [rows["open"].pk]})
    assert response.status_code == 200
    assert 'id="set-true-label-form"' in response.content.decode()
    assert Prediction.objects.get(pk=rows["open"].pk).true_label is None


def test_set_true_label_applies_the_chosen_digit(admin_client, admin_user, rows):
    selected = [rows["open"].pk, rows["rejected"].pk]
    response = admin_client.post(
        CHANGELIST,
        {"action": "set_true_label", ACTION_CHECKBOX_NAME: selected, "apply": "1", "true_label": "1"},
        follow=True,
    )
    assert response.status_code == 200
    for pk in selected:
        prediction = Prediction.objects.get(pk=pk)
        assert (prediction.true_label, prediction.reviewed_by) == (1, admin_user)
        assert prediction.reviewed_at is not None
    assert response.context["accuracy_summary"]["total"]["reviewed"] == 4


def test_set_true_label_offers_not_a_digit(admin_client, rows):
    response = admin_client.post(CHANGELIST, {"action": "set_true_label", ACTION_CHECKBOX_NAME: [rows["open"].pk]})
    html = response.content.decode()
    assert f'value="{NOT_A_DIGIT}"' in html and "not a digit" in html


def test_set_true_label_not_a_digit_on_a_rejection_counts_as_correct(admin_client, admin_user, rows):
    response = admin_client.post(
        CHANGELIST,
        {"action": "set_true_label", ACTION_CHECKBOX_NAME: [rows["rejected"].pk], "apply": "1", "true_label": "10"},
        follow=True,
    )
    assert "Set the true label not a digit on 1 prediction." in response.content.decode()
    refused = Prediction.objects.get(pk=rows["rejected"].pk)
    assert (refused.true_label, refused.label_source, refused.reviewed_by) == (NOT_A_DIGIT, "review", admin_user)
    assert response.context["accuracy_summary"]["total"] == {"reviewed": 3, "correct": 2, "accuracy": 200 / 3}


def test_set_true_label_replaces_a_batch_label_with_a_review(admin_client, admin_user, rows):
    admin_client.post(
        CHANGELIST,
        {"action": "set_true_label", ACTION_CHECKBOX_NAME: [rows["batch"].pk], "apply": "1", "true_label": "7"},
    )
    relabelled = Prediction.objects.get(pk=rows["batch"].pk)
    assert (relabelled.true_label, relabelled.label_source, relabelled.reviewed_by) == (7, "review", admin_user)


def test_change_page_shows_images_and_probabilities(admin_client, rows):
    html = admin_client.get(f"{CHANGELIST}{rows['open'].pk}/change/").content.decode()
    assert f"/predictions/{rows['open'].pk}/input.png?size=168" in html
    assert 'id="prob-chart"' in html
    assert 'name="true_label"' in html


def test_change_page_sets_the_true_label_as_a_review(admin_client, admin_user, rows):
    response = admin_client.post(f"{CHANGELIST}{rows['open'].pk}/change/", {"true_label": "4", "_save": "Save"})
    assert response.status_code == 302
    prediction = Prediction.objects.get(pk=rows["open"].pk)
    assert (prediction.true_label, prediction.label_source, prediction.reviewed_by) == (4, "review", admin_user)


def test_change_page_emptied_true_label_takes_the_label_back(admin_client, rows):
    response = admin_client.post(f"{CHANGELIST}{rows['right'].pk}/change/", {"true_label": "", "_save": "Save"})
    assert response.status_code == 302
    prediction = Prediction.objects.get(pk=rows["right"].pk)
    assert (prediction.true_label, prediction.label_source, prediction.reviewed_at) == (None, "", None)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/admin/training/trainingjob/", "/admin/training/modelversion/", "/admin/training/modelcomparison/"]
)
def test_training_admin_lists_answer_200(admin_client, url):
    job = TrainingJob.objects.create(status="running", epoch=2, epochs=5, log_tail="epoch 2/5")
    ModelVersionFactory(training_job=job)
    ModelComparison.objects.create(results=[{"name": "cnn", "accuracy": 0.99}], report_dir="/nonexistent")
    assert admin_client.get(url).status_code == 200


@pytest.mark.django_db
def test_training_job_page_shows_the_log_tail(admin_client):
    job = TrainingJob.objects.create(status="running", epoch=2, epochs=5, log_tail="epoch 2/5 loss=0.1")
    assert "epoch 2/5 loss=0.1" in admin_client.get(f"/admin/training/trainingjob/{job.pk}/change/").content.decode()


@pytest.mark.django_db
def test_model_version_activate_action(admin_client):
    old = ModelVersionFactory(is_active=True, accuracy=0.99)
    new = ModelVersionFactory(accuracy=0.5)
    admin_client.post(
        "/admin/training/modelversion/", {"action": "activate", ACTION_CHECKBOX_NAME: [new.pk]}, follow=True
    )
    assert ModelVersion.objects.get(is_active=True) == new
    old.refresh_from_db()
    assert not old.is_active
