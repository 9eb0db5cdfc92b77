"""Reviews over HTTP: the review API and the /review page. Thin: the work is in
recognizer.services (reviews) and recognizer.selectors (the queue)."""

import datetime

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from mnistsite.api_common import FORBIDDEN, NOT_FOUND, error_response
from mnistsite.api_errors import ApiError
from recognizer.models import Prediction
from recognizer.selectors import predictions_review_queue
from recognizer.serializers import PredictionOutputSerializer, ReviewInputSerializer, prediction_representation
from recognizer.services import InvalidReviewLabel, prediction_review, prediction_review_clear
from training.models import ModelVersion

QUEUE_LIMIT_MAX = 50
EXCLUDE_MAX = 1000
# The counter counts at most this many: counting every unlabelled row of a table of millions
# takes most of a second, and past ten thousand nobody reads the exact number.
REMAINING_MAX = 10_000


def prediction_for_review(pk: int) -> Prediction:
    return get_object_or_404(Prediction.objects.select_related("model_version", "reviewed_by"), pk=pk)


class PredictionReviewView(APIView):
    """A person's label for one prediction (staff only): POST sets it, replacing any earlier label;
    DELETE takes a review back (the review page's undo), leaving the prediction unlabelled."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        request=ReviewInputSerializer,
        responses={
            200: PredictionOutputSerializer,
            400: error_response('The label is not a digit 0-9 or "none", or the prediction is a number.'),
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
    )
    def post(self, request, pk: int):
        prediction = prediction_for_review(pk)
        serializer = ReviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            prediction_review(
                prediction=prediction, true_label=serializer.validated_data["label"], reviewer=request.user
            )
        except InvalidReviewLabel as exc:  # a number: its true number is set in the admin
            raise ApiError(str(exc), detail={"field": "label"}) from exc
        return Response(prediction_representation(prediction, request=request), status=status.HTTP_200_OK)

    @extend_schema(request=None, responses={200: PredictionOutputSerializer, 403: FORBIDDEN, 404: NOT_FOUND})
    def delete(self, request, pk: int):
        prediction = prediction_review_clear(prediction=prediction_for_review(pk))
        return Response(prediction_representation(prediction, request=request), status=status.HTTP_200_OK)


class UtcDateTimeField(serializers.DateTimeField):
    """An ISO 8601 moment in UTC: PostgreSQL refuses offsets past 15:59, and a moment outside
    years 1 to 9999 once in UTC is no moment; both are a 400."""

    def to_internal_value(self, value):
        moment = super().to_internal_value(value)
        try:
            return moment.astimezone(datetime.UTC)
        except OverflowError as exc:
            raise serializers.ValidationError("the moment is out of range (years 1 to 9999, in UTC)") from exc


class IdListField(serializers.CharField):
    """Prediction ids separated by commas."""

    def to_internal_value(self, value):
        text = super().to_internal_value(value)
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if len(parts) > EXCLUDE_MAX:
            raise serializers.ValidationError(f"at most {EXCLUDE_MAX} ids")
        if not all(part.isascii() and part.isdigit() and len(part) <= 18 for part in parts):
            raise serializers.ValidationError("ids are whole numbers separated by commas")
        return [int(part) for part in parts]


class ReviewQueueQuerySerializer(serializers.Serializer):
    source = serializers.ChoiceField(
        choices=Prediction.Source.values, required=False, help_text="Only predictions from this source."
    )
    model_version = serializers.CharField(required=False, max_length=100, help_text="Only this model version.")
    created_after = UtcDateTimeField(required=False, help_text="Only predictions made at or after this moment.")
    created_before = UtcDateTimeField(required=False, help_text="Only predictions made before this moment.")
    exclude = IdListField(
        required=False,
        allow_blank=True,
        help_text=f"Ids to leave out (those skipped in this session), comma-separated; at most {EXCLUDE_MAX}.",
    )
    limit = serializers.IntegerField(
        required=False, default=10, min_value=1, max_value=QUEUE_LIMIT_MAX, help_text="How many to return."
    )


class ReviewQueueView(APIView):
    """The review queue (staff only): unlabelled predictions, most uncertain first (rejections,
    then a small margin between the two most likely digits, a high "not a digit" probability,
    low confidence). `remaining` counts every unlabelled one the filters match, excluded ones too,
    up to 10,000 (`remaining_exact` is false when there are more)."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        parameters=[ReviewQueueQuerySerializer],
        responses={
            200: inline_serializer(
                "ReviewQueue",
                {
                    "remaining": serializers.IntegerField(
                        help_text=f"Unlabelled predictions the filters match, at most {REMAINING_MAX}."
                    ),
                    "remaining_exact": serializers.BooleanField(
                        help_text=f"False when more than {REMAINING_MAX} are left (remaining then says so many)."
                    ),
                    "results": PredictionOutputSerializer(many=True),
                },
            ),
            400: error_response("A query parameter is not valid."),
            403: FORBIDDEN,
        },
    )
    def get(self, request):
        query = ReviewQueueQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        names = ("source", "model_version", "created_after", "created_before")
        filters = {name: query.validated_data.get(name) for name in names}
        remaining = predictions_review_queue(**filters)[: REMAINING_MAX + 1].count()
        queue = predictions_review_queue(**filters, exclude_ids=query.validated_data.get("exclude") or ())
        items = queue.select_related("model_version", "reviewed_by")[: query.validated_data["limit"]]
        results = [prediction_representation(item, request=request) for item in items]
        exact = remaining <= REMAINING_MAX
        return Response({"remaining": min(remaining, REMAINING_MAX), "remaining_exact": exact, "results": results})


@require_GET
@login_required
def review_page(request):
    """One prediction at a time, most uncertain first; static/js/review.js calls the API above."""
    if not request.user.is_staff:
        raise PermissionDenied("only staff review predictions")
    context = {
        "sources": Prediction.Source.choices,
        "versions": list(ModelVersion.objects.order_by("-created").values_list("version", flat=True)[:200]),
        "filters": {key: request.GET.get(key, "") for key in ("source", "model_version", "date_from", "date_to")},
    }
    return render(request, "recognizer/review.html", context)


pages = [path("review", review_page, name="review")]

api_urls = [
    path("predictions/<int:pk>/review", PredictionReviewView.as_view(), name="api-prediction-review"),
    path("review/queue", ReviewQueueView.as_view(), name="api-review-queue"),
]
