from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.money import format_usd
from core.serializer_fields import PassThroughField, StrictCharField


class ApiKeySerializer(serializers.Serializer):
    key_id = serializers.CharField(source="id")
    name = serializers.CharField()
    display = serializers.CharField()
    status = serializers.CharField(help_text="active, revoked or expired")
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(source="created_by_id")
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    monthly_spend_cap_usd = serializers.SerializerMethodField()
    month_to_date_spend_usd = serializers.SerializerMethodField()
    alert_webhook_url = serializers.SerializerMethodField()
    alert_thresholds_pct = serializers.ListField(child=serializers.IntegerField())
    routing_policy = serializers.CharField()

    def get_monthly_spend_cap_usd(self, api_key) -> str | None:
        cap = api_key.monthly_spend_cap_usd
        return format_usd(cap) if cap is not None else None

    def get_month_to_date_spend_usd(self, api_key) -> str:
        return format_usd(api_key.month_to_date_spend())

    def get_alert_webhook_url(self, api_key) -> str | None:
        return api_key.alert_webhook_url or None


@extend_schema_field({"type": "string", "example": "100.00", "nullable": True})
class AmountField(PassThroughField):
    """A decimal string (or a JSON number); the money module decides whether it is acceptable."""


@extend_schema_field({"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 100}})
class ThresholdsField(PassThroughField):
    pass


class ApiKeyWithSecretSerializer(ApiKeySerializer):
    webhook_secret = serializers.CharField(allow_null=True, help_text="whsec_..., signs alert deliveries")


class ApiKeyCreatedSerializer(serializers.Serializer):
    full_key = serializers.CharField(help_text="Shown in this response only.")
    key = ApiKeySerializer()
    webhook_secret = serializers.CharField(required=False, help_text="Present when a webhook was set.")


class ApiKeyCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100)
    monthly_spend_cap_usd = AmountField(required=False, allow_null=True)
    alert_webhook_url = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=4000)
    routing_policy = StrictCharField(required=False, default="any")
    alert_thresholds_pct = ThresholdsField(required=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class ApiKeyUpdateSerializer(serializers.Serializer):
    name = StrictCharField(required=False, max_length=100)
    alert_thresholds_pct = ThresholdsField(required=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class SpendCapSerializer(serializers.Serializer):
    monthly_spend_cap_usd = AmountField(required=False, allow_null=True)
    clear = serializers.BooleanField(required=False, default=False)


class AlertWebhookSerializer(serializers.Serializer):
    url = StrictCharField(allow_null=True, allow_blank=True, max_length=4000)


class RoutingPolicySerializer(serializers.Serializer):
    routing_policy = StrictCharField()
