"""The one domain error type that services raise.

The API turns it into the error envelope (``core.api``); HTML views turn it into a form error or a
message. ``code`` is a stable machine-readable word, ``message`` a sentence for a person, in the
language of the request (under /v1/, the one its Accept-Language asks for: core.middleware).
"""

from django.utils.translation import gettext_lazy as _

ERROR_TYPES_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    406: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def error_type_for_status(status: int) -> str:
    if status >= 500:
        return "api_error"
    return ERROR_TYPES_BY_STATUS.get(status, "invalid_request_error")


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str, *, code: str, param: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        if status is not None:
            self.status = status

    @property
    def type(self) -> str:
        return error_type_for_status(self.status)


class NotFound(ServiceError):
    """The object does not exist, or belongs to someone the caller may not know about."""

    status = 404

    def __init__(self, message: str = _("No such object."), *, code: str = "not_found", param=None):
        super().__init__(message, code=code, param=param)


class PermissionDenied(ServiceError):
    status = 403

    def __init__(self, message: str, *, code: str = "permission_denied", param=None):
        super().__init__(message, code=code, param=param)


class RateLimited(ServiceError):
    status = 429

    def __init__(self, message: str, *, retry_after: int, code: str = "rate_limited"):
        super().__init__(message, code=code)
        self.retry_after = retry_after


class ServiceUnavailable(ServiceError):
    """Something the request needs (Redis, the task queue) is down for now; the client may retry."""

    status = 503

    def __init__(
        self,
        message: str = _("A service this request needs is unavailable for now. Please try again shortly."),
        *,
        code: str = "service_unavailable",
        retry_after: int = 30,
    ):
        super().__init__(message, code=code)
        self.retry_after = retry_after
