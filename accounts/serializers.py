from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.serializer_fields import StrictCharField

from .forms import FULL_NAME_MAX_LENGTH


class OrganizationRefSerializer(serializers.Serializer):
    org_id = serializers.CharField(source="organization_id")
    name = serializers.CharField(source="organization.name")
    role = serializers.ChoiceField(choices=["owner", "admin", "developer"])


class MeSerializer(serializers.Serializer):
    user_id = serializers.CharField(source="id")
    email = serializers.EmailField()
    full_name = serializers.CharField()
    email_verified = serializers.BooleanField()
    two_fa_enabled = serializers.BooleanField(source="two_factor_enabled")
    date_joined = serializers.DateTimeField()
    organizations = serializers.SerializerMethodField()

    @extend_schema_field(OrganizationRefSerializer(many=True))
    def get_organizations(self, user) -> list[dict]:
        return OrganizationRefSerializer(self.context["memberships"], many=True).data


class ProfileUpdateSerializer(serializers.Serializer):
    full_name = StrictCharField(max_length=FULL_NAME_MAX_LENGTH, allow_blank=True, trim_whitespace=True)


class ChangePasswordSerializer(serializers.Serializer):
    current_password = StrictCharField(trim_whitespace=False, max_length=4096)
    new_password = StrictCharField(trim_whitespace=False, max_length=4096)


class TwoFactorStatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    methods = serializers.ListField(child=serializers.ChoiceField(choices=["totp"]))
    recovery_codes_remaining = serializers.IntegerField()
