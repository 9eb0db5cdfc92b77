"""Recognise an upload and store the prediction. Plain functions; tests call them directly."""

import time
from dataclasses import dataclass

import numpy as np
from django.core.files.base import ContentFile

from mnistsite import metrics
from recognizer.models import LabelSource, Prediction
from recognizer.serving import served_model
from vision.decode import ImageDecodeError, InvalidImagePayload, decode_image, image_payload_decode, pixels_to_uint8
from vision.infer import decide
from vision.preprocess import Preprocessed, preprocess_decoded


def pixels_to_bytes(pixels: np.ndarray) -> bytes:
    return pixels_to_uint8(pixels).tobytes()


@dataclass(frozen=True)
class Recognition:
    """What the model made of one preprocessed image, before it is stored."""

    preprocessed: Preprocessed
    probs: list[float]
    no_digit_prob: float
    digit: int | None
    confidence: float
    reason: str | None
    preprocess_ms: float
    inference_ms: float
    #: The format Pillow detected ("PNG", "JPEG", ...): the stored original's suffix comes from it.
    image_format: str | None = None


#: The stored original's suffix per detected format; never the client's (.html, .svg).
FORMAT_SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "MPO": ".jpg", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp"}


def stored_suffix(image_format: str | None) -> str:
    return FORMAT_SUFFIXES.get(image_format or "", f".{image_format.lower()}" if image_format else ".bin")


def recognize_bytes(data: bytes) -> tuple[Recognition, object]:
    """Preprocess and classify one image. Raises ImageDecodeError for unreadable files."""
    started = time.perf_counter()
    image = decode_image(data)
    image_format = image.format
    preprocessed = preprocess_decoded(image)
    del image
    preprocess_ms = (time.perf_counter() - started) * 1000.0
    model = served_model()
    if preprocessed.pixels is None:
        recognition = Recognition(
            preprocessed, [0.0] * 10, 0.0, None, 0.0, preprocessed.reason, preprocess_ms, 0.0, image_format
        )
        return recognition, model.version
    started = time.perf_counter()
    probs = model.classifier.classify(preprocessed.pixels[np.newaxis])[0]
    inference_ms = (time.perf_counter() - started) * 1000.0
    decision = decide(probs)
    recognition = Recognition(
        preprocessed,
        decision.digit_probs,
        decision.no_digit_prob,
        decision.digit,
        decision.confidence,
        decision.reason,
        preprocess_ms,
        inference_ms,
        image_format,
    )
    return recognition, model.version


def prediction_create(*, data: bytes, filename: str, source: str, owner=None) -> Prediction:
    """Recognise `data` and store it with its original file. Nothing is stored when the file
    cannot be read (ImageDecodeError propagates)."""
    recognition, version = recognize_bytes(data)
    pixels = recognition.preprocessed.pixels
    prediction = Prediction(
        source=source,
        owner=owner if owner is not None and owner.is_authenticated else None,
        original_name=(filename or "")[:255],
        model_input=pixels_to_bytes(pixels) if pixels is not None else None,
        prediction=recognition.digit,
        confidence=recognition.confidence,
        probs=recognition.probs,
        no_digit_prob=recognition.no_digit_prob,
        rejected=recognition.digit is None,
        reason=recognition.reason or "",
        model_version=version,
        preprocess_ms=recognition.preprocess_ms,
        inference_ms=recognition.inference_ms,
    )
    # The suffix of what the bytes are, not of what the client called them.
    prediction.original.save(f"upload{stored_suffix(recognition.image_format)}", ContentFile(data), save=False)
    try:
        prediction.save()  # one INSERT: atomic on its own
    except BaseException:
        prediction.original.delete(save=False)  # no file without its row
        raise
    metrics.prediction_record(
        source=source,
        model_version=version.version,
        digit=recognition.digit,
        reason=recognition.reason,
        preprocess_ms=recognition.preprocess_ms,
        inference_ms=recognition.inference_ms,
    )
    return prediction


def prediction_review(*, prediction: Prediction, true_label: int, reviewer) -> Prediction:
    from django.utils import timezone

    prediction.true_label = true_label
    prediction.reviewed_by = reviewer
    prediction.reviewed_at = timezone.now()
    prediction.label_source = LabelSource.REVIEW
    prediction.save(update_fields=["true_label", "label_source", "reviewed_by", "reviewed_at"])
    return prediction


def predictions_mark_correct(*, queryset, reviewer) -> int:
    """Confirm the model's answer on every non-rejected prediction in `queryset`."""
    from django.db.models import F
    from django.utils import timezone

    return queryset.filter(rejected=False, prediction__isnull=False).update(
        true_label=F("prediction"), label_source=LabelSource.REVIEW, reviewed_by=reviewer, reviewed_at=timezone.now()
    )


__all__ = ["ImageDecodeError", "InvalidImagePayload", "prediction_create", "image_payload_decode"]
