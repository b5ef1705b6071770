from django.urls import path, re_path

from . import models_api

urlpatterns = [
    path("models", models_api.ModelListView.as_view(), name="api_models"),
    # Model ids hold a slash (openai/gpt-4o-mini): the rest of the path is the id.
    re_path(r"^models/(?P<model_id>.+)$", models_api.ModelDetailView.as_view(), name="api_model"),
]
