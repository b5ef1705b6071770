from allauth.account import views as allauth_views
from django.contrib import admin
from django.urls import include, path, re_path

from accounts import views as account_views
from core import views as core_views
from orgs import views as org_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("dashboard/", core_views.dashboard, name="dashboard"),
    path("cookbook/", core_views.cookbook, name="cookbook"),
    path("cookbook/<slug:name>/", core_views.cookbook_example, name="cookbook_example"),
    path("healthz", core_views.healthz, name="healthz"),
    path("favicon.ico", core_views.favicon, name="favicon"),
    path("accounts/2fa/verify/", account_views.two_factor_verify, name="two_factor_verify"),
    # allauth's reset-link pattern allows only [0-9A-Za-z] in the user part; ours are "u_..." ids.
    re_path(
        r"^accounts/password/reset/key/(?P<uidb36>[0-9A-Za-z_]+)-(?P<key>.+)/$",
        allauth_views.password_reset_from_key,
        name="account_reset_password_from_key",
    ),
    path("accounts/", include("allauth.urls")),
    path("settings/", include("accounts.urls")),
    path("keys/", include("apikeys.urls")),
    path("organizations/", include("orgs.urls")),
    path("billing/", include("billing.urls")),
    path("conversations/", include("conversations.urls")),
    path("feedback/", include("feedback.urls")),
    path("requests/", include("gateway.urls")),
    path("models/", include("library.urls")),
    path("invitations/<str:token>/", org_views.invitation_accept, name="invitation_accept"),
    path("admin/", admin.site.urls),
    path("v1/", include("nexevo_site.api_urls")),
]

handler400 = "core.views.bad_request"
handler403 = "core.views.permission_denied"
handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"
