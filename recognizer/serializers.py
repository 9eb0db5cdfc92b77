from rest_framework import serializers

from recognizer.models import Prediction


class PredictInputSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, help_text="The image, as a multipart upload.")
    image = serializers.CharField(required=False, help_text="The image as base64 or a data URL (a canvas).")
    source = serializers.ChoiceField(
        choices=["api", "upload", "canvas"], required=False, default="api", help_text="Where the image comes from."
    )

    def validate(self, attrs):
        if not attrs.get("file") and not attrs.get("image"):
            raise serializers.ValidationError("send an image: a multipart field 'file' or a JSON field 'image'")
        return attrs


class PredictionOutputSerializer(serializers.ModelSerializer):
    model_version = serializers.CharField(source="model_version.version", default=None, read_only=True)
    input_url = serializers.SerializerMethodField()
    original_url = serializers.SerializerMethodField()
    reason = serializers.SerializerMethodField()

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
            "reviewed_at",
        ]

    def get_reason(self, obj) -> str | None:
        return obj.reason or None

    def get_input_url(self, obj) -> str | None:
        if obj.model_input is None:
            return None
        from django.urls import reverse

        return reverse("prediction-input-png", args=[obj.pk])

    def get_original_url(self, obj) -> str | None:
        if not obj.original:
            return None
        from django.urls import reverse

        return reverse("prediction-original", args=[obj.pk])


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField()
    detail = serializers.JSONField(allow_null=True)


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded", "error"])
    model_loaded = serializers.BooleanField()
    model_version = serializers.CharField(allow_null=True)
    database = serializers.CharField()
    broker = serializers.CharField()
    errors = serializers.ListField(child=serializers.CharField(), required=False)
