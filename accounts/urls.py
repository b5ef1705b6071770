from django.urls import path

from . import views

urlpatterns = [
    path("profile/", views.profile, name="profile"),
    path("language/", views.language_set, name="language_set"),
    path("security/", views.security, name="security"),
    path("security/two-factor/setup/", views.two_factor_setup, name="two_factor_setup"),
    path(
        "security/two-factor/recovery-codes/",
        views.recovery_codes_regenerate,
        name="recovery_codes_regenerate",
    ),
    path("security/two-factor/disable/", views.two_factor_disable, name="two_factor_disable"),
    path("privacy/", views.privacy, name="privacy"),
    path("privacy/export.json", views.export, name="account_export"),
    path("privacy/deactivate/", views.deactivate, name="account_deactivate"),
]
