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
