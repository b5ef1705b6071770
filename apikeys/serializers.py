from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.money import format_usd
from core.schema import CENTS, CENTS_INPUT
from core.serializer_fields import PassThroughField, StrictCharField

from .models import RoutingPolicy
from .services import MAX_ALERT_THRESHOLDS, NAME_MAX_LENGTH

ROUTING_POLICY = {"type": "string", "enum": list(RoutingPolicy.values)}
THRESHOLDS = {
    "type": "array",
    "items": {"type": "integer", "minimum": 1, "maximum": 100},
    "minItems": 1,
    "maxItems": MAX_ALERT_THRESHOLDS,
    "description": "Percentages of the monthly cap at which the alert webhook is called.",
}


class ApiKeySerializer(serializers.Serializer):
    key_id = serializers.CharField(source="id")
    name = serializers.CharField()
    display = serializers.CharField()
    status = serializers.ChoiceField(choices=["active", "revoked", "expired"])
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(source="created_by_id")
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    monthly_spend_cap_usd = serializers.SerializerMethodField()
    month_to_date_spend_usd = serializers.SerializerMethodField()
    alert_webhook_url = serializers.SerializerMethodField()
    alert_thresholds_pct = serializers.ListField(child=serializers.IntegerField())
    routing_policy = serializers.ChoiceField(choices=RoutingPolicy.values)

    @extend_schema_field({**CENTS, "nullable": True})
    def get_monthly_spend_cap_usd(self, api_key) -> str | None:
        cap = api_key.monthly_spend_cap_usd
        return format_usd(cap) if cap is not None else None

    @extend_schema_field(CENTS)
    def get_month_to_date_spend_usd(self, api_key) -> str:
        return format_usd(api_key.month_to_date_spend())

    def get_alert_webhook_url(self, api_key) -> str | None:
        return api_key.alert_webhook_url or None


class ApiKeyWithSecretSerializer(ApiKeySerializer):
    webhook_secret = serializers.CharField(allow_null=True, help_text="whsec_..., signs alert deliveries")


class ApiKeyCreatedSerializer(serializers.Serializer):
    full_key = serializers.CharField(
        allow_null=True,
        help_text="Shown in this response only: null when the answer is a replay of an earlier request "
        "with the same Idempotency-Key (the key is never stored in full).",
    )
    key = ApiKeySerializer()
    webhook_secret = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="Present when a webhook was set; null in a replay, as full_key.",
    )


class ApiKeyCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX_LENGTH)
    monthly_spend_cap_usd = PassThroughField(required=False, allow_null=True, schema=CENTS_INPUT)
    alert_webhook_url = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=4000)
    routing_policy = StrictCharField(required=False, default="any", schema=ROUTING_POLICY)
    alert_thresholds_pct = PassThroughField(required=False, schema=THRESHOLDS)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class ApiKeyUpdateSerializer(serializers.Serializer):
    name = StrictCharField(required=False, max_length=NAME_MAX_LENGTH)
    alert_thresholds_pct = PassThroughField(required=False, schema=THRESHOLDS)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class SpendCapSerializer(serializers.Serializer):
    monthly_spend_cap_usd = PassThroughField(required=False, allow_null=True, schema=CENTS_INPUT)
    clear = serializers.BooleanField(required=False, default=False)


class AlertWebhookSerializer(serializers.Serializer):
    url = StrictCharField(allow_null=True, allow_blank=True, max_length=4000)


class RoutingPolicySerializer(serializers.Serializer):
    routing_policy = StrictCharField(schema=ROUTING_POLICY)
