"""The input policy (core.text) at the door every request passes: query strings everywhere, and the
form data of pages.

JSON bodies under /v1/ are checked where they are parsed (core.parsers.DecimalJSONParser), so this
reads no API body: the chat endpoint and Stripe's webhook read theirs raw. Django decodes form data
and query strings itself, turning bytes that are not UTF-8 into U+FFFD, so what reaches a view can
hold no lone surrogate; a NUL (``%00``) does get through, and PostgreSQL's text cannot store it, nor
compare with it. Such a request is refused before any view runs: the error envelope (400
``invalid_text``, naming the parameter) under /v1/, a 400 page elsewhere.
"""

from django.http import JsonResponse
from django.shortcuts import render

from .api import error_body, is_api_request
from .error_pages import back_url
from .errors import ServiceError
from .text import check_text

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _check_query_dict(query) -> None:
    for name, values in query.lists():
        check_text(name, param=None)
        for value in values:
            check_text(value, param=name)


def request_text_problem(request) -> ServiceError | None:
    """The first text of the request that the policy refuses, as the error to answer, or None."""
    try:
        _check_query_dict(request.GET)
        if (
            not is_api_request(request)
            and request.method not in ("GET", "HEAD", "OPTIONS")
            and request.content_type in _FORM_TYPES
        ):
            _check_query_dict(request.POST)
    except ServiceError as error:
        return error
    return None


class InvalidTextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        error = request_text_problem(request)
        if error is None:
            return self.get_response(request)
        if is_api_request(request):
            body = error_body(400, code=error.code, message=error.message, param=error.param)
            return JsonResponse(body, status=400)
        context = {"message": error.message, "back_url": back_url(request, same_path=False)}
        return render(request, "core/invalid_text.html", context, status=400)
