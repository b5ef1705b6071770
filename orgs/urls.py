from django.urls import path

from . import views

urlpatterns = [
    path("switch/", views.organization_switch, name="organization_switch"),
]
