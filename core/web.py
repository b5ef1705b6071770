"""Helpers that HTML views share."""

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render

from .errors import NotFound, PermissionDenied, ServiceError
from .pagination import Page


def service_error_response(request, error: ServiceError, *, back_to: str, **back_to_kwargs):
    """Shows a service's refusal on a page: 404 and 403 as such, anything else as a message."""
    if isinstance(error, NotFound):
        raise Http404(error.message)
    if isinstance(error, PermissionDenied):
        return render(request, "403.html", {"reason": error.message}, status=403)
    messages.error(request, error.message)
    return redirect(back_to, **back_to_kwargs)


def form_error_from_service(form: forms.Form, error: ServiceError, *, fields: dict[str, str] | None = None):
    """Puts a service's refusal beside the field it is about, in the field's own words.

    Services speak the API's language: ``param`` names an API field and the message may start with it
    (``monthly_spend_cap_usd must be…``). On a page the error goes to the form field of that name, or
    the one ``fields`` maps it to (``{"expires_at": "expires_on"}``), and a message that starts with
    the API name starts with the field's label instead. Anything else is a form-wide error.
    """
    name = (fields or {}).get(error.param, error.param)
    if name not in form.fields:
        form.add_error(None, error.message)
        return
    message = error.message
    if error.param and message.startswith(error.param + " "):
        message = f"{form.fields[name].label}{message[len(error.param) :]}"
    form.add_error(name, message)


def focus_first_error(form: forms.Form) -> None:
    """A form sent back with errors may sit below the fold (turning two-factor off, at the foot of
    Security): its first field in error takes the focus, and the browser scrolls to it."""
    name = next((name for name in form.errors if name in form.fields), None) or next(iter(form.fields))
    form.fields[name].widget.attrs["autofocus"] = True


def pager(request, page: Page, *, cursor_param: str = "cursor") -> dict:
    """What ``includes/pager.html`` needs: the query strings of the first and the next page, keeping
    every other parameter of the request (filters). ``first`` is None on the first page."""
    next_query = None
    if page.has_more:
        query = request.GET.copy()
        query[cursor_param] = page.next_cursor
        next_query = query.urlencode()
    first_query = None
    if request.GET.get(cursor_param):
        query = request.GET.copy()
        query.pop(cursor_param, None)
        first_query = query.urlencode()
    return {"first": first_query, "next": next_query}
