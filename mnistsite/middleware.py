"""A database that stops answering gives a 503 with a clear message, never a 500 or a stack trace."""

import logging

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

JSON_PREFIXES = ("/api/", "/predict", "/health")


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        except (OperationalError, InterfaceError) as exc:
            return self.unavailable(request, exc)

    def process_exception(self, request, exc):
        if isinstance(exc, (OperationalError, InterfaceError)):
            return self.unavailable(request, exc)
        return None

    def unavailable(self, request, exc: DatabaseError):
        logger.error("database unavailable while serving %s: %s", request.path, exc)
        message = "the database is unavailable; try again in a moment"
        if request.path.startswith(JSON_PREFIXES):
            response = JsonResponse({"error": message, "detail": {"database": "unavailable"}}, status=503)
        else:
            response = HttpResponse(f"<h1>Service unavailable</h1><p>{message.capitalize()}.</p>", status=503)
        response["Retry-After"] = "10"
        return response
