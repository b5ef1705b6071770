from django.urls import path

from . import views

urlpatterns = [
    path("", views.key_list, name="key_list"),
    path("<str:key_id>/revoke/", views.key_revoke_confirm, name="key_revoke"),
]
