from django.urls import path

from training import api

pages: list = []

api_urls = [
    path("training-jobs", api.TrainingJobListView.as_view(), name="api-training-job-list"),
    path("training-jobs/<int:pk>", api.TrainingJobDetailView.as_view(), name="api-training-job-detail"),
    path("model-versions", api.ModelVersionListView.as_view(), name="api-model-version-list"),
]
