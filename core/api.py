"""The API's error envelope, for every error under /v1/ (API.md, "Errors").

Every 4xx and 5xx body is ``{"error": {"type", "code", "message", "param"}}``. DRF calls
``exception_handler`` for exceptions raised in API views; ``not_found`` and ``server_error`` cover the
paths that never reach a DRF view, so an HTML error page is never served under /v1/.
"""

import logging
import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

from .errors import RateLimited, ServiceError, ServiceUnavailable, error_type_for_status
from .money import MoneyError

logger = logging.getLogger(__name__)


def error_body(status: int, *, code: str, message: str, param: str | None = None) -> dict:
    return {
        "error": {
            "type": error_type_for_status(status),
            "code": code,
            "message": str(message),
            "param": param,
        }
    }


def error_response(
    status: int, *, code: str, message: str, param: str | None = None, headers: dict | None = None
) -> Response:
    return Response(
        error_body(status, code=code, message=message, param=param), status=status, headers=headers
    )


def exception_handler(exc, context):
    exc = as_service_unavailable(exc) or exc
    if isinstance(exc, ServiceError):
        headers = (
            {"Retry-After": str(exc.retry_after)}
            if isinstance(exc, RateLimited | ServiceUnavailable)
            else None
        )
        return error_response(
            exc.status, code=exc.code, message=exc.message, param=exc.param, headers=headers
        )
    if isinstance(exc, MoneyError):
        return error_response(400, code=exc.code, message=exc.message)
    if isinstance(exc, RequestDataTooBig):
        return error_response(413, code="request_too_large", message=_("The request body is too large."))
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    if isinstance(exc, drf_exceptions.ValidationError):
        param, message, code = _first_validation_error(exc.detail)
        text = f"{param}: {message}" if param else message
        return error_response(400, code=code, message=text, param=param)

    if isinstance(exc, drf_exceptions.APIException):
        return _api_exception_response(exc)

    if isinstance(exc, DatabaseOperationalError | DatabaseInterfaceError):  # the database is unreachable
        logger.warning("Answering 503: the database failed: %s", exc)
        unavailable = ServiceUnavailable()
        return error_response(
            503,
            code=unavailable.code,
            message=unavailable.message,
            headers={"Retry-After": str(unavailable.retry_after)},
        )

    view = context.get("view")
    logger.exception("Unexpected error in %s", type(view).__name__ if view else "API view")
    return error_response(
        500,
        code="internal_error",
        message=_("Something went wrong on our side. The error has been logged; please try again."),
    )


_CODES_BY_EXCEPTION = {
    drf_exceptions.ParseError: "parse_error",
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.AuthenticationFailed: "invalid_api_key",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "rate_limited",
}


def _api_exception_response(exc: drf_exceptions.APIException) -> Response:
    status = exc.status_code
    # An exception raised with its own code (``AuthenticationFailed(code="key_expired")``) keeps it;
    # otherwise the class decides.
    raised_code = exc.get_codes()
    if isinstance(raised_code, str) and raised_code != type(exc).default_code:
        code = raised_code
    else:
        code = _CODES_BY_EXCEPTION.get(type(exc), "error")
    message = str(exc.detail)
    if isinstance(exc, drf_exceptions.NotAuthenticated):
        message = _("Send your API key as 'Authorization: Bearer nx_...'.")
    if isinstance(exc, drf_exceptions.NotFound) and code == "not_found":
        message = _("No such object.")
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(math.ceil(exc.wait))
    return error_response(status, code=code, message=message, headers=headers)


def _first_validation_error(detail, path: str = "") -> tuple[str | None, str, str]:
    """Walks DRF's nested error detail to the first message, returning (param, message, code)."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors":
                return _first_validation_error(value, path)
            return _first_validation_error(value, f"{path}.{key}" if path else str(key))
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                return _first_validation_error(value, f"{path}[{index}]" if path else str(index))
            return _first_validation_error(value, path)
    code = getattr(detail, "code", None) or "invalid"
    return (path or None), str(detail), code


def as_service_unavailable(exc: BaseException) -> ServiceUnavailable | None:
    """A ``ServiceUnavailable`` for an exception that means Redis or the broker is unreachable:
    such a request answers 503 (retry later), not 500 (our bug)."""
    from kombu.exceptions import OperationalError as BrokerUnavailable
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from .cache import CacheUnavailable

    if isinstance(exc, ServiceUnavailable):
        return exc
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | CacheUnavailable | BrokerUnavailable):
        logger.warning("Answering 503: %s: %s", type(exc).__name__, exc)
        return ServiceUnavailable()
    return None


@csrf_exempt
def not_found(request, *args, **kwargs):
    """Any /v1/ address that no endpoint claims."""
    body = error_body(
        404,
        code="unknown_endpoint",
        message=_("No endpoint at %(method)s %(path)s.") % {"method": request.method, "path": request.path},
    )
    return JsonResponse(body, status=404)


def is_api_request(request) -> bool:
    return request.path.startswith("/v1/")


def api_error_json(status: int, *, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(status, code=code, message=message), status=status)
