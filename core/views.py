from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render

from apikeys.selectors import keys_of_organization
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
    """Liveness for load balancers: the database answers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except Exception:  # noqa: BLE001 - any failure means "down"
        database = "down"
    status = 200 if database == "ok" else 503
    return JsonResponse(
        {"status": "ok" if status == 200 else "degraded", "database": database}, status=status
    )


def server_error(request):
    """A 500 without a traceback: JSON under /v1/, a plain page elsewhere."""
    from core.api import server_error_body

    if request.path.startswith("/v1/"):
        return JsonResponse(server_error_body(), status=500)
    return render(request, "500.html", status=500)
