"""How the OpenAPI schema (``/v1/openapi.json``) describes the API, where drf-spectacular cannot tell
from the code alone: the list envelope, the error envelope on every operation, the limits of the
query parameters and the wire form of money.

The API answers as API.md says; this module makes the document say the same. ``AutoSchema`` adds to
every operation the error answers it can give (see ``AutoSchema.error_statuses``), and
``tests/test_openapi_schema.py`` checks the document against real answers.
"""

import copy

import uritemplate
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from .api_views import MAX_DAYS
from .errors import ERROR_TYPES_BY_STATUS
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import MAX_KEY_LENGTH as MAX_IDEMPOTENCY_KEY_LENGTH
from .money import CENTS_INPUT_PATTERN, CENTS_PATTERN, EXACT_PATTERN
from .pagination import DEFAULT_LIMIT, MAX_LIMIT


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apikeys.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "nx_ + 32 base62 characters + 6-character checksum",
        }


class VerifiedSessionScheme(OpenApiAuthenticationExtension):
    target_class = "core.authentication.VerifiedSessionAuthentication"
    name = "DashboardSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


# --- Money ------------------------------------------------------------------------------------------

CENTS = {"type": "string", "pattern": CENTS_PATTERN, "example": "12.34"}
"""An amount with exactly 2 decimals, as ``core.money.format_usd`` writes it."""

EXACT = {"type": "string", "pattern": EXACT_PATTERN, "example": "0.000150"}
"""An amount with 2 to 6 decimals, as ``core.money.format_usd_exact`` writes it."""

CENTS_INPUT = {
    "oneOf": [
        {"type": "string", "pattern": CENTS_INPUT_PATTERN, "example": "20.00"},
        {"type": "number", "minimum": 0.01},
    ],
    "description": 'A decimal string with at most 2 decimals, such as "20.00", or a JSON number.',
}
"""An amount a client sends, with at most 2 decimals."""


# --- The error envelope -----------------------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=sorted({*ERROR_TYPES_BY_STATUS.values(), "api_error"}))
    code = serializers.CharField(help_text="A stable machine-readable word, e.g. invalid_cursor.")
    message = serializers.CharField(help_text="A sentence for a person.")
    param = serializers.CharField(
        allow_null=True, help_text="The parameter or field the error is about (metadata.topic), or null."
    )


class ErrorSerializer(serializers.Serializer):
    """Every 4xx and 5xx answer under /v1/."""

    error = ErrorDetailSerializer()


ERROR_DESCRIPTIONS = {
    400: "A value is refused, or the request is malformed: `code` and `param` say which "
    "(e.g. `invalid_text` for a lone surrogate or NUL in any text, `invalid_cursor`, `parse_error`).",
    401: "No API key, or one that is malformed, unknown or revoked.",
    402: "The balance, or the key's monthly spend cap, does not cover this.",
    403: "The caller's role does not allow this.",
    404: "No such object, or one that belongs to another organization.",
    409: "It conflicts with the object's state, or the idempotency key was used with another request.",
    413: "The request body, or a value in it, is too large.",
    415: "The body is not `application/json`.",
    429: "Too many requests; `Retry-After` says in how many seconds to try again.",
    502: "A service this request relies on (Stripe) refused it.",
    503: "A service this request needs is unavailable for now; retry after `Retry-After` seconds.",
}


def errors(*statuses: int) -> dict:
    """Error answers an operation gives beyond those ``AutoSchema`` adds to every operation, for
    ``@extend_schema(responses={200: ..., **errors(402, 503)})``."""
    return {status: error_response(status) for status in statuses}


def error_response(status: int) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[status])


# --- Lists and query parameters --------------------------------------------------------------------

_PAGES: dict[type, type] = {}


def page_of(item_serializer: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The list envelope of API.md around ``item_serializer``: ``{data, has_more, next_cursor}``."""
    if item_serializer not in _PAGES:
        name = item_serializer.__name__.removesuffix("Serializer")
        _PAGES[item_serializer] = type(
            f"{name}PageSerializer",
            (serializers.Serializer,),
            {
                "__module__": item_serializer.__module__,
                "__doc__": f"One page of a list of {name} objects.",
                "is_page": True,
                "data": item_serializer(many=True),
                "has_more": serializers.BooleanField(),
                "next_cursor": serializers.CharField(
                    allow_null=True, help_text="Send as `cursor` for the next page; null on the last."
                ),
            },
        )
    return _PAGES[item_serializer]


LIMIT = OpenApiParameter(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    description=f"Items per page, 1 to {MAX_LIMIT}.",
)
CURSOR = OpenApiParameter(
    "cursor",
    {"type": "string", "maxLength": 512},
    description="`next_cursor` of the page before; a cursor this list did not give out is a 400 "
    "`invalid_cursor`.",
)
PAGE_PARAMETERS = [LIMIT, CURSOR]


def days_parameter(default: int = 7) -> OpenApiParameter:
    return OpenApiParameter(
        "days",
        {"type": "integer", "minimum": 1, "maximum": MAX_DAYS, "default": default},
        description=f"UTC days up to today, 1 to {MAX_DAYS}.",
    )


IDEMPOTENCY_KEY = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH},
    location=OpenApiParameter.HEADER,
    description="A retry with the same key and body answers the first response and creates nothing; "
    "the same key with another body is a 409.",
)


# --- Every operation --------------------------------------------------------------------------------


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's introspection plus what every operation of this API shares: the error
    answers it can give, and the ``Idempotency-Key`` header where it is honoured."""

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self._is_idempotent():
            parameters = [*parameters, IDEMPOTENCY_KEY]
        return parameters

    def get_operation_id(self):
        operation_id = super().get_operation_id()
        if self.method == "GET" and self._answers_a_page():
            operation_id = operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def _answers_a_page(self) -> bool:
        responses = self.get_response_serializers()
        if isinstance(responses, dict):
            responses = responses.get(200)
        return bool(getattr(responses, "is_page", False))

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status in self.error_statuses():
            if str(status) not in responses:
                responses[str(status)] = self._get_response_for_code(
                    error_response(status), str(status), direction=direction
                )
        for status in ("429", "503"):
            if status in responses:
                responses[status].setdefault("headers", {})["Retry-After"] = {
                    "schema": {"type": "integer", "minimum": 0},
                    "description": "Seconds to wait before trying again.",
                }
        return dict(sorted(responses.items()))

    def error_statuses(self) -> set[int]:
        """The error answers this operation can give whatever it does:

        - 400 everywhere: any query string or body may hold text the input policy refuses;
        - 401 and 403 where a key or session is needed (403: the role, or a session's CSRF token);
        - 404 where the path names an object;
        - 409 where ``Idempotency-Key`` is honoured;
        - 413 and 415 where a JSON body is read;
        - 429 where requests are throttled.

        Anything more particular (402, 409, 503…) is declared on the operation with ``errors()``.
        """
        statuses = {400}
        if not any(isinstance(permission, AllowAny) for permission in self.view.get_permissions()):
            statuses |= {401, 403}
        if uritemplate.variables(self.path):
            statuses.add(404)
        if self._is_idempotent():
            statuses.add(409)
        if self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None:
            statuses |= {413, 415}
        if self.view.get_throttles():
            statuses.add(429)
        return statuses

    def _is_idempotent(self) -> bool:
        handler = getattr(self.view, self.method.lower(), None)
        return bool(getattr(handler, "honours_idempotency_key", False))


class DocumentedFieldExtension(OpenApiSerializerFieldExtension):
    """The schema a ``core.serializer_fields.DocumentedField`` was declared with."""

    target_class = "core.serializer_fields.DocumentedField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        if self.target.openapi_schema is not None:
            return copy.deepcopy(self.target.openapi_schema)
        if isinstance(self.target, serializers.CharField):
            return auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        return {}
