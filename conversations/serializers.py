from rest_framework import serializers

from core.serializer_fields import PassThroughField

from .models import CONTENT_MAX_LENGTH, TITLE_MAX_LENGTH, Role

METADATA = {
    "type": "object",
    "additionalProperties": True,
    "description": "A JSON object of at most 4 KB as compact UTF-8 JSON; larger is a 400 metadata_too_large.",
}


class MessageSerializer(serializers.Serializer):
    message_id = serializers.CharField(source="id")
    conversation_id = serializers.CharField()
    seq = serializers.IntegerField()
    role = serializers.ChoiceField(choices=Role.values)
    content = serializers.CharField(allow_blank=True)
    name = serializers.SerializerMethodField()
    tool_call_id = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_name(self, message) -> str | None:
        return message.name or None

    def get_tool_call_id(self, message) -> str | None:
        return message.tool_call_id or None


class ConversationSerializer(serializers.Serializer):
    conversation_id = serializers.CharField(source="id")
    title = serializers.CharField(allow_blank=True)
    metadata = PassThroughField(schema=METADATA)
    message_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ConversationDetailSerializer(ConversationSerializer):
    messages = MessageSerializer(many=True)
    messages_has_more = serializers.BooleanField()


class ConversationWriteSerializer(serializers.Serializer):
    title = PassThroughField(
        required=False, allow_null=True, schema={"type": "string", "maxLength": TITLE_MAX_LENGTH}
    )
    metadata = PassThroughField(required=False, allow_null=True, schema=METADATA)


class MessageCreateSerializer(serializers.Serializer):
    role = PassThroughField(schema={"type": "string", "enum": Role.values})
    # Missing or null is refused by the service, with its own code (content_required).
    content = PassThroughField(
        required=False,
        allow_null=True,
        schema={
            "type": "string",
            "maxLength": CONTENT_MAX_LENGTH,
            "description": f"Required; at most {CONTENT_MAX_LENGTH:,} characters (longer is a 413).",
        },
    )
    name = PassThroughField(required=False, allow_null=True, schema={"type": "string", "maxLength": 64})
    tool_call_id = PassThroughField(
        required=False, allow_null=True, schema={"type": "string", "maxLength": 128}
    )
