"""What GET /v1/models answers: OpenAI's model object (``id``, ``object``, ``created``, ``owned_by``)
and what the console knows beyond it (gateway.selectors.LibraryEntry)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import Tier
from billing.serializers import ExactMoneyField
from core.serializer_fields import DocumentedField

from .models import Region


class ModelPricingSerializer(serializers.Serializer):
    tier = serializers.ChoiceField(
        choices=Tier.choices,
        help_text="How a request to this model is priced for the caller: `fast` and `balanced` at the "
        "plan's flat rates, `passthrough` at the list price plus the plan's markup, `byok` (the "
        "organization's own provider key) at the plan's fee on the list price.",
    )
    input_per_million_usd = ExactMoneyField(
        help_text="Dollars per million prompt tokens, at the caller's plan."
    )
    output_per_million_usd = ExactMoneyField(
        help_text="Dollars per million completion tokens, at the caller's plan."
    )


class ModelCapabilitiesSerializer(serializers.Serializer):
    tools = serializers.BooleanField(help_text="Tool (function) calls.")
    vision = serializers.BooleanField(help_text="Images in the messages.")
    json_mode = serializers.BooleanField(help_text="`response_format` with a JSON schema.")
    reasoning = serializers.BooleanField(help_text="Reasons before it answers.")


class ModelRatingsSerializer(serializers.Serializer):
    """What gateway.ratings publishes: a figure is null where too few ratings or requests, or too few
    organizations, stand behind it for it to say anything but one organization's own numbers."""

    positive_rate = serializers.DecimalField(
        max_digits=4,
        decimal_places=3,
        allow_null=True,
        help_text="Thumbs up over all feedback on it, as a fraction (`0.875`); null below 20 ratings "
        "from at least 3 organizations.",
    )
    ratings = serializers.IntegerField(allow_null=True, help_text="The feedback counted; null with the rate.")
    p50_latency_ms = serializers.IntegerField(
        allow_null=True, help_text="Median time to a whole answer, in milliseconds."
    )
    error_rate = serializers.DecimalField(
        max_digits=4,
        decimal_places=3,
        allow_null=True,
        help_text="Requests that reached it and failed, as a fraction (refusals are not counted).",
    )
    output_tokens_per_second = serializers.DecimalField(
        max_digits=9, decimal_places=1, allow_null=True, help_text="Completion tokens per second of latency."
    )
    requests = serializers.IntegerField(
        allow_null=True, help_text="The requests counted; null below 20 from at least 3 organizations."
    )
    window_days = serializers.IntegerField(help_text="The days counted, up to now.")
    computed_at = serializers.DateTimeField(help_text="When the figures were last computed (hourly).")


class ModelSerializer(serializers.Serializer):
    id = serializers.CharField(
        help_text="What to send as `model`, e.g. `openai/gpt-4o-mini` or `nexevo/fast`."
    )
    object = serializers.SerializerMethodField()
    created = serializers.SerializerMethodField()
    owned_by = serializers.CharField(help_text="Who makes it (`nexevo` for the pools).")
    name = serializers.CharField()
    provider = serializers.CharField(allow_null=True, help_text="Who serves it; null for a pool.")
    region = serializers.ChoiceField(
        choices=Region.choices, allow_null=True, help_text="Where it is served; null for a pool."
    )
    available = serializers.BooleanField(
        help_text="Whether a request to it can be served now (false: its provider is switched off, or "
        "no candidate of the pool is served)."
    )
    context_length = serializers.IntegerField(
        allow_null=True,
        help_text="Tokens of prompt and answer together; a pool's is the shortest of its candidates'.",
    )
    max_output_tokens = serializers.IntegerField(allow_null=True, help_text="The longest answer, if known.")
    pricing = ModelPricingSerializer(source="*")
    capabilities = ModelCapabilitiesSerializer(
        help_text="What the model accepts; a pool's, what every one of its candidates accepts."
    )
    pools = serializers.ListField(
        child=serializers.CharField(), help_text="The pools (`nexevo/fast`, `nexevo/balanced`) it is in."
    )
    candidates = serializers.ListField(
        child=serializers.CharField(),
        allow_null=True,
        help_text="A pool's candidates under the key's routing policy; null for a real model id.",
    )
    ratings = ModelRatingsSerializer(
        source="rating",
        allow_null=True,
        help_text="Ratings from feedback and the request log over the last 30 days, across all "
        "organizations together; null for a pool, and until there are enough of them.",
    )

    @extend_schema_field({"type": "string", "enum": ["model"]})
    def get_object(self, entry) -> str:
        return "model"

    @extend_schema_field({"type": "integer", "minimum": 0, "description": "Unix time it was first offered."})
    def get_created(self, entry) -> int:
        return int(entry.created.timestamp()) if entry.created else 0


class ModelListSerializer(serializers.Serializer):
    """The whole list at once, as OpenAI answers it; ``has_more`` is always false."""

    object = serializers.ChoiceField(choices=["list"])
    data = ModelSerializer(many=True)
    has_more = serializers.BooleanField(help_text="Always false: the list is never cut into pages.")
    next_cursor = DocumentedField(
        read_only=True, schema={"type": "string", "nullable": True, "description": "Always null."}
    )
