"""The project's URLs plus two views that do nothing but read the upload (bench/framework_floor.py)."""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from mnistsite.urls import urlpatterns as project_urlpatterns


@csrf_exempt
def django_view(request):
    return JsonResponse({"bytes": len(request.FILES["file"].read())})


class DrfView(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        return Response({"bytes": len(request.data["file"].read())})


urlpatterns = [
    path("floor/django", django_view),
    path("floor/drf", DrfView.as_view()),
    *project_urlpatterns,
]
