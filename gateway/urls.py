"""The gateway's pages: the Requests log and the organization's own provider keys."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.request_list, name="request_list"),
    path("provider-keys/", views.provider_key_list, name="provider_key_list"),
    path("provider-keys/<slug:provider_id>/test/", views.provider_key_test, name="provider_key_test"),
    path("provider-keys/<slug:provider_id>/remove/", views.provider_key_remove, name="provider_key_remove"),
    path("<id:generation_id>/", views.request_detail, name="request_detail"),
]
