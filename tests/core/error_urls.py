"""URLs used only by test_error_envelope and test_error_pages: views that fail the way real code can."""

from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.http import require_POST
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny


@api_view(["GET"])
@permission_classes([AllowAny])
def exploding_api_view(request):
    raise RuntimeError("secret internal detail")


def exploding_plain_view(request):
    raise RuntimeError("secret internal detail")


@require_POST
def post_only_plain_view(request):
    return HttpResponse("ok")


urlpatterns = [
    path("v1/test/explode", exploding_api_view),
    path("v1/test/explode-plain", exploding_plain_view),
    path("v1/test/post-only", post_only_plain_view),
    path("test/explode", exploding_plain_view),
    path("", include("nexevo_site.urls")),
]

handler400 = "core.views.bad_request"
handler403 = "core.views.permission_denied"
handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"
