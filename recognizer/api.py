"""DRF API classes: parse input, call one service, shape the output."""

import datetime

import django_filters
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from mnistsite.api_common import DETAIL_ERRORS, FORBIDDEN, LIST_ERRORS, ErrorSerializer
from mnistsite.api_errors import ApiError
from mnistsite.health import health_report
from recognizer import access
from recognizer.models import Kind, LabelSource, Prediction
from recognizer.serializers import (
    HealthSerializer,
    LiveSerializer,
    PredictInputSerializer,
    PredictionOutputSerializer,
    PredictJsonInputSerializer,
    ReadOutputSerializer,
    number_representation,
    prediction_representation,
)
from recognizer.services import ImageDecodeError, InvalidImagePayload, image_payload_decode, prediction_create
from recognizer.serving import NoModelAvailable

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="The request holds no readable image."),
    403: FORBIDDEN,
    413: OpenApiResponse(
        ErrorSerializer,
        description="The upload is larger than MAX_UPLOAD_BYTES, or has more fields than Django's limit.",
    ),
    415: OpenApiResponse(ErrorSerializer, description="Unsupported content type."),
    429: OpenApiResponse(ErrorSerializer, description="Too many requests from this client."),
    503: OpenApiResponse(ErrorSerializer, description="No model can be served, or the object storage failed."),
}


def upload_too_large(size: int) -> ApiError:
    return ApiError(
        f"the upload is {size} bytes; the limit is {settings.MAX_UPLOAD_BYTES} bytes",
        status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        detail={"limit_bytes": settings.MAX_UPLOAD_BYTES},
    )


class PredictView(APIView):
    """Recognise one digit. Public; throttled per client by PREDICT_RATE_LIMIT."""

    permission_classes = [AllowAny]
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "predict"
    kind = Kind.DIGIT

    @extend_schema(
        request={"multipart/form-data": PredictInputSerializer, "application/json": PredictJsonInputSerializer},
        responses={200: PredictionOutputSerializer, **ERRORS},
    )
    def post(self, request):
        return self.recognise(request)

    def represent(self, prediction: Prediction, request) -> dict:
        return prediction_representation(prediction, request=request)

    def recognise(self, request):
        """Size checks, the multipart `file` or JSON `image`, one prediction_create of this
        view's kind, the errors: shared by /api/predict and /api/read."""
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > settings.MAX_UPLOAD_BYTES + 64 * 1024:  # room for the multipart envelope
            raise upload_too_large(declared)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data.get("file")
        if upload is not None:
            if upload.size > settings.MAX_UPLOAD_BYTES:
                raise upload_too_large(upload.size)
            data, filename = upload.read(), upload.name
        else:
            try:
                data = image_payload_decode(serializer.validated_data["image"])
            except InvalidImagePayload as exc:
                raise ApiError(str(exc), detail={"field": "image"}) from exc
            if len(data) > settings.MAX_UPLOAD_BYTES:
                raise upload_too_large(len(data))
            filename = "canvas.png"
        if not data:
            raise ApiError("the uploaded file is empty", detail={"field": "file"})
        try:
            prediction = prediction_create(
                data=data,
                filename=filename,
                source=serializer.validated_data["source"],
                owner=request.user,
                kind=self.kind,
            )
        except ImageDecodeError as exc:
            raise ApiError(str(exc), detail={"field": "file" if upload is not None else "image"}) from exc
        except NoModelAvailable as exc:
            raise ApiError(f"no model can be served: {exc}", status_code=status.HTTP_503_SERVICE_UNAVAILABLE) from exc
        if prediction.source != Prediction.Source.API:
            # The page's own requests: remembered so that /history shows them. API clients, and
            # cookie-less calls of any source, get no session (a row per call would only grow the
            # database).
            access.session_remember_for_browser(request, prediction)
        # A plain dict, not serializer.data: the browsable API would build its next form from the
        # serializer the data carries, and that is the output's, not PredictInputSerializer.
        return Response(self.represent(prediction, request), status=status.HTTP_200_OK)

    def get_serializer(self, *args, **kwargs) -> PredictInputSerializer:
        """The input serializer; DRF's browsable API builds its HTML form (a file input, the image
        text and the source) from this method, where an APIView has none."""
        return PredictInputSerializer(*args, context={"request": self.request, "view": self}, **kwargs)


class ReadView(PredictView):
    """Read a number (postcode, amount, meter reading...): the digits left to right, each with
    its box. Takes what /api/predict takes, with the same limits, errors and throttle
    (PREDICT_RATE_LIMIT, shared with /api/predict). `text` is null when the image is rejected:
    no ink, a word or a picture rather than a number, or a digit the model is unsure of (named
    in `reason`). Dots, commas and dashes are skipped."""

    kind = Kind.NUMBER

    @extend_schema(
        request={"multipart/form-data": PredictInputSerializer, "application/json": PredictJsonInputSerializer},
        responses={200: ReadOutputSerializer, **ERRORS},
    )
    def post(self, request):
        return self.recognise(request)

    def represent(self, prediction: Prediction, request) -> dict:
        return number_representation(prediction, request=request)


class HealthView(APIView):
    """Can predictions be served, and can jobs run? 200 "ok" or "degraded", 503 "error"
    only when a prediction cannot be served (mnistsite.health says what each means)."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses={200: HealthSerializer, 503: HealthSerializer})
    def get(self, request):
        body, code = health_report()
        return Response(body, status=code)


class HealthLiveView(APIView):
    """The process answers; nothing else is checked (a liveness probe)."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses={200: LiveSerializer})
    def get(self, request):
        return Response({"status": "ok"})


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 moment, turned to UTC. PostgreSQL refuses a UTC offset past 15:59 (DataError,
    a 500), and a moment outside years 1 to 9999 once in UTC is no moment: both are a 400."""

    def to_python(self, value):
        try:
            moment = super().to_python(value)
            return None if moment is None else moment.astimezone(datetime.UTC)
        except OverflowError as exc:
            raise ValidationError("the moment is out of range (years 1 to 9999, in UTC)", code="invalid") from exc


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


@extend_schema_field({"type": "integer", "minimum": 0, "maximum": 9})
class DigitFilter(django_filters.NumberFilter):
    """A digit, 0 to 9: anything else (1.5, -3, 1e16) is a 400, not an empty list."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=0, max_value=9, **kwargs)


class StrictBooleanField(forms.NullBooleanField):
    """true/false (or 1/0): django-filter's boolean reads any other word as "no filter"."""

    widget = forms.TextInput  # NullBooleanSelect would turn any other word into None first

    def to_python(self, value):
        if value in (None, ""):
            return None
        if str(value).lower() in ("true", "1"):
            return True
        if str(value).lower() in ("false", "0"):
            return False
        raise ValidationError("use true or false", code="invalid")

    def validate(self, value):
        pass


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class PredictionFilter(django_filters.FilterSet):
    digit = DigitFilter(field_name="prediction")
    rejected = StrictBooleanFilter()
    # Reviewed by a person: a label that came with a batch is not a review.
    reviewed = StrictBooleanFilter(method="filter_reviewed", help_text="Reviewed by a person (true) or not (false).")
    model_version = django_filters.CharFilter(field_name="model_version__version")
    created_after = UtcIsoDateTimeFilter(field_name="created", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created", lookup_expr="lt")
    date = django_filters.DateFilter(field_name="created", lookup_expr="date")

    def filter_reviewed(self, queryset, name, value):
        if value is None:
            return queryset
        reviews = Q(label_source=LabelSource.REVIEW)
        return queryset.filter(reviews) if value else queryset.exclude(reviews)

    class Meta:
        model = Prediction
        fields = [
            "digit",
            "kind",
            "rejected",
            "reviewed",
            "model_version",
            "source",
            "date",
            "created_after",
            "created_before",
        ]


@extend_schema_view(get=extend_schema(responses={200: PredictionOutputSerializer(many=True), **LIST_ERRORS}))
class PredictionListView(generics.ListAPIView):
    """Stored predictions, newest first: staff see all, a user their own."""

    serializer_class = PredictionOutputSerializer
    permission_classes = [IsAuthenticated]
    filterset_class = PredictionFilter

    def get_queryset(self):
        return access.predictions_visible(self.request)


@extend_schema_view(get=extend_schema(responses={200: PredictionOutputSerializer, **DETAIL_ERRORS}))
class PredictionDetailView(generics.RetrieveAPIView):
    serializer_class = PredictionOutputSerializer
    permission_classes = [AllowAny]

    def get_queryset(self):
        return access.predictions_visible(self.request)
