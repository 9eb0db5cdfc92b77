"""Batch jobs over HTTP: the API classes and the two pages. Thin: the work is in recognizer.batch."""

import csv
import io

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_http_methods
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from mnistsite.api_common import DETAIL_ERRORS, FORBIDDEN, LIST_ERRORS, error_response
from mnistsite.api_errors import ApiError
from mnistsite.health import BrokerUnavailable
from mnistsite.objectstore import ObjectStorageError
from recognizer import batch
from recognizer.batch_sources import BatchSourceError
from recognizer.models import BatchJob, Kind
from recognizer.serializers import UploadField


def max_upload_bytes() -> int:
    return settings.BATCH_MAX_UPLOAD_BYTES


class BatchCreateInputSerializer(serializers.Serializer):
    file = UploadField(required=False, help_text="A zip archive of images (folders 0-9 give labels).")
    files = serializers.ListField(
        child=UploadField(), required=False, help_text="Several image files instead of a zip."
    )
    mode = serializers.ChoiceField(
        choices=Kind.choices,
        required=False,
        default=Kind.DIGIT,
        help_text="digit: one digit per image; number: a number per image (labels from a labels.csv "
        "with file,label, or folders named with digits; accuracy as exact-string match).",
    )

    def validate(self, attrs):
        if not attrs.get("file") and not attrs.get("files"):
            raise serializers.ValidationError("send a zip archive as 'file' or images as 'files'")
        return attrs


class BatchJobOutputSerializer(serializers.ModelSerializer):
    succeeded = serializers.SerializerMethodField(help_text="Items read and recognised (rejections included).")
    failed = serializers.IntegerField(source="failed_items", help_text="Items that are not readable images.")
    progress = serializers.FloatField(help_text="0 to 1.")
    results = serializers.SerializerMethodField()

    class Meta:
        model = BatchJob
        fields = [
            "id",
            "status",
            "mode",
            "source",
            "total",
            "done",
            "succeeded",
            "failed",
            "progress",
            "images_per_second",
            "has_labels",
            "accuracy",
            "confusion",
            "created",
            "started",
            "finished",
            "error",
            "results",
        ]

    def get_succeeded(self, obj) -> int:
        return obj.done - obj.failed_items

    def get_results(self, obj) -> dict[str, str]:
        return {
            "csv": reverse("api-batch-results-csv", args=[obj.pk]),
            "json": reverse("api-batch-results-json", args=[obj.pk]),
            "page": reverse("batch-detail", args=[obj.pk]),
        }


ERRORS = {
    400: error_response("Not a zip archive, or no files."),
    403: FORBIDDEN,
    413: error_response("The upload is larger than BATCH_MAX_UPLOAD_BYTES, or sends more files than Django's limit."),
    415: error_response("Not a multipart (or form) body."),
    503: error_response("The broker cannot take the job's tasks now, or the object storage cannot store its input."),
}


def _job_or_404(request, pk: int) -> BatchJob:
    job = batch.batch_jobs_visible(user=request.user).filter(pk=pk).first()
    if job is None:
        raise Http404("no such batch job")
    return job


class BatchListCreateView(generics.ListAPIView):
    """Your batch jobs (staff: all), newest first; POST a zip (or images) to start one."""

    serializer_class = BatchJobOutputSerializer
    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self):
        return batch.batch_jobs_visible(user=self.request.user)

    @extend_schema(responses={200: BatchJobOutputSerializer(many=True), **LIST_ERRORS})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": BatchCreateInputSerializer},
        responses={201: BatchJobOutputSerializer, **ERRORS},
    )
    def post(self, request):
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > max_upload_bytes() + 1024 * 1024:
            raise ApiError(
                f"the upload is {declared} bytes; the limit is {max_upload_bytes()} bytes",
                status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                detail={"limit_bytes": max_upload_bytes()},
            )
        data = {"files": request.FILES.getlist("files")} if "files" in request.FILES else {}
        if "mode" in request.data:
            data["mode"] = request.data["mode"]
        if "file" in request.FILES:
            data["file"] = request.FILES["file"]
        serializer = BatchCreateInputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        try:
            job = batch.batch_job_create(
                archive=serializer.validated_data.get("file"),
                files=serializer.validated_data.get("files"),
                owner=request.user,
                mode=serializer.validated_data["mode"],
            )
        except BatchSourceError as exc:
            raise ApiError(str(exc), detail={"field": "file"}) from exc
        return Response(BatchJobOutputSerializer(job).data, status=status.HTTP_201_CREATED)


class BatchDetailView(APIView):
    """A job's state and progress; poll it while the job runs."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: BatchJobOutputSerializer, **DETAIL_ERRORS})
    def get(self, request, pk: int):
        return Response(BatchJobOutputSerializer(_job_or_404(request, pk)).data)


class BatchCancelView(APIView):
    """Cancel a queued or running job; chunks not yet written are skipped."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={200: BatchJobOutputSerializer, **DETAIL_ERRORS, 409: error_response("The job has finished.")},
    )
    def post(self, request, pk: int):
        job = _job_or_404(request, pk)
        if job.finished_state:
            raise ApiError(f"the job has already {job.status}", status_code=status.HTTP_409_CONFLICT)
        job = batch.batch_job_cancel(job=job)
        return Response(BatchJobOutputSerializer(job).data)


class BatchResultsJsonView(APIView):
    """One row per item: index, name, prediction, confidence, rejected, reason, true_label, error."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: OpenApiResponse(description="{job, results: [rows]}"), **DETAIL_ERRORS})
    def get(self, request, pk: int):
        job = _job_or_404(request, pk)
        return Response({"job": job.pk, "status": job.status, "results": list(batch.batch_results(job=job))})


class BatchResultsCsvView(APIView):
    """The same rows as CSV, streamed."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(description="CSV rows"), **DETAIL_ERRORS})
    def get(self, request, pk: int):
        job = _job_or_404(request, pk)

        def lines():
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=batch.RESULT_FIELDS)
            writer.writeheader()
            for number, row in enumerate(batch.batch_results(job=job)):
                writer.writerow(batch.batch_results_csv_row(row))
                if number % 500 == 499:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="batch-{job.pk}-results.csv"'
        return response


# --------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------


@login_required  # settings.LOGIN_URL: the site's login page, back here with ?next=
@require_http_methods(["GET", "POST"])
def batch_new(request):
    error, unavailable = None, False
    mode = request.POST.get("mode", Kind.DIGIT)
    if request.method == "POST":
        upload = request.FILES.get("file")
        if mode not in Kind.values:
            error = "Choose what each image holds: one digit or a number."
        elif upload is None:
            error = "Choose a zip archive of images."
        elif upload.size > max_upload_bytes():
            error = f"The archive is {upload.size} bytes; the limit is {max_upload_bytes()} bytes."
        else:
            try:
                job = batch.batch_job_create(archive=upload, owner=request.user, mode=mode)
            except (BatchSourceError, BrokerUnavailable, ObjectStorageError) as exc:
                error = f"{str(exc)[:1].upper()}{str(exc)[1:]}."
                unavailable = isinstance(exc, BrokerUnavailable | ObjectStorageError)
            else:
                return redirect("batch-detail", pk=job.pk)
    status_code = 503 if unavailable else 400 if error else 200
    return render(
        request, "recognizer/batch_new.html", {"error": error, "mode": mode, "modes": Kind.choices}, status=status_code
    )


@login_required
@require_GET
def batch_detail(request, pk: int):
    job = _job_or_404(request, pk)
    return render(
        request,
        "recognizer/batch_detail.html",
        {"job": job, "data": BatchJobOutputSerializer(job).data, "digits": range(10)},
    )


pages = [
    path("batches/new", batch_new, name="batch-new"),
    path("batches/<int:pk>", batch_detail, name="batch-detail"),
]

api_urls = [
    path("batches", BatchListCreateView.as_view(), name="api-batch-list"),
    path("batches/<int:pk>", BatchDetailView.as_view(), name="api-batch-detail"),
    path("batches/<int:pk>/cancel", BatchCancelView.as_view(), name="api-batch-cancel"),
    path("batches/<int:pk>/results.csv", BatchResultsCsvView.as_view(), name="api-batch-results-csv"),
    path("batches/<int:pk>/results.json", BatchResultsJsonView.as_view(), name="api-batch-results-json"),
]
