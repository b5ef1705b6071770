"""Everything under /v1/."""

from django.urls import include, path, re_path
from drf_spectacular.views import (
    SpectacularJSONAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from core.api import not_found
from core.views import PingView
from gateway.api import chat_completions

urlpatterns = [
    path("ping", PingView.as_view(), name="api_ping"),
    path("auth/", include("accounts.api_urls")),
    path("chat/completions", chat_completions, name="chat_completions"),
    path("", include("orgs.api_urls")),
    path("", include("apikeys.api_urls")),
    path("", include("billing.api_urls")),
    path("", include("conversations.api_urls")),
    path("", include("feedback.api_urls")),
    path("", include("gateway.api_urls")),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi_schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="openapi_schema"), name="api_docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="openapi_schema"), name="api_redoc"),
    re_path(r"^.*$", not_found),
]
