"""Every API error is JSON of one shape: {"error": "<sentence>", "detail": ...}."""

from kombu.exceptions import OperationalError as BrokerError
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ApiError(APIException):
    """An error a service raises for the API to answer with its status code."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The request could not be processed."

    def __init__(self, message: str, *, status_code: int | None = None, detail=None):
        super().__init__(message)
        if status_code is not None:
            self.status_code = status_code
        self.message = message
        self.extra = detail


def error_response(message: str, *, status_code: int, detail=None) -> Response:
    return Response({"error": message, "detail": detail}, status=status_code)


# Django's limits on a request body: (its exception's name, the setting, the sentence, the detail key).
_BODY_LIMITS = [
    (
        "TooManyFilesSent",
        "DATA_UPLOAD_MAX_NUMBER_FILES",
        "too many files in one request: the limit is {limit}; send more images as one zip archive",
        "limit_files",
    ),
    (
        "TooManyFieldsSent",
        "DATA_UPLOAD_MAX_NUMBER_FIELDS",
        "too many form fields in one request: the limit is {limit}",
        "limit_fields",
    ),
    (
        "RequestDataTooBig",
        "DATA_UPLOAD_MAX_MEMORY_SIZE",
        "the request body is too large: the limit for fields other than files is {limit} bytes",
        "limit_bytes",
    ),
]


def request_too_big_response(exc) -> Response | None:
    """Django's limits on a request body, met while DRF parses it: a JSON answer that names
    the limit, where Django would answer its HTML 400 page. None for other exceptions."""
    from django.conf import settings
    from django.core import exceptions

    for name, setting, sentence, key in _BODY_LIMITS:
        if isinstance(exc, getattr(exceptions, name)):
            limit = getattr(settings, setting)
            return error_response(
                sentence.format(limit=limit),
                status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                detail={key: limit},
            )
    return None


def _is_boto_error(exc: Exception) -> bool:
    """botocore's errors (an upload's FileField.save on S3), without importing boto where it is unused."""
    return type(exc).__module__.startswith("botocore.") or type(exc).__module__.startswith("boto3.")


def exception_handler(exc, context):
    from mnistsite.health import BrokerUnavailable
    from mnistsite.objectstore import ObjectStorageError

    too_big = request_too_big_response(exc)
    if too_big is not None:
        return too_big
    if isinstance(exc, BrokerUnavailable):
        return error_response(
            str(exc), status_code=status.HTTP_503_SERVICE_UNAVAILABLE, detail={"broker": "unavailable"}
        )
    if isinstance(exc, ObjectStorageError) or _is_boto_error(exc):  # files could not be stored or read
        return error_response(
            "files cannot be stored right now: the object storage failed; try again in a moment",
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail={"storage": "unavailable"},
        )
    if isinstance(exc, BrokerError):  # a broker that failed past the checks: 503, never a 500
        return error_response(
            f"jobs cannot be queued right now: the broker failed ({type(exc).__name__}); try again in a moment",
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail={"broker": "unavailable"},
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiError):
        response.data = {"error": exc.message, "detail": exc.extra}
        return response
    data = response.data
    if isinstance(data, dict) and set(data) == {"detail"}:
        response.data = {"error": str(data["detail"]), "detail": None}
    else:
        response.data = {"error": "The request is not valid.", "detail": data}
    return response
