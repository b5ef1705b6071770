"""``POST /v1/chat/completions`` in the OpenAPI schema (``/v1/openapi.json``).

The endpoint is not a DRF view (gateway.api: it runs in front of Django under uvicorn), so
drf-spectacular cannot find it among the URL patterns. ``add_chat_completions`` (a preprocessing hook,
settings.SPECTACULAR_SETTINGS) hands it ``ChatCompletionsDocumentation``, a view that serves nothing
and only states what the endpoint takes and answers: the body as gateway.body checks it, the answer
with the ``nexevo`` block, the stream, the ``X-Nexevo-Generation-Id`` header and every error code
(gateway.errors). tests/test_openapi_schema.py checks real answers against it.
"""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from apikeys.authentication import ApiKeyAuthentication
from billing.models import Tier
from billing.serializers import ExactMoneyField
from core.schema import AutoSchema, ErrorSerializer
from core.serializer_fields import DocumentedField

from .api import GENERATION_HEADER
from .body import MAX_DEPTH

PATH = "/v1/chat/completions"

NULLABLE_NUMBER = {"type": "number", "nullable": True}
NULLABLE_WHOLE = {"type": "integer", "nullable": True}
OBJECTS = {"type": "array", "items": {"type": "object", "additionalProperties": True}, "nullable": True}
STRING_OR_OBJECT = {"oneOf": [{"type": "string"}, {"type": "object", "additionalProperties": True}]}


class ChatMessageSerializer(serializers.Serializer):
    role = serializers.CharField(help_text="`system`, `user`, `assistant` or `tool`.")
    content = DocumentedField(
        required=False,
        schema={
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "object", "additionalProperties": True}},
            ],
            "nullable": True,
            "description": "A string, or a list of content parts (text, image_url…); null for an "
            "assistant message with tool calls.",
        },
    )
    name = serializers.CharField(required=False)
    tool_call_id = serializers.CharField(required=False, help_text="For a `tool` message: the call answered.")
    tool_calls = DocumentedField(required=False, schema=OBJECTS)


class StreamOptionsSerializer(serializers.Serializer):
    include_usage = serializers.BooleanField(
        required=False,
        allow_null=True,
        help_text="Ask for a last chunk with the usage (the gateway always asks the provider for it).",
    )


class ChatCompletionRequestSerializer(serializers.Serializer):
    """OpenAI's chat completion request. The fields below are checked before anything is held
    (a wrong type is a 400 naming the field); any other field passes through to the provider."""

    model = serializers.CharField(
        help_text="`nexevo/fast`, `nexevo/balanced`, or a model id from `GET /v1/models`."
    )
    messages = ChatMessageSerializer(many=True, min_length=1)
    max_tokens = DocumentedField(
        required=False,
        schema={
            "type": "integer",
            "minimum": 1,
            "nullable": True,
            "description": "Caps the answer; "
            "without it a key's spend-cap hold assumes an answer as long as the model's context.",
        },
    )
    max_completion_tokens = DocumentedField(
        required=False, schema={"type": "integer", "minimum": 1, "nullable": True}
    )
    stream = serializers.BooleanField(
        required=False, help_text="Answer as server-sent events (`text/event-stream`)."
    )
    stream_options = StreamOptionsSerializer(required=False, allow_null=True)
    n = DocumentedField(required=False, schema={"type": "integer", "enum": [1], "nullable": True})
    temperature = DocumentedField(required=False, schema=NULLABLE_NUMBER)
    top_p = DocumentedField(required=False, schema=NULLABLE_NUMBER)
    frequency_penalty = DocumentedField(required=False, schema=NULLABLE_NUMBER)
    presence_penalty = DocumentedField(required=False, schema=NULLABLE_NUMBER)
    seed = DocumentedField(required=False, schema=NULLABLE_WHOLE)
    stop = DocumentedField(
        required=False,
        schema={
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            "nullable": True,
        },
    )
    tools = DocumentedField(required=False, schema=OBJECTS)
    tool_choice = DocumentedField(required=False, schema={**STRING_OR_OBJECT, "nullable": True})
    parallel_tool_calls = serializers.BooleanField(required=False, allow_null=True)
    response_format = DocumentedField(
        required=False, schema={"type": "object", "additionalProperties": True, "nullable": True}
    )
    user = serializers.CharField(required=False, allow_null=True)


class NexevoBlockSerializer(serializers.Serializer):
    generation_id = serializers.CharField(help_text="`gen_…`: rate it with `POST /v1/feedback`.")
    tier = serializers.ChoiceField(choices=Tier.choices)
    model = serializers.CharField(
        help_text="The model that served it (for a pool, the one the router chose)."
    )
    cost_usd = ExactMoneyField(help_text="What this request cost, charged to the balance.")


class ChatCompletionSerializer(serializers.Serializer):
    """The provider's OpenAI-shaped answer as it came, with the gateway's ``nexevo`` block."""

    id = serializers.CharField(required=False)
    object = serializers.CharField(required=False, help_text="`chat.completion`.")
    created = serializers.IntegerField(required=False)
    model = serializers.CharField(required=False, help_text="The provider's name for the model.")
    choices = DocumentedField(
        required=False,
        schema={
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": True,
                "properties": {
                    "index": {"type": "integer"},
                    "message": {"type": "object", "additionalProperties": True},
                    "finish_reason": {"type": "string", "nullable": True},
                },
            },
        },
    )
    usage = DocumentedField(
        required=False,
        schema={
            "type": "object",
            "additionalProperties": True,
            "nullable": True,
            "properties": {
                "prompt_tokens": {"type": "integer"},
                "completion_tokens": {"type": "integer"},
                "total_tokens": {"type": "integer"},
            },
        },
    )
    nexevo = NexevoBlockSerializer()


STREAM_DESCRIPTION = (
    "With `stream: true`: server-sent events, each `data: {chat.completion.chunk}`, as the provider "
    "sends them. The last chunk before `data: [DONE]` has no choices and carries the `nexevo` block "
    "(and the usage chunk comes before it when `stream_options.include_usage` is true). A provider "
    'that stops early ends the stream with `data: {"error": {...}}` (`upstream_closed_early`) and '
    "no `[DONE]`; what it produced is charged."
)

# OpenAPI 3.0 has a text/event-stream schema describe one event (3.2 would say it with itemSchema).
STREAM_EVENT = {
    "type": "object",
    "description": "One server-sent event.",
    "properties": {
        "data": {
            "type": "string",
            "description": "A `chat.completion.chunk` as JSON, the last one with the `nexevo` block; an "
            "`error` envelope if the provider stopped early; or `[DONE]`.",
        },
        "event": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
    "required": ["data"],
}

RATE_LIMIT_HEADERS = [
    OpenApiParameter(
        f"x-ratelimit-{what}-{unit}",
        {"type": "string"} if what == "reset" else {"type": "integer", "minimum": 0},
        OpenApiParameter.HEADER,
        description=description,
        response=[200],
    )
    for unit in ("requests", "tokens")
    for what, description in (
        ("limit", f"The key's {unit} per minute."),
        ("remaining", f"The {unit} left in the key's bucket."),
        ("reset", "How long until the bucket is full again, e.g. `1s`, `6m0s`."),
    )
]


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


RESPONSES = {
    (200, "application/json"): OpenApiResponse(
        ChatCompletionSerializer, description="The completion, with the `nexevo` block."
    ),
    (200, "text/event-stream"): OpenApiResponse(STREAM_EVENT, description=STREAM_DESCRIPTION),
    400: _error(
        "The body or the model refused before anything was held or sent: `invalid_json`, "
        f"`json_too_deep` (more than {MAX_DEPTH} levels), `invalid_text` (a lone surrogate or NUL; "
        "`param` names where), `missing_model`, `invalid_model`, `invalid_messages`, "
        "`invalid_max_tokens`, `invalid_stream`, `invalid_type` (`param` names the field), "
        "`unsupported_parameter` (`n` other than 1), `unknown_model`, "
        "`model_not_allowed_by_routing_policy`; or the provider refused the request: "
        "`upstream_rejected`, with its reason, nothing charged."
    ),
    401: _error("`invalid_api_key` (missing, malformed, revoked or unknown) or `key_expired`."),
    402: _error(
        "`insufficient_balance` (the balance is used up), or `spend_cap_exceeded`: the key's monthly "
        "cap is reached, or this request's worst case is more than it has left (`param` is "
        "`max_tokens` then)."
    ),
    413: _error("`request_too_large`: the body is too large."),
    429: _error(
        "`rate_limit_exceeded`: the key's requests or tokens per minute are used up, or the client's "
        "address sent too many requests with an invalid key. `Retry-After` says when to retry."
    ),
    502: _error("`upstream_error`: the provider failed on every model tried. Nothing is charged."),
    503: _error(
        "`no_eligible_model` (nothing in the pool under the key's routing policy), `model_unavailable` "
        "(the model or its provider is switched off), or `service_unavailable` (spend caps cannot be "
        "checked right now; keys without a cap are still served)."
    ),
    504: _error("`upstream_timeout`: the provider did not answer in time. Nothing is charged."),
}


class ChatCompletionsSchema(AutoSchema):
    def error_statuses(self) -> set[int]:
        return set()  # every answer is declared in RESPONSES


class ChatCompletionsDocumentation(APIView):
    """Never routed to: it only describes gateway.api's endpoint to drf-spectacular."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]
    schema = ChatCompletionsSchema()

    @extend_schema(
        operation_id="chat_completions_create",
        tags=["chat"],
        summary="Create a chat completion (OpenAI-compatible), routed and metered",
        description=(
            "OpenAI's chat completion, in front of many providers. `model` is `nexevo/fast` or "
            "`nexevo/balanced` (a pool at the plan's flat rate, the router picks the model) or a model "
            "id from `GET /v1/models` (its list price plus the plan's markup, or the organization's "
            "own provider key). The answer is the provider's, with a `nexevo` block: the generation "
            "id, the tier, the model that served it and the cost. The key's routing policy limits the "
            "regions served; its spend cap and rate limits are checked before the provider is called."
        ),
        request=ChatCompletionRequestSerializer,
        responses=RESPONSES,
        parameters=[
            OpenApiParameter(
                GENERATION_HEADER,
                {"type": "string", "pattern": "^gen_"},
                OpenApiParameter.HEADER,
                required=True,
                description="The generation id, as in the `nexevo` block.",
                response=[200],
            ),
            *RATE_LIMIT_HEADERS,
        ],
        examples=[
            OpenApiExample(
                "Hello",
                request_only=True,
                value={"model": "nexevo/balanced", "messages": [{"role": "user", "content": "Hello!"}]},
            ),
        ],
    )
    def post(self, request):  # pragma: no cover - never routed
        raise NotImplementedError


def add_chat_completions(endpoints, **kwargs):
    """drf-spectacular's preprocessing hook: the chat endpoint, beside the DRF views."""
    view = ChatCompletionsDocumentation.as_view()
    return [*endpoints, (PATH, r"^v1/chat/completions\Z", "POST", view)]
