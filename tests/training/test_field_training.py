"""Training with reviews: the data mix, and what a job carries."""

import numpy as np
import pytest

from recognizer.models import NOT_A_DIGIT, Prediction
from recognizer.services import prediction_review
from training import services
from training.datasets import field_mix


def test_field_train_is_oversampled_to_its_share_and_keeps_its_labels():
    x = np.zeros((8500, 28, 28), np.uint8)
    y = np.zeros(8500, np.uint8)
    field_x = np.full((100, 28, 28), 7, np.uint8)
    field_y = np.array([3] * 90 + [NOT_A_DIGIT] * 10, np.uint8)
    x_all, y_all, added = field_mix(x=x, y=y, field_x=field_x, field_y=field_y, share=0.15, seed=0)
    assert added == 1500 and len(x_all) == len(y_all) == 10000  # 15 repeats: 15% of the mix
    from_field = x_all[:, 0, 0] == 7
    assert from_field.sum() == 1500
    assert (y_all[from_field] == NOT_A_DIGIT).sum() == 150  # "not a digit" reviews: the model's class 10
    assert not from_field[:1500].all()  # shuffled in, not appended


def test_a_small_share_still_takes_field_train_once():
    x, y = np.zeros((10, 28, 28), np.uint8), np.zeros(10, np.uint8)
    _, _, added = field_mix(x=x, y=y, field_x=np.ones((50, 28, 28), np.uint8), field_y=np.ones(50), share=0.01, seed=0)
    assert added == 50


def test_no_field_images_no_change():
    x, y = np.zeros((10, 28, 28), np.uint8), np.zeros(10, np.uint8)
    assert field_mix(x=x, y=y, field_x=np.zeros((0, 28, 28)), field_y=np.zeros(0), share=0.15, seed=0)[2] == 0


@pytest.mark.django_db
def test_with_reviews_needs_reviews(served_default_model):
    with pytest.raises(services.TrainingNotPossible, match="no reviewed predictions"):
        services.training_job_create(preset="quick", with_reviews=True, queue=False)


@pytest.mark.django_db
def test_a_job_carries_the_field_snapshot_and_finetune_the_active_weights(
    served_default_model, django_user_model, settings, tmp_path
):
    settings.MODEL_DIR = tmp_path
    staff = django_user_model.objects.create_user("s", password="pw-unused-2", is_staff=True)
    for label in range(10):
        p = Prediction.objects.create(source="api", model_input=bytes([label * 20]) * 784)
        prediction_review(prediction=p, true_label=label, reviewer=staff)
    job = services.training_job_create(preset="finetune", with_reviews=True, queue=False)
    snapshot = job.params["field_set"]
    assert snapshot["train"] + snapshot["test"] == 10
    with np.load(snapshot["path"]) as data:
        assert len(data["x_train"]) == snapshot["train"]
    assert job.params["with_reviews"] is True
    assert job.params["init_model"] == served_default_model.keras_path
