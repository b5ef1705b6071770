from django.urls import path

from . import views

app_name = "library"
urlpatterns = [
    path("", views.model_list, name="model_list"),
    path("compare/", views.model_compare, name="model_compare"),
    # A model id holds a slash (openai/gpt-4o), sent as is or as %2F.
    path("<path:model_id>/", views.model_detail, name="model_detail"),
]
