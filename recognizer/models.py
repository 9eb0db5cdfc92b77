import uuid
from pathlib import PurePath

from django.conf import settings
from django.db import models


def upload_path(instance: "Prediction", filename: str) -> str:
    # A random name: what the client called the file never reaches the file system.
    suffix = PurePath(filename).suffix.lower()
    if not suffix.isascii() or not suffix[1:].isalnum() or len(suffix) > 6:
        suffix = ".bin"
    return f"uploads/{instance.created_day():%Y/%m/%d}/{uuid.uuid4().hex}{suffix}"


NOT_A_DIGIT = 10
TRUE_LABEL_CHOICES = [(d, str(d)) for d in range(10)] + [(NOT_A_DIGIT, "not a digit")]


class LabelSource(models.TextChoices):
    NONE = "", "no label"
    REVIEW = "review", "review by staff"
    BATCH = "batch", "label from a batch"


class Kind(models.TextChoices):
    """What was read: one digit (/api/predict) or a number of several (/api/read)."""

    DIGIT = "digit", "one digit"
    NUMBER = "number", "a number"


#: The longest number stored (vision.segment reads at most MAX_DIGITS digits).
TEXT_MAX_LENGTH = 64


class Prediction(models.Model):
    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload page"
        CANVAS = "canvas", "Drawing canvas"
        API = "api", "API"
        BATCH = "batch", "Batch job"

    created = models.DateTimeField(auto_now_add=True, db_index=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.API)
    kind = models.CharField(max_length=6, choices=Kind.choices, default=Kind.DIGIT)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="predictions"
    )
    original = models.FileField(upload_to=upload_path, blank=True)
    original_name = models.CharField(max_length=255, blank=True, help_text="The file name the client sent.")
    # The 28x28 image the model saw, as 784 bytes (uint8, row-major).
    model_input = models.BinaryField(null=True, blank=True, editable=False)
    prediction = models.PositiveSmallIntegerField(null=True, blank=True, db_index=True)
    confidence = models.FloatField(default=0.0)
    probs = models.JSONField(default=list, help_text="The ten digit probabilities.")
    no_digit_prob = models.FloatField(default=0.0)
    # A number (kind "number"): the digits read, or "" when rejected; each digit with its
    # confidence, box [x, y, w, h] in the upload's pixels and ten probabilities. `confidence`
    # is then the least sure digit's, `prediction` and `probs` stay empty.
    text = models.CharField(max_length=TEXT_MAX_LENGTH, blank=True)
    digits = models.JSONField(default=list, blank=True)
    rejected = models.BooleanField(default=False, db_index=True)
    reason = models.CharField(max_length=255, blank=True)
    # How much a review would teach us (recognizer.uncertainty), computed once when the row is
    # written; null for a row with nothing to show a reviewer. The review queue sorts on it.
    uncertainty = models.FloatField(null=True, blank=True, editable=False)
    # No index of its own: the (model_version, created) index serves it.
    model_version = models.ForeignKey(
        "training.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="predictions",
        db_index=False,
    )
    preprocess_ms = models.FloatField(default=0.0)
    inference_ms = models.FloatField(default=0.0)
    # The true answer: 0-9, or NOT_A_DIGIT (10, the model's own "not a digit" class). Where it came
    # from is label_source: a person's review, or a label that arrived with a batch (label folders,
    # IDX labels). Only reviews make the field set; batch labels score their job.
    true_label = models.PositiveSmallIntegerField(null=True, blank=True, choices=TRUE_LABEL_CHOICES)
    # The true number (kind "number"), from a review or a batch's labels; label_source says which.
    true_text = models.CharField(max_length=TEXT_MAX_LENGTH, blank=True)
    label_source = models.CharField(max_length=8, choices=LabelSource.choices, blank=True, db_index=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # Batch items: the job, the item's place in it, and why it could not be read (if so).
    # No index of its own: prediction_unique_batch_item (batch_job, batch_index) serves it.
    batch_job = models.ForeignKey(
        "recognizer.BatchJob", null=True, blank=True, on_delete=models.CASCADE, related_name="items", db_index=False
    )
    batch_index = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True, help_text="Why a batch item could not be read.")

    class Meta:
        ordering = ["-created", "-id"]
        # Every index costs each insert (a batch job writes thousands of rows a second):
        # no index that another one already serves, and no pattern (LIKE) index on source.
        indexes = [
            models.Index(fields=["model_version", "created"]),
            models.Index(fields=["source"], name="prediction_source"),
            # The review queue (recognizer.selectors.predictions_review_queue): rows of one label
            # source, most uncertain first, read in index order with no sort, at any table size.
            models.Index(
                fields=["label_source", "-uncertainty", "id"],
                name="prediction_review_queue",
                condition=models.Q(uncertainty__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["batch_job", "batch_index"],
                condition=models.Q(batch_job__isnull=False),
                name="prediction_unique_batch_item",
            )
        ]

    def __str__(self) -> str:
        answer = "rejected" if self.rejected else (self.text if self.kind == Kind.NUMBER else self.prediction)
        return f"Prediction {self.pk}: {answer}"

    def created_day(self):
        from django.utils import timezone

        return self.created or timezone.now()

    @property
    def reviewed(self) -> bool:
        return self.reviewed_at is not None

    @property
    def correct(self) -> bool | None:
        if self.kind == Kind.NUMBER:
            return None if not self.true_text else self.text == self.true_text
        if self.true_label is None:
            return None
        if self.rejected:  # a refusal is right when the image is not a digit
            return self.true_label == NOT_A_DIGIT
        return self.prediction == self.true_label


class BatchJob(models.Model):
    """Many images recognised by workers, chunk by chunk (recognizer/batch.py)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    mode = models.CharField(
        max_length=6, choices=Kind.choices, default=Kind.DIGIT, help_text="Read one digit or a number per image."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="batch_jobs"
    )
    source = models.CharField(max_length=500, blank=True, help_text="What was submitted (file or path).")
    stage_dir = models.CharField(
        max_length=64, blank=True, help_text="Folder under MEDIA_ROOT/batches with the staged input (empty: the id)."
    )
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0, help_text="Items written.")
    failed_items = models.PositiveIntegerField(default=0, help_text="Items that are not readable images.")
    has_labels = models.BooleanField(default=False)
    accuracy = models.FloatField(null=True, blank=True)
    confusion = models.JSONField(null=True, blank=True, help_text="Rows: true digit; columns: 0-9, rejected.")
    images_per_second = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"Batch job {self.pk} ({self.status}, {self.done}/{self.total})"

    @property
    def finished_state(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED, self.Status.CANCELLED)

    @property
    def progress(self) -> float:
        if self.status == self.Status.SUCCEEDED:
            return 1.0
        return min(1.0, self.done / self.total) if self.total else 0.0


class BatchChunk(models.Model):
    """Items [start, end) of a job: one Celery task."""

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    done = models.BooleanField(default=False)
    worker = models.CharField(max_length=255, blank=True, help_text="The worker that holds or wrote the chunk.")
    sent = models.DateTimeField(null=True, blank=True, help_text="When its task was last queued.")
    claimed = models.DateTimeField(null=True, blank=True, help_text="When a worker received its task.")
    started = models.DateTimeField(null=True, blank=True, help_text="When the run that wrote it began.")
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="batchchunk_unique_index")]

    def __str__(self) -> str:
        return f"Chunk {self.index} of job {self.job_id} [{self.start}, {self.end})"
