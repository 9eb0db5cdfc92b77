from rest_framework import generics
from rest_framework.permissions import IsAdminUser

from training.models import ModelVersion, TrainingJob
from training.serializers import ModelVersionSerializer, TrainingJobSerializer


class TrainingJobDetailView(generics.RetrieveAPIView):
    """A training job's status and progress. Staff only."""

    queryset = TrainingJob.objects.all()
    serializer_class = TrainingJobSerializer
    permission_classes = [IsAdminUser]


class TrainingJobListView(generics.ListAPIView):
    queryset = TrainingJob.objects.all()
    serializer_class = TrainingJobSerializer
    permission_classes = [IsAdminUser]


class ModelVersionListView(generics.ListAPIView):
    queryset = ModelVersion.objects.all()
    serializer_class = ModelVersionSerializer
    permission_classes = [IsAdminUser]
