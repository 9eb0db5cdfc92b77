"""DRF API classes: parse input, call one service, shape the output."""

import django_filters
from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from mnistsite.api_errors import ApiError
from mnistsite.health import health_report
from recognizer import access
from recognizer.models import Prediction
from recognizer.serializers import (
    ErrorSerializer,
    HealthSerializer,
    LiveSerializer,
    PredictInputSerializer,
    PredictionOutputSerializer,
    prediction_representation,
)
from recognizer.services import ImageDecodeError, InvalidImagePayload, image_payload_decode, prediction_create
from recognizer.serving import NoModelAvailable

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="The request holds no readable image."),
    413: OpenApiResponse(ErrorSerializer, description="The upload is larger than MAX_UPLOAD_BYTES."),
    415: OpenApiResponse(ErrorSerializer, description="Unsupported content type."),
    429: OpenApiResponse(ErrorSerializer, description="Too many requests from this client."),
    503: OpenApiResponse(ErrorSerializer, description="No model can be served."),
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

    @extend_schema(
        request={"multipart/form-data": PredictInputSerializer, "application/json": PredictInputSerializer},
        responses={200: PredictionOutputSerializer, **ERRORS},
    )
    def post(self, request):
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
                data=data, filename=filename, source=serializer.validated_data["source"], owner=request.user
            )
        except ImageDecodeError as exc:
            raise ApiError(str(exc), detail={"field": "file" if upload is not None else "image"}) from exc
        except NoModelAvailable as exc:
            raise ApiError(f"no model can be served: {exc}", status_code=status.HTTP_503_SERVICE_UNAVAILABLE) from exc
        if prediction.source != Prediction.Source.API:
            # The page's own requests: remembered so that /history shows them. API clients get
            # no session (a session row per request would only grow the database).
            access.session_remember(request, prediction)
        # A plain dict, not serializer.data: the browsable API would build its next form from the
        # serializer the data carries, and that is the output's, not PredictInputSerializer.
        return Response(prediction_representation(prediction, request=request), status=status.HTTP_200_OK)

    def get_serializer(self, *args, **kwargs) -> PredictInputSerializer:
        """The input serializer; DRF's browsable API builds its HTML form (a file input, the image
        text and the source) from this method, where an APIView has none."""
        return PredictInputSerializer(*args, context={"request": self.request, "view": self}, **kwargs)


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


class PredictionFilter(django_filters.FilterSet):
    digit = django_filters.NumberFilter(field_name="prediction")
    reviewed = django_filters.BooleanFilter(field_name="reviewed_at", lookup_expr="isnull", exclude=True)
    model_version = django_filters.CharFilter(field_name="model_version__version")
    created_after = django_filters.IsoDateTimeFilter(field_name="created", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created", lookup_expr="lt")
    date = django_filters.DateFilter(field_name="created", lookup_expr="date")

    class Meta:
        model = Prediction
        fields = ["digit", "rejected", "reviewed", "model_version", "source", "date", "created_after", "created_before"]


class PredictionListView(generics.ListAPIView):
    """Stored predictions, newest first: staff see all, a user their own."""

    serializer_class = PredictionOutputSerializer
    permission_classes = [IsAuthenticated]
    filterset_class = PredictionFilter

    def get_queryset(self):
        return access.predictions_visible(self.request)


class PredictionDetailView(generics.RetrieveAPIView):
    serializer_class = PredictionOutputSerializer
    permission_classes = [AllowAny]

    def get_queryset(self):
        return access.predictions_visible(self.request)
