from django.urls import path

from training import api, views

pages = [
    path("models", views.models_page, name="models"),
    path("models/jobs.json", views.training_jobs_progress, name="training-jobs-progress"),
    path("models/eda/<str:name>", views.eda_plot, name="eda-plot"),
    path("models/<int:pk>/activate", views.model_version_activate_view, name="model-version-activate"),
    path("models/<int:pk>/reports/<str:name>", views.model_version_report, name="model-version-report"),
    path("models/comparisons/<int:pk>/<str:name>", views.model_comparison_report, name="model-comparison-report"),
]

api_urls = [
    path("training-jobs", api.TrainingJobListView.as_view(), name="api-training-job-list"),
    path("training-jobs/<int:pk>", api.TrainingJobDetailView.as_view(), name="api-training-job-detail"),
    path("model-versions", api.ModelVersionListView.as_view(), name="api-model-version-list"),
]
