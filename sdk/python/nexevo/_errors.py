from __future__ import annotations

from collections.abc import Mapping

import httpx

# Enough of a non-envelope body (a proxy's HTML page, say) to recognise it, not the whole page.
_BODY_EXCERPT_LENGTH = 200


class NexevoError(Exception):
    """Base class of every error this library raises."""


class APIConnectionError(NexevoError):
    """The server could not be reached, or the connection broke before a response arrived."""


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class APIError(NexevoError):
    """The server answered with a 4xx or 5xx status.

    `type`, `code` and `param` come from the error envelope and are None when the body was not one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers if headers is not None else httpx.Headers()

    def __str__(self) -> str:
        label = str(self.status_code)
        if self.type:
            label += f" {self.type}"
        if self.code:
            label += f" ({self.code})"
        text = f"{label}: {self.message}"
        if self.param:
            text += f" [param: {self.param}]"
        return text


class BadRequestError(APIError):
    """400, 413 or 422: the request was invalid."""


class AuthenticationError(APIError):
    """401: the API key is missing, malformed, revoked or unknown."""


class PaymentRequiredError(APIError):
    """402: a billing limit, such as a key's monthly spend cap, refused the request."""


class PermissionDeniedError(APIError):
    """403: the acting user's role does not allow this."""


class NotFoundError(APIError):
    """404: no such object, or it belongs to another organization."""


class ConflictError(APIError):
    """409: the request conflicts with the current state, e.g. an idempotency key reused."""


class RateLimitError(APIError):
    """429: too many requests."""


class InternalServerError(APIError):
    """5xx: the server failed."""


_ERROR_CLASS_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: BadRequestError,
    422: BadRequestError,
    429: RateLimitError,
}


def error_from_response(response: httpx.Response) -> APIError:
    """Build the exception for a 4xx/5xx response, whether or not its body is the error envelope."""
    status_code = response.status_code
    if status_code >= 500:
        error_class: type[APIError] = InternalServerError
    else:
        error_class = _ERROR_CLASS_BY_STATUS.get(status_code, APIError)

    envelope = _error_envelope(response)
    if envelope is None:
        return error_class(
            _describe_unexpected_body(response), status_code=status_code, headers=response.headers
        )
    return error_class(
        _string_or_none(envelope.get("message")) or response.reason_phrase or "Request failed",
        status_code=status_code,
        type=_string_or_none(envelope.get("type")),
        code=_string_or_none(envelope.get("code")),
        param=_string_or_none(envelope.get("param")),
        headers=response.headers,
    )


def _error_envelope(response: httpx.Response) -> dict[str, object] | None:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    return None


def _describe_unexpected_body(response: httpx.Response) -> str:
    reason = response.reason_phrase or "Request failed"
    excerpt = " ".join(response.text.split())
    if not excerpt:
        return f"{reason} (empty response body)"
    if len(excerpt) > _BODY_EXCERPT_LENGTH:
        excerpt = excerpt[:_BODY_EXCERPT_LENGTH] + "..."
    return f"{reason} (response body is not a Nexevo error object: {excerpt})"


def _string_or_none(value: object) -> str | None:
    return None if value is None else str(value)
