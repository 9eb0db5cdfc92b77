"""Admin for batch jobs (imported by recognizer/admin.py)."""

from django.contrib import admin, messages
from django.utils.html import format_html

from recognizer import batch
from recognizer.models import BatchChunk, BatchJob


class BatchChunkInline(admin.TabularInline):
    model = BatchChunk
    fields = ["index", "start", "end", "done", "worker", "finished"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BatchJob)
class BatchJobAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "owner", "source", "progress_bar", "failed_items", "accuracy", "speed", "created"]
    list_filter = ["status", "has_labels"]
    search_fields = ["source", "owner__username"]
    date_hierarchy = "created"
    list_select_related = ["owner"]
    readonly_fields = [
        "status",
        "owner",
        "source",
        "total",
        "done",
        "failed_items",
        "has_labels",
        "accuracy",
        "confusion",
        "images_per_second",
        "error",
        "created",
        "started",
        "finished",
    ]
    inlines = [BatchChunkInline]
    actions = ["cancel_jobs"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="progress")
    def progress_bar(self, obj: BatchJob):
        return format_html(
            '<progress max="1" value="{}"></progress> {} / {}', f"{obj.progress:.4f}", obj.done, obj.total
        )

    @admin.display(description="images/s", ordering="images_per_second")
    def speed(self, obj: BatchJob):
        return f"{obj.images_per_second:.0f}" if obj.images_per_second else "–"

    @admin.action(description="Cancel the selected jobs")
    def cancel_jobs(self, request, queryset):
        cancelled = 0
        for job in queryset:
            cancelled += batch.batch_job_cancel(job=job).status == BatchJob.Status.CANCELLED and not job.finished_state
        self.message_user(request, f"{cancelled} job(s) cancelled.", messages.SUCCESS)
