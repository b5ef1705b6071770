from django.urls import path

from . import api

urlpatterns = [
    path("me", api.MeView.as_view(), name="api_auth_me"),
    path("profile", api.ProfileView.as_view(), name="api_auth_profile"),
    path("change-password", api.ChangePasswordView.as_view(), name="api_auth_change_password"),
    path("2fa", api.TwoFactorStatusView.as_view(), name="api_auth_two_factor"),
]
