from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.permissions import IsAdminUser

from mnistsite.api_common import DETAIL_ERRORS, LIST_ERRORS
from training.models import ModelVersion, TrainingJob
from training.serializers import ModelVersionSerializer, TrainingJobSerializer


@extend_schema_view(get=extend_schema(responses={200: TrainingJobSerializer, **DETAIL_ERRORS}))
class TrainingJobDetailView(generics.RetrieveAPIView):
    """A training job's status and progress. Staff only."""

    queryset = TrainingJob.objects.all()
    serializer_class = TrainingJobSerializer
    permission_classes = [IsAdminUser]


@extend_schema_view(get=extend_schema(responses={200: TrainingJobSerializer(many=True), **LIST_ERRORS}))
class TrainingJobListView(generics.ListAPIView):
    queryset = TrainingJob.objects.all()
    serializer_class = TrainingJobSerializer
    permission_classes = [IsAdminUser]


@extend_schema_view(get=extend_schema(responses={200: ModelVersionSerializer(many=True), **LIST_ERRORS}))
class ModelVersionListView(generics.ListAPIView):
    queryset = ModelVersion.objects.all()
    serializer_class = ModelVersionSerializer
    permission_classes = [IsAdminUser]
