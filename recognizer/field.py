"""The field set: predictions a person reviewed, as test and training data.

Reviewed digit predictions with a stored 28x28 input, split by id into field-train (80%)
and field-test (20%) with a hash of the id, so a prediction stays on its side of the split
whatever else is reviewed, deleted or relabelled. Training never imports this module: a
training job receives the set as an ``.npz`` snapshot whose path travels in its params
(``field_set_snapshot``, reached through settings.FIELD_SET_SNAPSHOT). Every version is
scored on field-test (``field_scores_update``), after its field calibration is refitted on
field-train (a second temperature for inputs that look like the field, fitted on the reviews
the version never trained on); the workers' sweep does both for the active version when
either side changed (``field_scores_refresh``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import numpy as np
from django.conf import settings

from recognizer.models import LabelSource, Prediction

logger = logging.getLogger(__name__)

TEST_SHARE = 20  # percent of the reviewed predictions in field-test
TRAIN, TEST = "train", "test"


def field_side(prediction_id: int) -> str:
    """TRAIN or TEST for a prediction id: the first bytes of a SHA-256, not id % 5, so that
    ids written in runs (a batch, one upload after another) spread over both sides."""
    digest = hashlib.sha256(f"field-split:{prediction_id}".encode()).digest()
    return TEST if int.from_bytes(digest[:4], "big") % 100 < TEST_SHARE else TRAIN


def field_set_queryset():
    """Reviewed digit predictions with their 28x28 input (not batch labels, not numbers)."""
    queryset = Prediction.objects.filter(
        label_source=LabelSource.REVIEW, true_label__isnull=False, model_input__isnull=False
    )
    if any(field.name == "kind" for field in Prediction._meta.get_fields()):
        queryset = queryset.filter(kind="digit")  # several-digit numbers are not in the digit field set
    return queryset


def field_set_labels() -> dict[str, list[tuple[int, int, str]]]:
    """(id, label, source) of each side, in id order: cheap (no images), for keys and sizes."""
    sides: dict[str, list[tuple[int, int, str]]] = {TRAIN: [], TEST: []}
    for pk, label, source in field_set_queryset().order_by("pk").values_list("pk", "true_label", "source"):
        sides[field_side(pk)].append((pk, label, source))
    return sides


def field_set_key(rows: list[tuple[int, int, str]]) -> str:
    """Names one state of a side: which predictions, with which labels."""
    digest = hashlib.sha256(";".join(f"{pk}:{label}" for pk, label, _ in rows).encode())
    return digest.hexdigest()[:16]


def field_set_arrays() -> dict[str, np.ndarray]:
    """Both sides as arrays: x_<side> (N, 28, 28) uint8, y_<side> labels 0-10, source_<side>, id_<side>."""
    images: dict[str, list] = {TRAIN: [], TEST: []}
    meta: dict[str, list] = {TRAIN: [], TEST: []}
    rows = field_set_queryset().order_by("pk").values_list("pk", "true_label", "source", "model_input")
    for pk, label, source, pixels in rows.iterator(chunk_size=500):
        side = field_side(pk)
        images[side].append(np.frombuffer(bytes(pixels), dtype=np.uint8).reshape(28, 28))
        meta[side].append((pk, label, source))
    out: dict[str, np.ndarray] = {}
    for side in (TRAIN, TEST):
        out[f"x_{side}"] = np.stack(images[side]) if images[side] else np.zeros((0, 28, 28), np.uint8)
        out[f"y_{side}"] = np.asarray([m[1] for m in meta[side]], dtype=np.uint8)
        out[f"source_{side}"] = np.asarray([m[2] for m in meta[side]], dtype="U16")
        out[f"id_{side}"] = np.asarray([m[0] for m in meta[side]], dtype=np.int64)
    out["key_test"] = np.asarray(field_set_key(meta[TEST]))
    out["key_train"] = np.asarray(field_set_key(meta[TRAIN]))
    return out


def field_set_snapshot(*, directory: Path | None = None) -> dict | None:
    """Write the field set as an .npz for a training job; None when nothing is reviewed.

    Returns {"path", "train", "test", "key_test"}: the job carries it in its params. The
    file is named by its content, so the same set is written once.
    """
    arrays = field_set_arrays()
    n_train, n_test = len(arrays["y_train"]), len(arrays["y_test"])
    if not n_train and not n_test:
        return None
    directory = Path(directory or Path(settings.MODEL_DIR) / "field-sets")
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    path = directory / f"field-{digest.hexdigest()[:16]}.npz"
    if not path.is_file():
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
    return {"path": str(path), "train": n_train, "test": n_test, "key_test": str(arrays["key_test"])}


def field_scores_update(*, versions) -> int:
    """Refit the field calibration of ``versions`` on the current field-train set (a second
    temperature for field-like inputs, from the reviews each never trained on), then
    recompute and store their field scores on the current field-test set."""
    from training.services import model_version_field_calibrate, model_version_field_scores

    arrays = field_set_arrays()
    done = 0
    for version in versions:
        started = time.monotonic()
        field = model_version_field_calibrate(
            version=version,
            x=arrays["x_train"],
            labels=arrays["y_train"],
            ids=arrays["id_train"],
            key=str(arrays["key_train"]),
            minimum=settings.FIELD_CALIBRATION_MINIMUM,
        )
        logger.info(
            "field calibration of %s: %s",
            version.version,
            f"T {field['t_field']:.3f} for field-like inputs, fitted on {field['fresh']} reviews"
            if "t_field" in field
            else field.get("reason"),
        )
        scores = model_version_field_scores(
            version=version,
            x=arrays["x_test"],
            labels=arrays["y_test"],
            sources=arrays["source_test"],
            key=str(arrays["key_test"]),
        )
        logger.info(
            "field scores of %s on %d reviewed: accuracy %s (%.1f s)",
            version.version,
            scores["n"],
            scores["accuracy"],
            time.monotonic() - started,
        )
        done += 1
    return done


_last_refresh = 0.0


def field_scores_refresh() -> bool:
    """The workers' sweep: refit the active version's field calibration and rescore it when
    field-train or field-test changed since then, at most every FIELD_SCORES_REFRESH_SECONDS
    (reviews come one by one). Cheap when nothing changed: one query of ids and labels, no
    images."""
    global _last_refresh
    from training.models import ModelVersion

    if time.monotonic() - _last_refresh < settings.FIELD_SCORES_REFRESH_SECONDS:
        return False
    active = ModelVersion.objects.filter(is_active=True).first()
    if active is None:
        return False
    sides = field_set_labels()
    test_changed = bool(sides[TEST]) and (active.field_scores or {}).get("key") != field_set_key(sides[TEST])
    train_changed = (active.field_calibration or {}).get("key") != field_set_key(sides[TRAIN])
    if not test_changed and not (sides[TRAIN] and train_changed):
        return False
    _last_refresh = time.monotonic()
    field_scores_update(versions=[active])
    return True
