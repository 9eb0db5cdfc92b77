"""Training jobs, model versions (with an "activate" action) and model comparisons."""

from django.contrib import admin, messages
from django.utils.html import format_html

from training.models import ModelComparison, ModelVersion, TrainingJob
from training.services import model_version_activate


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "preset", "progress", "accuracy", "val_accuracy", "created", "started", "finished"]
    list_filter = ["status", "phase", "preset"]
    search_fields = ["id", "preset", "error", "worker"]
    date_hierarchy = "created"
    fields = [
        "status",
        "preset",
        "activate",
        "params",
        "progress",
        "phase_times",
        "loss",
        "accuracy",
        "val_accuracy",
        "requested_by",
        "worker",
        "created",
        "started",
        "finished",
        "heartbeat",
        "error",
        "log",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # start jobs with `manage.py train_model` or the API, which queue them

    def has_change_permission(self, request, obj=None):
        return False  # the worker writes these rows

    @admin.display(description="progress")
    def progress(self, obj):
        return obj.progress_text

    @admin.display(description="time per phase")
    def phase_times(self, obj):
        return (
            ", ".join(
                f"{p['phase']} {p['seconds']:.0f} s" if p.get("seconds") is not None else f"{p['phase']} (now)"
                for p in obj.phases
                if isinstance(p, dict) and p.get("phase")
            )
            or "–"
        )

    @admin.display(description="log tail")
    def log(self, obj):
        return format_html('<pre style="white-space:pre-wrap;max-height:24rem;overflow:auto">{}</pre>', obj.log_tail)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["version", "architecture", "accuracy", "is_active", "created", "activated", "training_job"]
    list_filter = ["is_active", "architecture"]
    search_fields = ["version", "architecture"]
    list_select_related = ["training_job"]
    readonly_fields = [
        "version",
        "architecture",
        "accuracy",
        "metrics",
        "directory",
        "tflite_path",
        "keras_path",
        "sha256",
        "storage_prefix",
        "training_job",
        "is_active",
        "created",
        "activated",
    ]
    actions = ["activate"]

    def has_add_permission(self, request):
        return False  # versions are registered by training (model_version_register)

    @admin.action(description="Activate the selected version (serve it now)")
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        version = model_version_activate(version=queryset.get(), force=True)
        self.message_user(request, f"{version.version} is now the active model.", messages.SUCCESS)


@admin.register(ModelComparison)
class ModelComparisonAdmin(admin.ModelAdmin):
    list_display = ["id", "created", "models", "best", "report_dir"]
    readonly_fields = ["created", "results", "report_dir", "command"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="models")
    def models(self, obj):
        return len(obj.results) if isinstance(obj.results, list) else 0

    @admin.display(description="best")
    def best(self, obj):
        rows = [r for r in obj.results if isinstance(r, dict) and isinstance(r.get("accuracy"), int | float)]
        if not rows:
            return "–"
        top = max(rows, key=lambda r: r["accuracy"])
        return f"{top.get('name', '?')} ({top['accuracy']:.4f})"
