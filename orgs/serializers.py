from rest_framework import serializers

from core.serializer_fields import StrictCharField


class OrganizationSerializer(serializers.Serializer):
    org_id = serializers.CharField(source="id")
    name = serializers.CharField()
    personal = serializers.BooleanField(source="is_personal")
    created_at = serializers.DateTimeField()
    owner_user_id = serializers.CharField(allow_null=True)


ROLES = ["owner", "admin", "developer"]
ASSIGNABLE_ROLES = {"type": "string", "enum": ["admin", "developer"]}


class OrganizationListItemSerializer(OrganizationSerializer):
    role = serializers.ChoiceField(choices=ROLES, help_text="The caller's role in this organization.")


class MembershipRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ROLES)


class OrganizationWithMembershipSerializer(serializers.Serializer):
    organization = OrganizationSerializer()
    membership = MembershipRoleSerializer()


class OrganizationCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100)


class MemberSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    email = serializers.EmailField(source="user.email")
    full_name = serializers.CharField(source="user.full_name", allow_blank=True)
    role = serializers.ChoiceField(choices=ROLES)
    joined_at = serializers.DateTimeField()


class MemberUpdateSerializer(serializers.Serializer):
    role = StrictCharField(max_length=16, schema=ASSIGNABLE_ROLES, help_text="admin or developer")


class InvitationSerializer(serializers.Serializer):
    invitation_id = serializers.CharField(source="id")
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=ROLES)
    status = serializers.ChoiceField(
        source="current_status",
        choices=["pending", "accepted", "revoked", "expired"],
        help_text="pending, accepted, revoked or expired",
    )
    invited_by = serializers.CharField(source="invited_by_id")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


class InvitationEnvelopeSerializer(serializers.Serializer):
    invitation = InvitationSerializer()


class InvitationCreateSerializer(serializers.Serializer):
    email = StrictCharField(max_length=254, schema={"type": "string", "format": "email", "maxLength": 254})
    role = StrictCharField(max_length=16, schema=ASSIGNABLE_ROLES)


class TransferOwnerSerializer(serializers.Serializer):
    new_owner_user_id = StrictCharField(max_length=64)
