"""The field set: reviewed predictions, split 80/20 by id, scored per version."""

import numpy as np
import pytest
from django.core.management import call_command

from recognizer import field
from recognizer.models import NOT_A_DIGIT, LabelSource, Prediction
from recognizer.services import prediction_review
from tests.images import mnist_sample
from training.evaluate import field_scores_build


def test_the_split_is_deterministic_and_puts_about_a_fifth_in_field_test():
    sides = [field.field_side(pk) for pk in range(1, 10001)]
    assert sides == [field.field_side(pk) for pk in range(1, 10001)]
    assert 0.18 < sides.count(field.TEST) / len(sides) < 0.22


def test_the_split_does_not_follow_runs_of_ids():
    # id % 5 would put every fifth upload of a run in field-test; a hash does not.
    tests = [pk for pk in range(1, 2001) if field.field_side(pk) == field.TEST]
    assert {pk % 5 for pk in tests} == {0, 1, 2, 3, 4}


@pytest.fixture
def reviewer(django_user_model):
    return django_user_model.objects.create_user("rev", password="pw-unused-1", is_staff=True)


def reviewed_rows(reviewer, *, copies: int = 2, source: str = Prediction.Source.API):
    """The 30 MNIST sample digits (`copies` times) and 6 noise images, each reviewed with its true label."""
    images, labels = mnist_sample()
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(copies):
        for image, label in zip(images, labels, strict=True):
            rows.append((image.astype(np.uint8), int(label)))
    for _ in range(6):
        rows.append((rng.integers(0, 256, (28, 28), dtype=np.uint8), NOT_A_DIGIT))
    made = []
    for pixels, label in rows:
        p = Prediction.objects.create(source=source, model_input=pixels.tobytes(), probs=[], prediction=None)
        made.append(prediction_review(prediction=p, true_label=label, reviewer=reviewer))
    return made


@pytest.mark.django_db
def test_the_field_set_is_reviews_with_an_input_only(reviewer):
    reviewed = reviewed_rows(reviewer, copies=1)
    Prediction.objects.create(source="batch", model_input=bytes(784), true_label=3, label_source=LabelSource.BATCH)
    no_input = Prediction.objects.create(source="api", model_input=None)
    prediction_review(prediction=no_input, true_label=NOT_A_DIGIT, reviewer=reviewer)  # a file that was not read
    Prediction.objects.create(source="api", model_input=bytes(784))  # not reviewed
    assert set(field.field_set_queryset().values_list("pk", flat=True)) == {p.pk for p in reviewed}


@pytest.mark.django_db
def test_the_snapshot_holds_both_sides_with_labels_and_sources(reviewer, tmp_path):
    rows = {p.pk: p for p in reviewed_rows(reviewer)}
    info = field.field_set_snapshot(directory=tmp_path)
    assert info["train"] + info["test"] == len(rows) and info["test"] > 0
    with np.load(info["path"]) as data:
        for side in (field.TRAIN, field.TEST):
            ids = data[f"id_{side}"]
            assert all(field.field_side(int(pk)) == side for pk in ids)
            assert [rows[int(pk)].true_label for pk in ids] == data[f"y_{side}"].tolist()
            assert data[f"x_{side}"].shape == (len(ids), 28, 28) and data[f"x_{side}"].dtype == np.uint8
            assert set(data[f"source_{side}"].tolist()) == {"api"}
    assert field.field_set_snapshot(directory=tmp_path)["path"] == info["path"]  # same set, same file


@pytest.mark.django_db
def test_no_reviews_no_snapshot(tmp_path):
    assert field.field_set_snapshot(directory=tmp_path) is None


def test_field_scores_count_digits_rejections_and_not_a_digit_by_source():
    labels = np.array([1, 2, 3, 4, NOT_A_DIGIT, NOT_A_DIGIT])
    predicted = np.array([1, 2, -1, 5, -1, 7])  # right, right, falsely rejected, wrong, rejected, read as a 7
    sources = ["api", "api", "api", "canvas", "canvas", "canvas"]
    probs = np.eye(11)[[1, 2, 3, 5, 10, 7]]
    scores = field_scores_build(probabilities=probs, predicted=predicted, labels=labels, sources=sources)
    assert scores["n"] == 6 and scores["digits"] == 4 and scores["not_a_digit"] == 2
    assert scores["digit_accuracy"] == 0.5 and scores["false_rejections"] == 1
    assert scores["not_a_digit_recall"] == 0.5 and scores["accuracy"] == 3 / 6
    assert scores["by_source"]["api"]["digit_accuracy"] == 2 / 3
    assert scores["by_source"]["canvas"]["not_a_digit_recall"] == 0.5
    assert scores["by_source"]["canvas"]["false_rejections"] == 0


def test_field_scores_say_what_ece_chance_alone_leaves_at_their_size():
    labels = np.arange(100) % 10
    sure = field_scores_build(probabilities=np.eye(11)[labels], predicted=labels, labels=labels, sources=["api"] * 100)
    assert sure["ece_chance"] == {"mean": 0.0, "p90": 0.0}  # always right when always sure
    unsure_probs = np.full((100, 11), 0.04)
    unsure_probs[np.arange(100), labels] = 0.6
    unsure = field_scores_build(probabilities=unsure_probs, predicted=labels, labels=labels, sources=["api"] * 100)
    # A model 60% sure would be right 60 times in 100 give or take 5: never exactly, so ECE > 0 by chance.
    assert 0.02 < unsure["ece_chance"]["mean"] <= unsure["ece_chance"]["p90"] < 0.2


@pytest.mark.django_db
def test_the_active_version_is_scored_on_field_test(reviewer, served_default_model):
    reviewed_rows(reviewer)
    field.field_scores_update(versions=[served_default_model])
    scores = served_default_model.field_scores
    served_default_model.refresh_from_db()
    assert served_default_model.field_scores == scores
    assert scores["n"] == len(field.field_set_labels()[field.TEST]) > 0
    assert scores["digit_accuracy"] >= 0.8  # clean MNIST digits
    assert scores["key"] == field.field_set_key(field.field_set_labels()[field.TEST]) and scores["computed"]


@pytest.mark.django_db
def test_the_sweep_rescores_when_field_test_changed_only(reviewer, served_default_model, settings, monkeypatch):
    settings.FIELD_SCORES_REFRESH_SECONDS = 0
    rows = reviewed_rows(reviewer)
    assert field.field_scores_refresh() is True
    assert field.field_scores_refresh() is False  # nothing changed: no work
    in_test = next(p for p in rows if field.field_side(p.pk) == field.TEST)
    prediction_review(prediction=in_test, true_label=(in_test.true_label + 1) % 10, reviewer=reviewer)
    assert field.field_scores_refresh() is True


@pytest.mark.django_db
def test_evaluate_field_prints_the_scores(reviewer, served_default_model, capsys):
    reviewed_rows(reviewer)
    call_command("evaluate_field")
    out = capsys.readouterr().out
    assert "field-test" in out and served_default_model.version in out and "api:" in out
    assert "field calibration: none (" in out  # 100 fresh reviews are needed; the sample has fewer


def field_train_ids() -> list[int]:
    return [pk for pk, _, _ in field.field_set_labels()[field.TRAIN]]


@pytest.mark.django_db
def test_the_field_temperature_is_fitted_only_on_reviews_the_version_never_trained_on(
    reviewer, served_default_model, settings, monkeypatch
):
    import training.evaluate

    settings.FIELD_CALIBRATION_MINIMUM = 10
    reviewed_rows(reviewer)
    ids = field_train_ids()
    trained = ids[: len(ids) // 2]  # as if the version had been finetuned on these
    served_default_model.metrics = {**served_default_model.metrics, "field_trained_ids": trained}
    served_default_model.save(update_fields=["metrics"])
    seen = {}
    real = training.evaluate.field_calibration_of

    def spy(**kwargs):
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(training.evaluate, "field_calibration_of", spy)
    field.field_scores_update(versions=[served_default_model])
    arrays = field.field_set_arrays()
    fresh = ~np.isin(arrays["id_train"], trained)
    assert np.array_equal(seen["x"], arrays["x_train"][fresh])  # the T: only the reviews it never trained on
    assert np.array_equal(seen["labels"], arrays["y_train"][fresh])
    assert np.array_equal(seen["field_x"], arrays["x_train"])  # the gate: every field-train review
    assert len(seen["general_x"]) > 1000  # the shipped model's general calibration set
    stored = served_default_model.field_calibration
    served_default_model.refresh_from_db()
    assert served_default_model.field_calibration == stored
    assert stored["fit_size"] == stored["fresh"] == int(fresh.sum()) and stored["trained_on"] == len(trained)
    assert 0.05 < stored["t_field"] < 5.0 and stored["t_general"] == served_default_model.temperature
    assert stored["key"] == field.field_set_key(field.field_set_labels()[field.TRAIN])


@pytest.mark.django_db
def test_too_few_fresh_reviews_leave_one_temperature_for_every_input(reviewer, served_default_model, settings):
    from recognizer.serving import served_model
    from vision.calibration import temperature_apply
    from vision.infer import DigitClassifier

    settings.FIELD_CALIBRATION_MINIMUM = 10
    reviewed_rows(reviewer)
    served_default_model.metrics = {**served_default_model.metrics, "field_trained_ids": field_train_ids()[5:]}
    served_default_model.save(update_fields=["metrics"])
    field.field_scores_update(versions=[served_default_model])
    stored = served_default_model.field_calibration
    assert "t_field" not in stored and stored["fresh"] == 5 and "10 needed" in stored["reason"]
    x = mnist_sample()[0][:4].astype(np.float32) / 255
    raw = DigitClassifier(served_default_model.tflite_path).classify(x)
    assert np.allclose(served_model().classifier.classify(x), temperature_apply(raw, served_default_model.temperature))


@pytest.mark.django_db
def test_serving_picks_up_a_refitted_field_temperature(reviewer, served_default_model, settings):
    from recognizer.serving import served_model

    settings.FIELD_CALIBRATION_MINIMUM = 10
    settings.MODEL_RELOAD_SECONDS = 0
    assert served_model().classifier.field_calibration is None
    reviewed_rows(reviewer)
    field.field_scores_update(versions=[served_default_model])
    assert served_model().classifier.field_calibration["t_field"] == served_default_model.field_calibration["t_field"]


@pytest.mark.django_db
def test_a_refit_that_fits_nothing_keeps_the_loaded_model(reviewer, served_default_model, settings):
    from recognizer.serving import served_model

    settings.FIELD_CALIBRATION_MINIMUM = 10_000
    settings.MODEL_RELOAD_SECONDS = 0
    loaded = served_model().classifier
    reviewed_rows(reviewer)
    field.field_scores_update(versions=[served_default_model])
    assert "needed" in served_default_model.field_calibration["reason"]  # counts and time stored, no T
    assert served_model().classifier is loaded


@pytest.mark.django_db
def test_the_sweep_refits_when_field_train_changed(reviewer, served_default_model, settings):
    settings.FIELD_SCORES_REFRESH_SECONDS = 0
    settings.FIELD_CALIBRATION_MINIMUM = 10
    rows = reviewed_rows(reviewer)
    assert field.field_scores_refresh() is True
    assert field.field_scores_refresh() is False
    in_train = next(p for p in rows if field.field_side(p.pk) == field.TRAIN)
    prediction_review(prediction=in_train, true_label=(in_train.true_label + 1) % 10, reviewer=reviewer)
    assert field.field_scores_refresh() is True
    served_default_model.refresh_from_db()
    assert served_default_model.field_calibration["key"] == field.field_set_key(field.field_set_labels()[field.TRAIN])
