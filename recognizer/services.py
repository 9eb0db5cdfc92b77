"""Recognise an upload and store the prediction. Plain functions; tests call them directly."""

import time
from dataclasses import dataclass

import numpy as np
from django.core.files.base import ContentFile

from mnistsite import metrics
from recognizer.models import NOT_A_DIGIT, Kind, LabelSource, Prediction
from recognizer.serving import served_model
from recognizer.uncertainty import uncertainty_score
from vision.decode import ImageDecodeError, InvalidImagePayload, decode_image, image_payload_decode, pixels_to_uint8
from vision.infer import decide
from vision.preprocess import Preprocessed, preprocess_decoded
from vision.segment import NumberReading, read_number


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


class _TimedClassifier:
    """A classifier that adds up the time of its calls (a number's one model call)."""

    def __init__(self, classifier):
        self._classifier = classifier
        self.num_classes = classifier.num_classes
        self.ms = 0.0

    def classify(self, images: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        try:
            return self._classifier.classify(images)
        finally:
            self.ms += (time.perf_counter() - started) * 1000.0


def read_bytes(data: bytes) -> tuple[NumberReading, object, str | None, float, float]:
    """Read the number in one image: (reading, model version, image format, preprocess ms,
    inference ms). Raises ImageDecodeError for unreadable files."""
    started = time.perf_counter()
    image = decode_image(data)
    image_format = image.format
    model = served_model()
    classifier = _TimedClassifier(model.classifier)
    try:
        reading = read_number(image, classifier)
    except ImageDecodeError:
        raise
    except Exception as exc:  # a decoder that was lazy about a damaged file (as preprocess_decoded)
        raise ImageDecodeError("The image file is damaged and cannot be read.") from exc
    total_ms = (time.perf_counter() - started) * 1000.0
    return reading, model.version, image_format, total_ms - classifier.ms, classifier.ms


def prediction_answer_fields(
    *,
    digit: int | None,
    confidence: float,
    digit_probs: list[float],
    no_digit_prob: float,
    reason: str | None,
    model_input: bytes | None,
    has_original: bool,
) -> dict:
    """The fields of a Prediction row that say what the model made of an image, as attnames to
    values: the one place that builds them, for the API's rows (prediction_create) and the batch's
    (recognizer.batch.chunk_predictions). The review queue's uncertainty is computed here, once;
    a row with nothing to show a reviewer (no original and no model input) gets none and stays
    out of the queue."""
    rejected = digit is None
    reviewable = model_input is not None or has_original
    return {
        "model_input": model_input,
        "prediction": digit,
        "confidence": confidence,
        "probs": list(digit_probs),
        "no_digit_prob": no_digit_prob,
        "rejected": rejected,
        "reason": (reason or "")[:255],
        "uncertainty": (
            uncertainty_score(digit_probs=digit_probs, no_digit_prob=no_digit_prob, rejected=rejected)
            if reviewable
            else None
        ),
    }


def number_fields(reading: NumberReading) -> dict:
    """The fields of a Prediction of kind "number" for a reading: the one place that turns
    a NumberReading into row values (API rows and batch rows alike)."""
    digits = [
        {
            "digit": d.digit,
            "confidence": round(float(d.confidence), 6),
            "box": [int(v) for v in d.box],
            "probs": d.probs,
        }
        for d in reading.digits
    ]
    return {
        "kind": Kind.NUMBER.value,
        "text": reading.text or "",
        "digits": digits,
        "confidence": min((d["confidence"] for d in digits), default=0.0),
        "rejected": reading.rejected,
        "reason": (reading.reason or "")[:255],
    }


def prediction_create(*, data: bytes, filename: str, source: str, owner=None, kind: str = Kind.DIGIT) -> Prediction:
    """Recognise `data` (one digit, or with kind "number" a number) and store it with its
    original file. Nothing is stored when the file cannot be read (ImageDecodeError propagates)."""
    owner = owner if owner is not None and owner.is_authenticated else None
    if kind == Kind.NUMBER:
        reading, version, image_format, preprocess_ms, inference_ms = read_bytes(data)
        prediction = Prediction(
            source=source,
            owner=owner,
            original_name=(filename or "")[:255],
            model_version=version,
            preprocess_ms=preprocess_ms,
            inference_ms=inference_ms,
            **number_fields(reading),
        )
    else:
        recognition, version = recognize_bytes(data)
        image_format = recognition.image_format
        pixels = recognition.preprocessed.pixels
        prediction = Prediction(
            source=source,
            owner=owner,
            original_name=(filename or "")[:255],
            model_version=version,
            preprocess_ms=recognition.preprocess_ms,
            inference_ms=recognition.inference_ms,
            **prediction_answer_fields(
                digit=recognition.digit,
                confidence=recognition.confidence,
                digit_probs=recognition.probs,
                no_digit_prob=recognition.no_digit_prob,
                reason=recognition.reason,
                model_input=pixels_to_bytes(pixels) if pixels is not None else None,
                has_original=True,
            ),
        )
    # The suffix of what the bytes are, not of what the client called them.
    prediction.original.save(f"upload{stored_suffix(image_format)}", ContentFile(data), save=False)
    try:
        prediction.save()  # one INSERT: atomic on its own
    except BaseException:
        prediction.original.delete(save=False)  # no file without its row
        raise
    metrics.prediction_record(
        source=source,
        model_version=version.version,
        # A number read counts as the outcome "number" (one label value, not one per number).
        digit=("number" if not prediction.rejected else None) if kind == Kind.NUMBER else prediction.prediction,
        reason=prediction.reason or None,
        preprocess_ms=prediction.preprocess_ms,
        inference_ms=prediction.inference_ms,
    )
    return prediction


def _review_save(*, prediction: Prediction, reviewer, field: str) -> Prediction:
    """Store a person's review: the answer already set in `field`, who gave it and when."""
    from django.utils import timezone

    prediction.reviewed_by = reviewer
    prediction.reviewed_at = timezone.now()
    prediction.label_source = LabelSource.REVIEW
    prediction.save(update_fields=[field, "label_source", "reviewed_by", "reviewed_at"])
    return prediction


class InvalidReviewLabel(ValueError):
    """A true label that is neither a digit 0-9 nor NOT_A_DIGIT."""


def label_check(true_label) -> None:
    if isinstance(true_label, bool) or true_label not in range(NOT_A_DIGIT + 1):
        raise InvalidReviewLabel(f"a true label is a digit 0-9 or {NOT_A_DIGIT} (not a digit), not {true_label!r}")


def prediction_review(*, prediction: Prediction, true_label: int, reviewer) -> Prediction:
    """A person's answer for one prediction: a digit 0-9, or NOT_A_DIGIT (10). It replaces any
    earlier label, a review or a batch's, and records who and when."""
    label_check(true_label)
    if prediction.kind != Kind.DIGIT:
        raise InvalidReviewLabel("a number has a true number, not a true label: review it in the admin")
    prediction.true_label = true_label
    return _review_save(prediction=prediction, reviewer=reviewer, field="true_label")


class InvalidNumberText(ValueError):
    """A true text that is not a string of digits."""


def prediction_review_number(*, prediction: Prediction, true_text: str, reviewer) -> Prediction:
    """The true number of a number prediction: digits only, or "" for "not a number"."""
    from recognizer.models import TEXT_MAX_LENGTH

    text = (true_text or "").strip()
    if text and (not text.isascii() or not text.isdigit() or len(text) > TEXT_MAX_LENGTH):
        raise InvalidNumberText(f"a true number is digits 0-9 only, at most {TEXT_MAX_LENGTH}")
    if prediction.kind != Kind.NUMBER:
        raise InvalidNumberText("only a number prediction has a true number")
    prediction.true_text = text
    return _review_save(prediction=prediction, reviewer=reviewer, field="true_text")


def prediction_label_clear(*, prediction: Prediction) -> Prediction:
    """No label at all: the prediction returns to the review queue."""
    prediction.true_label = None
    prediction.reviewed_by = None
    prediction.reviewed_at = None
    prediction.label_source = LabelSource.NONE
    prediction.save(update_fields=["true_label", "label_source", "reviewed_by", "reviewed_at"])
    return prediction


def prediction_review_clear(*, prediction: Prediction) -> Prediction:
    """Take a person's review back (the review page's undo): the prediction has no label again and
    returns to the review queue. A label that came with a batch is not a review and is left alone."""
    if prediction.label_source != LabelSource.REVIEW:
        return prediction
    return prediction_label_clear(prediction=prediction)


def predictions_review(*, queryset, true_label: int, reviewer) -> int:
    """prediction_review for every prediction in `queryset`, in one UPDATE (the admin's action)."""
    from django.utils import timezone

    label_check(true_label)
    return queryset.filter(kind=Kind.DIGIT).update(
        true_label=true_label, label_source=LabelSource.REVIEW, reviewed_by=reviewer, reviewed_at=timezone.now()
    )


def predictions_mark_correct(*, queryset, reviewer) -> int:
    """Confirm the model's answer on every prediction in `queryset` that has one: a digit's digit, or
    for a rejected digit "not a digit" (a correct refusal); a number's text. Unreadable batch items
    (no answer) are left alone."""
    from django.db.models import Case, F, PositiveSmallIntegerField, Q, Value, When
    from django.utils import timezone

    now = timezone.now()
    answered = Q(rejected=True) | Q(prediction__isnull=False)
    digits = (
        queryset.filter(answered, kind=Kind.DIGIT)
        .exclude(error__gt="")
        .update(
            true_label=Case(
                When(rejected=True, then=Value(NOT_A_DIGIT)),
                default=F("prediction"),
                output_field=PositiveSmallIntegerField(),
            ),
            label_source=LabelSource.REVIEW,
            reviewed_by=reviewer,
            reviewed_at=now,
        )
    )
    numbers = (
        queryset.filter(kind=Kind.NUMBER, rejected=False)
        .exclude(text="")
        .update(true_text=F("text"), label_source=LabelSource.REVIEW, reviewed_by=reviewer, reviewed_at=now)
    )
    return digits + numbers


__all__ = [
    "ImageDecodeError",
    "InvalidImagePayload",
    "InvalidNumberText",
    "InvalidReviewLabel",
    "image_payload_decode",
    "number_fields",
    "prediction_create",
    "prediction_review_number",
]
