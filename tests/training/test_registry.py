import hashlib
import json
import shutil

import pytest

from recognizer.serving import served_model, served_model_reset
from training.models import ModelVersion
from training.services import ActivationRefused, model_version_activate, model_version_file, model_version_register

pytestmark = pytest.mark.django_db


def copy_model(source_dir, target_dir, *, accuracy: float, version: str):
    target_dir.mkdir(parents=True)
    shutil.copy(source_dir / "model.tflite", target_dir / "model.tflite")
    metrics = json.loads((source_dir / "metrics.json").read_text())
    metrics.update(accuracy=accuracy, version=version)
    (target_dir / "metrics.json").write_text(json.dumps(metrics))
    return model_version_register(directory=target_dir)


def test_default_model_is_registered_and_active(served_default_model):
    assert served_default_model.is_active
    assert ModelVersion.objects.filter(is_active=True).count() == 1


def test_a_version_records_the_sha256_of_its_model_and_stays_on_local_disk_without_a_bucket(
    served_default_model, tmp_path, settings
):
    version = copy_model(settings.DEFAULT_MODEL_DIR, tmp_path / "v", accuracy=0.5, version="v")
    assert version.sha256 == hashlib.sha256((tmp_path / "v" / "model.tflite").read_bytes()).hexdigest()
    assert version.storage_prefix == ""
    assert model_version_file(version=version) == tmp_path / "v" / "model.tflite"


def test_a_version_that_does_not_beat_the_active_one_is_refused(served_default_model, tmp_path, settings):
    worse = copy_model(
        settings.DEFAULT_MODEL_DIR, tmp_path / "worse", accuracy=served_default_model.accuracy - 0.01, version="worse"
    )
    with pytest.raises(ActivationRefused):
        model_version_activate(version=worse)
    assert ModelVersion.objects.get(is_active=True) == served_default_model


def test_force_activates_a_worse_version(served_default_model, tmp_path, settings):
    worse = copy_model(settings.DEFAULT_MODEL_DIR, tmp_path / "worse", accuracy=0.5, version="worse")
    model_version_activate(version=worse, force=True)
    assert ModelVersion.objects.get(is_active=True) == worse


def test_a_better_version_is_activated_and_served_without_restart(served_default_model, tmp_path, settings):
    settings.MODEL_RELOAD_SECONDS = 0
    assert served_model().version.version == served_default_model.version
    better = copy_model(
        settings.DEFAULT_MODEL_DIR,
        tmp_path / "better",
        accuracy=min(1.0, served_default_model.accuracy + 1e-4),
        version="b",
    )
    model_version_activate(version=better)
    assert served_model().version.version == "b"
    assert served_model().classifier.path == tmp_path / "better" / "model.tflite"


def test_a_corrupt_model_keeps_the_previous_one_served(served_default_model, tmp_path, settings):
    settings.MODEL_RELOAD_SECONDS = 0
    served_model()
    broken_dir = tmp_path / "broken"
    broken = copy_model(settings.DEFAULT_MODEL_DIR, broken_dir, accuracy=0.99999, version="broken")
    (broken_dir / "model.tflite").write_bytes(b"not a model")
    model_version_activate(version=broken, force=True)
    assert served_model().version.version == served_default_model.version
    from recognizer.serving import serving_status

    status = serving_status()
    assert status["model_loaded"] is True
    assert "not a valid LiteRT model" in status["error"]
    served_model_reset()


def test_the_gate_records_why_it_refused_and_why_staff_forced(served_default_model, tmp_path, settings):
    worse = copy_model(settings.DEFAULT_MODEL_DIR, tmp_path / "worse", accuracy=0.99, version="worse")
    with pytest.raises(ActivationRefused):
        model_version_activate(version=worse)
    worse.refresh_from_db()
    assert worse.activation_note.startswith("not activated: MNIST 0.9900 vs 0.9975")
    model_version_activate(version=worse, force=True)
    worse.refresh_from_db()
    assert worse.is_active and worse.activation_note.startswith("forced by staff")


def test_the_gate_refuses_a_version_lower_on_the_same_field_test(served_default_model, tmp_path, settings):
    field = {"key": "set-1", "n": 96, "accuracy": 0.90}
    ModelVersion.objects.filter(pk=served_default_model.pk).update(field_scores=field)
    candidate = copy_model(settings.DEFAULT_MODEL_DIR, tmp_path / "c", accuracy=0.9980, version="c")
    candidate.field_scores = {**field, "accuracy": 0.89}
    with pytest.raises(ActivationRefused, match="lower on the field"):
        model_version_activate(version=candidate)
    candidate.field_scores = {**field, "accuracy": 0.95}
    model_version_activate(version=candidate)
    candidate.refresh_from_db()
    assert candidate.is_active and "field-test 0.9500 vs 0.9000" in candidate.activation_note


def test_a_version_registers_its_fitted_temperature(tmp_path, settings, db):
    version = copy_model(settings.DEFAULT_MODEL_DIR, tmp_path / "t", accuracy=0.99, version="t")
    shipped = json.loads((settings.DEFAULT_MODEL_DIR / "metrics.json").read_text())
    assert version.temperature == pytest.approx(shipped["calibration"]["temperature"]) != 1.0
