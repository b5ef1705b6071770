"""Error pages that Django has no handler for, and what the error pages share."""

from urllib.parse import urlsplit

from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from .api import api_error_json, is_api_request


def back_url(request, *, same_path: bool = True) -> str | None:
    """The page the request came from (usually the page with the form), if it is one of ours.

    ``same_path=False`` leaves out this very address: opening it again would only fail again.
    """
    referer = request.headers.get("Referer", "")
    if not referer or not url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    if not same_path and urlsplit(referer).path == request.path:
        return None
    return referer


class MethodNotAllowedPageMiddleware:
    """A wrong method answers a page, not a blank screen.

    Django has no ``handler405``: ``require_POST`` and class-based views answer an empty
    ``HttpResponseNotAllowed``. Opening a POST-only address in the browser (a bookmarked or reloaded
    form action) would show nothing. This turns an empty 405 into ``405.html`` outside /v1/, and into
    the error envelope under /v1/ (DRF's views answer it there themselves), keeping the Allow header.
    A 405 that has a body already is left as it is.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 405 or getattr(response, "streaming", False) or response.content:
            return response
        if is_api_request(request):
            page = api_error_json(
                405, code="method_not_allowed", message=f'Method "{request.method}" not allowed.'
            )
        else:
            page = render(request, "405.html", {"back_url": back_url(request, same_path=False)}, status=405)
        if response.has_header("Allow"):
            page["Allow"] = response["Allow"]
        return page
