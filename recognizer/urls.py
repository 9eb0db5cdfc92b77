from django.urls import path

from recognizer import api, api_batch, api_review, views

pages = [
    path("", views.index, name="index"),
    path("history", views.history, name="history"),
    path("predictions/<int:pk>/input.png", views.prediction_input_png, name="prediction-input-png"),
    path("predictions/<int:pk>/original.png", views.prediction_original, name="prediction-original"),
    # The signed URLs of API answers (recognizer.access.prediction_image_url): no session needed.
    path("predictions/<int:pk>/<str:token>/input.png", views.prediction_input_png, name="prediction-input-png-signed"),
    path("predictions/<int:pk>/<str:token>/original.png", views.prediction_original, name="prediction-original-signed"),
]

api_urls = [
    path("predict", api.PredictView.as_view(), name="api-predict"),
    path("read", api.ReadView.as_view(), name="api-read"),
    path("health", api.HealthView.as_view(), name="api-health"),
    path("health/live", api.HealthLiveView.as_view(), name="api-health-live"),
    path("predictions", api.PredictionListView.as_view(), name="api-prediction-list"),
    path("predictions/<int:pk>", api.PredictionDetailView.as_view(), name="api-prediction-detail"),
]

pages += api_batch.pages + api_review.pages
api_urls += api_batch.api_urls + api_review.api_urls

# The Flask app's endpoints, kept for its clients: same views, same answers.
legacy = [
    path("predict", api.PredictView.as_view(), name="legacy-predict"),
    path("health", api.HealthView.as_view(), name="legacy-health"),
]
