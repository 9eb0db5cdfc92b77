from rest_framework import serializers

from training.models import ModelVersion, TrainingJob


class TrainingJobSerializer(serializers.ModelSerializer):
    model_version = serializers.SerializerMethodField()

    class Meta:
        model = TrainingJob
        fields = [
            "id",
            "status",
            "preset",
            "params",
            "activate",
            "phase",
            "step",
            "steps",
            "progress_message",
            "eta_seconds",
            "phases",
            "heartbeat",
            "epoch",
            "epochs",
            "loss",
            "accuracy",
            "val_accuracy",
            "log_tail",
            "error",
            "worker",
            "created",
            "started",
            "finished",
            "model_version",
        ]

    def get_model_version(self, obj) -> str | None:
        version = obj.model_versions.order_by("-created").first()
        return version.version if version else None


class ModelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["id", "version", "architecture", "accuracy", "is_active", "created", "activated", "training_job"]
