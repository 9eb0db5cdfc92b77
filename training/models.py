from django.conf import settings
from django.db import models
from django.db.models import Q


class TrainingJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    preset = models.CharField(max_length=20, default="quick")
    params = models.JSONField(default=dict, help_text="Options the job was started with.")
    activate = models.CharField(max_length=10, default="auto", help_text="auto, force or never.")
    epoch = models.PositiveIntegerField(default=0)
    epochs = models.PositiveIntegerField(default=0)
    loss = models.FloatField(null=True, blank=True)
    accuracy = models.FloatField(null=True, blank=True)
    val_accuracy = models.FloatField(null=True, blank=True)
    log_tail = models.TextField(blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="host:pid of the process running it.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(auto_now=True, help_text="Last write by the worker running it.")

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"Training job {self.pk} ({self.preset}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class ModelVersion(models.Model):
    version = models.CharField(max_length=64, unique=True)
    architecture = models.CharField(max_length=64)
    accuracy = models.FloatField(help_text="Accuracy on the 10,000-image MNIST test set.")
    metrics = models.JSONField(default=dict)
    directory = models.CharField(
        max_length=500, help_text="Folder with model.tflite, model.keras, metrics.json, reports."
    )
    tflite_path = models.CharField(max_length=500)
    keras_path = models.CharField(max_length=500, blank=True)
    training_job = models.ForeignKey(
        TrainingJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions"
    )
    is_active = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    activated = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_model")
        ]

    def __str__(self) -> str:
        return f"{self.version} ({self.accuracy:.4f})"


class ModelComparison(models.Model):
    """One run of `manage.py compare_models`: a row per model in `results`."""

    created = models.DateTimeField(auto_now_add=True)
    results = models.JSONField(default=list)
    report_dir = models.CharField(max_length=500)
    command = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"Model comparison {self.pk} ({self.created:%Y-%m-%d %H:%M})"
