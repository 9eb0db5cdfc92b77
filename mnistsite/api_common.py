"""What every API operation shares: its error answers as the schema describes them, page numbers
that answer 400 when they are not numbers, and a JSON 404 for an /api/ address that names nothing."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse
from rest_framework import pagination, serializers, status

from mnistsite.api_errors import ApiError


class ErrorSerializer(serializers.Serializer):
    """Every API error: {"error": "<sentence>", "detail": ...} (mnistsite.api_errors)."""

    error = serializers.CharField()
    detail = serializers.JSONField(allow_null=True)


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


FORBIDDEN = error_response(
    "Not signed in, a token or session that is not valid, or an operation for staff only. "
    "(403, not 401: the first authentication is the session's, which sends no WWW-Authenticate.)"
)
NOT_FOUND = error_response("No such object, or not yours.")
BAD_QUERY = error_response("A query parameter is not valid: a page or filter value of the wrong type or out of range.")
PAGE_NOT_FOUND = error_response("A page past the last one.")

LIST_ERRORS = {400: BAD_QUERY, 403: FORBIDDEN, 404: PAGE_NOT_FOUND}
DETAIL_ERRORS = {403: FORBIDDEN, 404: NOT_FOUND}


class PageNumberPagination(pagination.PageNumberPagination):
    """DRF's page numbers; a page that is not a whole number of 1 or more is a 400 (a bad request),
    a page past the last one stays DRF's 404."""

    def get_page_number(self, request, paginator):
        page = request.query_params.get(self.page_query_param) or "1"
        if page in self.last_page_strings:
            return paginator.num_pages
        # 18 digits at most: int() of thousands of digits is refused (and costly).
        if not (page.isascii() and page.isdigit()) or len(page) > 18 or int(page) < 1:
            raise ApiError(f"page must be a whole number of 1 or more, not {page[:40]!r}", detail={"parameter": "page"})
        return page

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters


@csrf_exempt  # it changes nothing: a POST gets the same 404, not the CSRF failure page
def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """An /api/ address that no endpoint serves (`/api/batches/abc`): the API's JSON 404, not the
    site's HTML page."""
    return JsonResponse(
        {"error": "no API endpoint at this address", "detail": {"path": request.path[:200]}},
        status=status.HTTP_404_NOT_FOUND,
    )
