from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from recognizer.access import IMAGE_URL_MAX_AGE, prediction_image_url
from recognizer.models import NOT_A_DIGIT, Prediction

#: "Not a digit" as the API spells it, in answers and in reviews (stored as NOT_A_DIGIT, 10).
NONE_LABEL = "none"

_DATETIME = serializers.DateTimeField()  # formats like every other DRF datetime


def _image_url(obj: Prediction, kind: str, request) -> str:
    """A signed URL of one of the prediction's images; absolute with the request, so that a
    client opens it as it is."""
    url = prediction_image_url(prediction_id=obj.pk, kind=kind)
    return request.build_absolute_uri(url) if request is not None else url


def _answer_fields(obj: Prediction) -> dict:
    """What every answer about a prediction says, digit or number."""
    return {
        "id": obj.pk,
        "rejected": obj.rejected,
        "reason": obj.reason or None,
        "model_version": obj.model_version.version if obj.model_version_id is not None else None,
        "created": _DATETIME.to_representation(obj.created),
        "source": obj.source,
        "preprocess_ms": obj.preprocess_ms,
        "inference_ms": obj.inference_ms,
    }


def prediction_representation(obj: Prediction, *, request=None) -> dict:
    """A prediction as the API answers it. A plain function: DRF would build the
    ModelSerializer's seventeen fields anew for every answer, a third of a /api/predict call."""
    return {
        **_answer_fields(obj),
        "prediction": obj.prediction,
        "confidence": obj.confidence,
        "probs": obj.probs,
        "no_digit_prob": obj.no_digit_prob,
        "original_name": obj.original_name,
        # Signed: whoever received the answer can open them without a session (an API client has
        # none). None where nothing is stored to show (a batch item keeps no original).
        "input_url": _image_url(obj, "input", request) if obj.model_input is not None else None,
        "original_url": _image_url(obj, "original", request) if obj.original else None,
        "true_label": label_representation(obj.true_label),
        "label_source": obj.label_source or None,
        # The reviewer's user name; reviewed_by is loaded with the row (access.predictions_visible).
        "reviewed_by": obj.reviewed_by.get_username() if obj.reviewed_by_id is not None else None,
        "reviewed_at": _DATETIME.to_representation(obj.reviewed_at) if obj.reviewed_at else None,
        "kind": obj.kind,
        "text": obj.text or None,
        "digits": obj.digits,
        "true_text": obj.true_text or None,
        "uncertainty": obj.uncertainty,
    }


def number_representation(obj: Prediction, *, request=None) -> dict:
    """A number prediction as /api/read answers it (ReadOutputSerializer describes it)."""
    return {
        **_answer_fields(obj),
        "text": obj.text or None,
        "digits": obj.digits,
        "original_url": _image_url(obj, "original", request) if obj.original else None,
    }


def label_representation(label: int | None) -> int | str | None:
    return NONE_LABEL if label == NOT_A_DIGIT else label


TRUE_LABEL_SCHEMA = {
    "oneOf": [{"type": "integer", "minimum": 0, "maximum": 9}, {"type": "string", "enum": [NONE_LABEL]}],
}


@extend_schema_field({**TRUE_LABEL_SCHEMA, "nullable": True})
class TrueLabelField(serializers.Field):
    """The true label in an answer: a digit 0-9, "none" (not a digit), or null (no label)."""

    def to_representation(self, value):
        return label_representation(value)


@extend_schema_field(TRUE_LABEL_SCHEMA)
class ReviewLabelField(serializers.Field):
    """A reviewer's label: a digit 0-9 (a JSON number, or one character in a form), or "none" for
    an image that is not a digit. Stored as 0-9 or NOT_A_DIGIT."""

    default_error_messages = {"invalid": 'the label is a digit 0-9 or "none" (not a digit), not {value}'}

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool) and 0 <= data <= 9:
            return data
        if isinstance(data, str):
            text = data.strip().lower()
            if text == NONE_LABEL:
                return NOT_A_DIGIT
            if len(text) == 1 and text in "0123456789":
                return int(text)
        self.fail("invalid", value=repr(data)[:40])

    def to_representation(self, value):
        return label_representation(value)


class ReviewInputSerializer(serializers.Serializer):
    label = ReviewLabelField(help_text='The true digit 0-9, or "none" when the image is not a digit.')


PREDICT_SOURCES = ["api", "upload", "canvas"]


@extend_schema_field(OpenApiTypes.BINARY)
class UploadField(serializers.FileField):
    """A file sent in a multipart request. The schema says binary: drf-spectacular describes a plain
    FileField as a URL (what it is in an answer), and clients and fuzzers would send text."""


class PredictInputSerializer(serializers.Serializer):
    file = UploadField(required=False, help_text="The image, as a multipart upload.")
    image = serializers.CharField(
        required=False,
        help_text="The image as base64 or a data URL (a canvas).",
        style={"base_template": "textarea.html", "rows": 3},  # the browsable API's form
    )
    source = serializers.ChoiceField(
        choices=PREDICT_SOURCES, required=False, default="api", help_text="Where the image comes from."
    )

    def validate(self, attrs):
        if not attrs.get("file") and not attrs.get("image"):
            raise serializers.ValidationError("send an image: a multipart field 'file' or a JSON field 'image'")
        return attrs


class PredictJsonInputSerializer(serializers.Serializer):
    """The JSON body of /api/predict, for the schema (PredictInputSerializer reads it)."""

    image = serializers.CharField(help_text="The image as base64 or a data URL (a canvas).")
    source = serializers.ChoiceField(
        choices=PREDICT_SOURCES, required=False, default="api", help_text="Where the image comes from."
    )


class DigitOfNumberSerializer(serializers.Serializer):
    digit = serializers.IntegerField(
        min_value=0, max_value=9, allow_null=True, help_text="The digit; null where the model is unsure."
    )
    confidence = serializers.FloatField(help_text="The digit's probability among the ten (its top bar).")
    box = serializers.ListField(
        child=serializers.IntegerField(min_value=0),
        min_length=4,
        max_length=4,
        help_text="[x, y, width, height] of the digit's ink in the uploaded image's pixels.",
    )
    probs = serializers.ListField(child=serializers.FloatField(), help_text="The ten digit probabilities.")


class PredictionOutputSerializer(serializers.ModelSerializer):
    """Describes the answer for the schema; the answer itself is prediction_representation."""

    true_label = TrueLabelField(
        read_only=True, help_text='The true answer: a digit 0-9, "none" (not a digit), or null (no label).'
    )
    label_source = serializers.ChoiceField(
        choices=["review", "batch"],
        allow_null=True,
        read_only=True,
        help_text="Where the true label came from: a person's review, or a batch's label folders; null: no label.",
    )
    reviewed_by = serializers.CharField(
        allow_null=True, read_only=True, help_text="The user name of the reviewer; null: not reviewed."
    )
    uncertainty = serializers.FloatField(
        allow_null=True,
        read_only=True,
        help_text="The review queue's order, 0 to 2: higher is less certain (rejections are 1 or more); "
        "null when there is nothing to show a reviewer.",
    )

    model_version = serializers.CharField(allow_null=True, read_only=True)
    reason = serializers.CharField(allow_null=True, read_only=True, help_text="Why it was rejected; null if not.")
    text = serializers.CharField(
        allow_null=True, read_only=True, help_text='kind "number": the digits read; null when rejected or a digit.'
    )
    digits = DigitOfNumberSerializer(many=True, read_only=True, help_text='kind "number": each digit and its box.')
    true_text = serializers.CharField(
        allow_null=True, read_only=True, help_text='kind "number": the true number, once known.'
    )
    input_url = serializers.CharField(
        allow_null=True,
        read_only=True,
        help_text="The 28x28 image the model saw (PNG; ?size=N up to 280 scales it). "
        f"A signed link: it works without a login or session for {IMAGE_URL_MAX_AGE // 60} minutes.",
    )
    original_url = serializers.CharField(
        allow_null=True,
        read_only=True,
        help_text="The upload, re-encoded as PNG; null when none is stored (batch items). "
        f"A signed link: it works without a login or session for {IMAGE_URL_MAX_AGE // 60} minutes.",
    )

    class Meta:
        model = Prediction
        fields = [
            "id",
            "prediction",
            "confidence",
            "probs",
            "rejected",
            "reason",
            "model_version",
            "created",
            "source",
            "no_digit_prob",
            "preprocess_ms",
            "inference_ms",
            "original_name",
            "input_url",
            "original_url",
            "true_label",
            "label_source",
            "reviewed_by",
            "reviewed_at",
            "kind",
            "text",
            "digits",
            "true_text",
            "uncertainty",
        ]

    def to_representation(self, instance):
        return prediction_representation(instance, request=self.context.get("request"))


class ReadOutputSerializer(serializers.Serializer):
    """The answer of /api/read (number_representation)."""

    id = serializers.IntegerField()
    text = serializers.CharField(
        allow_null=True, help_text='The digits read, left to right (e.g. "2026"); null when rejected.'
    )
    digits = DigitOfNumberSerializer(many=True, help_text="Each digit found, left to right, with its box.")
    rejected = serializers.BooleanField()
    reason = serializers.CharField(
        allow_null=True,
        help_text="Why it was rejected (no ink; a word or picture; which digit is unsure); null if not.",
    )
    model_version = serializers.CharField(allow_null=True)
    created = serializers.DateTimeField()
    source = serializers.ChoiceField(choices=PREDICT_SOURCES)
    preprocess_ms = serializers.FloatField()
    inference_ms = serializers.FloatField()
    original_url = serializers.CharField(
        allow_null=True,
        help_text="The upload, re-encoded as PNG. "
        f"A signed link: it works without a login or session for {IMAGE_URL_MAX_AGE // 60} minutes.",
    )


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded", "error"])
    model_loaded = serializers.BooleanField()
    model_version = serializers.CharField(allow_null=True)
    database = serializers.ChoiceField(choices=["ok", "unavailable"])
    broker = serializers.ChoiceField(choices=["ok", "unavailable"])
    broker_kind = serializers.ChoiceField(choices=["embedded", "server"])
    workers = serializers.IntegerField(allow_null=True, help_text="Celery workers whose heartbeat is fresh.")
    errors = serializers.ListField(child=serializers.CharField(), required=False)


class LiveSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])
