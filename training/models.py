from django.conf import settings
from django.db import models
from django.db.models import Q

from training.progress import PHASE_CHOICES, TRAINING


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
    phase = models.CharField(max_length=16, choices=PHASE_CHOICES, blank=True, help_text="What the run is doing now.")
    step = models.PositiveIntegerField(default=0, help_text="How far the phase got: batch, image or byte.")
    steps = models.PositiveIntegerField(default=0, help_text="Of how many (0: not counted); per epoch in training.")
    progress_message = models.CharField(max_length=255, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True, help_text="Time left in this phase, from measured rates.")
    phases = models.JSONField(default=list, blank=True, help_text="Phases reached, in order, with their seconds.")
    log_tail = models.TextField(blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="host:pid of the process running it.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(auto_now_add=True)
    sent = models.DateTimeField(null=True, blank=True, help_text="When its task was last queued.")
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

    @property
    def progress_text(self) -> str:
        """One line saying how far it got: "Training: epoch 2/4, batch 120/469, about 1 min 5 s left"."""
        return self.progress_line(message=True)

    @property
    def progress_summary(self) -> str:
        """The same without the message, which may name server paths: for the public page."""
        return self.progress_line(message=False)

    def progress_line(self, *, message: bool) -> str:
        if not self.phase:
            return self.get_status_display()
        parts = []
        if self.phase == TRAINING and self.epochs:
            parts.append(f"epoch {min(self.epoch + 1, self.epochs)}/{self.epochs}")
            if self.steps:
                parts.append(f"batch {self.step}/{self.steps}")
        elif self.steps:
            parts.append(f"{self.step:,} of {self.steps:,}")
        if message and self.progress_message and self.phase != TRAINING:
            parts.append(self.progress_message)
        if self.eta_seconds is not None and not self.is_finished:
            parts.append(f"about {duration_text(self.eta_seconds)} left")
        return self.get_phase_display() + (": " + ", ".join(parts) if parts else "")

    @property
    def fraction_done(self) -> float | None:
        """How much of the current phase is done (training: of all its epochs), or None."""
        if self.phase == TRAINING and self.epochs and self.steps:
            return min(1.0, (self.epoch * self.steps + self.step) / (self.epochs * self.steps))
        if self.steps:
            return min(1.0, self.step / self.steps)
        return None


def duration_text(seconds: float) -> str:
    """75 -> "1 min 15 s"; 3700 -> "1 h 2 min"."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


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
    sha256 = models.CharField(max_length=64, blank=True, help_text="SHA-256 of model.tflite, checked before serving.")
    storage_prefix = models.CharField(
        max_length=500, blank=True, help_text="Its folder in the object storage (empty: on the local disk only)."
    )
    training_job = models.ForeignKey(
        TrainingJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions"
    )
    is_active = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    activated = models.DateTimeField(null=True, blank=True)
    temperature = models.FloatField(
        default=1.0, help_text="Calibration: serving uses softmax(log(p) / T) (fitted at export; 1 = none)."
    )
    field_scores = models.JSONField(
        default=dict, blank=True, help_text="Scores on the field-test set of reviewed uploads, with its size and when."
    )
    field_calibration = models.JSONField(
        default=dict,
        blank=True,
        help_text="A second temperature for inputs that look like the reviewed field, fitted on reviews this "
        "version never trained on (vision.calibration.field_calibration_fit), or why there is none yet.",
    )
    activation_note = models.TextField(blank=True, help_text="Why the activation gate did or did not activate it.")

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
    storage_prefix = models.CharField(
        max_length=500, blank=True, help_text="Its report's folder in the object storage (empty: report_dir only)."
    )
    command = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"Model comparison {self.pk} ({self.created:%Y-%m-%d %H:%M})"
