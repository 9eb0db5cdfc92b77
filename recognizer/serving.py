"""The model this process serves: loaded lazily (after gunicorn or Celery forks), once per
version, and swapped when another version becomes active, without a restart.

A version stored in the object storage is fetched into this host's model cache and checked
against its registered SHA-256 first (training.services.model_version_file). A version
that cannot be fetched or loaded is logged and reported by /api/health, and the previous
version keeps serving."""

import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError

from vision.calibration import field_calibration_active
from vision.infer import DigitClassifier, ModelLoadError

logger = logging.getLogger(__name__)


@dataclass
class ServedModel:
    version: object  # training.models.ModelVersion
    classifier: DigitClassifier


class NoModelAvailable(RuntimeError):
    pass


_lock = threading.Lock()
_served: ServedModel | None = None
_checked_at = 0.0
_last_error: str | None = None


def _calibration_applied(version) -> tuple:
    """What serving applies of a version's calibration: its T and, once fitted, its field T and
    gate. A refit that fitted nothing changes only counts and times: no reload for that."""
    field = version.field_calibration or {}
    return version.temperature, (field["t_field"], field["gate"]) if field_calibration_active(field) else None


def served_model() -> ServedModel:
    """The active model, re-checking the registry at most every MODEL_RELOAD_SECONDS."""
    global _served, _checked_at, _last_error
    now = time.monotonic()
    if _served is not None and now - _checked_at < settings.MODEL_RELOAD_SECONDS:
        return _served
    with _lock:
        if _served is not None and time.monotonic() - _checked_at < settings.MODEL_RELOAD_SECONDS:
            return _served
        from training.services import ModelFetchError, model_version_ensure_default, model_version_file

        version = model_version_ensure_default()
        _checked_at = time.monotonic()
        if version is None:
            _last_error = "no model version is registered and the default model is missing"
            raise NoModelAvailable(_last_error)
        if (
            _served is not None
            and _served.version.pk == version.pk
            and _served.version.tflite_path == version.tflite_path
            and _calibration_applied(_served.version) == _calibration_applied(version)
        ):
            return _served
        try:
            path = model_version_file(version=version)
            classifier = DigitClassifier(
                path, temperature=version.temperature, field_calibration=version.field_calibration
            )
        except (ModelFetchError, ModelLoadError) as exc:
            _last_error = str(exc)
            logger.error("cannot load model version %s: %s", version.version, exc)
            if _served is not None:
                return _served  # keep serving the previous version
            raise NoModelAvailable(_last_error) from exc
        logger.info("serving model version %s from %s", version.version, path)
        _served = ServedModel(version=version, classifier=classifier)
        _last_error = None
        return _served


def serving_status() -> dict:
    """For /api/health: whether a model is loaded, which one, and the last load error."""
    try:
        model = served_model()
    except NoModelAvailable as exc:
        return {"model_loaded": False, "model_version": None, "error": str(exc)}
    except DatabaseError:
        # The registry cannot be read; a model already loaded still serves.
        if _served is None:
            return {"model_loaded": False, "model_version": None, "error": "the model registry cannot be read"}
        return {"model_loaded": True, "model_version": _served.version.version, "error": None}
    return {"model_loaded": True, "model_version": model.version.version, "error": _last_error}


def served_model_reset() -> None:
    """Forget the loaded model (tests)."""
    global _served, _checked_at, _last_error
    with _lock:
        _served, _checked_at, _last_error = None, 0.0, None
