import sys

from django.contrib.auth.decorators import login_required
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404, HttpResponse, HttpResponseServerError, JsonResponse
from django.middleware.csrf import REASON_NO_CSRF_COOKIE, REASON_NO_REFERER
from django.shortcuts import redirect, render
from django.template import loader
from django.templatetags.static import static
from django.views import defaults as django_defaults
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.charts import usage_chart
from core.api import api_error_json, as_service_unavailable, error_body, is_api_request
from core.cookbook import example_get, example_list
from core.error_pages import back_url
from core.errors import ServiceUnavailable
from core.health import health_report
from core.selectors import dashboard_overview
from orgs.selectors import active_membership


def home(request):
    return redirect("dashboard" if request.user.is_authenticated else "account_login")


@login_required
def dashboard(request):
    overview = dashboard_overview(active_membership(request))
    return render(
        request,
        "core/dashboard.html",
        {
            **overview,
            "chart": usage_chart(overview["usage"]["days"]),
            "chat_url": request.build_absolute_uri("/v1/chat/completions"),
            "base_url": request.build_absolute_uri("/"),
        },
    )


def cookbook(request):
    """The example programs, public like the API reference: a developer reads them before signing up."""
    return render(
        request,
        "cookbook/list.html",
        {"examples": example_list(), "base_url": request.build_absolute_uri("/").rstrip("/")},
    )


def cookbook_example(request, name):
    example = example_get(name=name)
    if example is None:
        raise Http404("No such example.")
    return render(
        request,
        "cookbook/detail.html",
        {"example": example, "base_url": request.build_absolute_uri("/").rstrip("/")},
    )


async def healthz(request):
    """For load balancers and people: the database, Redis and the workers' last heartbeat.
    200 when everything the configuration uses is up, 503 otherwise, within a second either way
    (core.health); no authentication."""
    healthy, body = await health_report()
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


def _database_unavailable_response(request):
    """503 for a request that failed because the database is unreachable: the envelope under /v1/,
    else the "back in a moment" page rendered without the request (its context processors would
    read the database)."""
    error = ServiceUnavailable()
    if is_api_request(request):
        response = JsonResponse(error_body(503, code=error.code, message=error.message), status=503)
    else:
        response = HttpResponse(loader.get_template("core/service_unavailable.html").render(), status=503)
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
    Redis or the task queue is unreachable (raised outside a view, e.g. in a middleware) is a 503, and
    so is one because the database is (its pool's wait, ``DATABASE_WAIT_SECONDS``, ran out)."""
    error = sys.exc_info()[1]
    unavailable = as_service_unavailable(error) if error else None
    if unavailable is not None:
        return service_unavailable_response(request, unavailable)
    if isinstance(error, DatabaseOperationalError | DatabaseInterfaceError):
        return _database_unavailable_response(request)
    if is_api_request(request):
        return api_error_json(
            500, code="internal_error", message="Something went wrong on our side. Please try again."
        )
    # Without the request: its context processors (the database, the session) may be what failed.
    return HttpResponseServerError(loader.get_template("500.html").render())


def csrf_failure(request, reason=""):
    if is_api_request(request):
        return api_error_json(
            403,
            code="csrf_failed",
            message="A browser session must send the CSRF token; API clients should use a Bearer key.",
        )
    context = {
        "no_cookie": reason == REASON_NO_CSRF_COOKIE,
        "no_referer": reason == REASON_NO_REFERER,
        "back_url": back_url(request),
    }
    return render(request, "403_csrf.html", context, status=403)


def favicon(request):
    """``/favicon.ico``, which browsers and tools ask for unprompted: the SVG icon every page links
    to, by a redirect (temporary, since the static address changes with the file's content)."""
    response = redirect(static("img/favicon.svg"))
    response["Cache-Control"] = "public, max-age=86400"
    return response


class PingView(APIView):
    """``GET /v1/ping``: answers without credentials, so a client can tell the API is reachable."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Is the API reachable?",
        responses={200: {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}},
    )
    def get(self, request):
        return Response({"ok": True})
