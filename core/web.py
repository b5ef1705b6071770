"""Helpers that HTML views share."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render

from .errors import NotFound, PermissionDenied, ServiceError


def service_error_response(request, error: ServiceError, *, back_to: str, **back_to_kwargs):
    """Shows a service's refusal on a page: 404 and 403 as such, anything else as a message."""
    if isinstance(error, NotFound):
        raise Http404(error.message)
    if isinstance(error, PermissionDenied):
        return render(request, "403.html", {"reason": error.message}, status=403)
    messages.error(request, error.message)
    return redirect(back_to, **back_to_kwargs)
