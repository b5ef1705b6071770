import sys

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views import csrf as django_csrf
from django.views import defaults as django_defaults
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys.selectors import keys_of_organization
from core.api import api_error_json, as_service_unavailable, error_body, is_api_request
from core.errors import ServiceUnavailable
from core.health import health_report
from orgs.selectors import active_membership


def home(request):
    return redirect("dashboard" if request.user.is_authenticated else "account_login")


@login_required
def dashboard(request):
    membership = active_membership(request)
    active_keys = keys_of_organization(organization=membership.organization).filter(revoked_at__isnull=True)
    return render(
        request,
        "core/dashboard.html",
        {
            "active_key_count": active_keys.count(),
        },
    )


def healthz(request):
    """For load balancers and people: the database, Redis and the workers' last heartbeat.
    200 when everything the configuration uses is up, 503 otherwise; no authentication."""
    healthy, body = health_report()
    response = JsonResponse(body, status=200 if healthy else 503)
    response["Cache-Control"] = "no-store"
    return response


def service_unavailable_response(request, error: ServiceUnavailable):
    """503 for a request that needs Redis or the task queue while it is down."""
    if is_api_request(request):
        response = JsonResponse(error_body(503, code=error.code, message=error.message), status=503)
    else:
        response = render(request, "core/service_unavailable.html", status=503)
    response["Retry-After"] = str(error.retry_after)
    return response


# Django's own error views, answering under /v1/ with the error envelope instead of an HTML page.


def bad_request(request, exception):
    if is_api_request(request):
        return api_error_json(400, code="bad_request", message="The request could not be understood.")
    return django_defaults.bad_request(request, exception)


def permission_denied(request, exception):
    if is_api_request(request):
        return api_error_json(403, code="permission_denied", message="You may not do this.")
    return django_defaults.permission_denied(request, exception)


def page_not_found(request, exception):
    if is_api_request(request):
        return api_error_json(404, code="unknown_endpoint", message="No endpoint at this address.")
    return django_defaults.page_not_found(request, exception)


def server_error(request):
    """A 500 without a traceback: the envelope under /v1/, a plain page elsewhere. A failure because
    Redis or the task queue is unreachable (raised outside a view, e.g. in a middleware) is a 503."""
    unavailable = as_service_unavailable(sys.exc_info()[1]) if sys.exc_info()[1] else None
    if unavailable is not None:
        return service_unavailable_response(request, unavailable)
    if is_api_request(request):
        return api_error_json(
            500, code="internal_error", message="Something went wrong on our side. Please try again."
        )
    return render(request, "500.html", status=500)


def csrf_failure(request, reason=""):
    if is_api_request(request):
        return api_error_json(
            403,
            code="csrf_failed",
            message="A browser session must send the CSRF token; API clients should use a Bearer key.",
        )
    return django_csrf.csrf_failure(request, reason=reason)


class PingView(APIView):
    """``GET /v1/ping``: answers without credentials, so a client can tell the API is reachable."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(summary="Is the API reachable?", responses={200: {"type": "object"}})
    def get(self, request):
        return Response({"ok": True})
