from rest_framework import serializers

from core.serializer_fields import PassThroughField


class MessageSerializer(serializers.Serializer):
    message_id = serializers.CharField(source="id")
    conversation_id = serializers.CharField()
    seq = serializers.IntegerField()
    role = serializers.CharField()
    content = serializers.CharField()
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
    metadata = serializers.JSONField()
    message_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ConversationDetailSerializer(ConversationSerializer):
    messages = MessageSerializer(many=True)
    messages_has_more = serializers.BooleanField()


class ConversationWriteSerializer(serializers.Serializer):
    title = PassThroughField(required=False, allow_null=True)
    metadata = PassThroughField(required=False, allow_null=True)


class MessageCreateSerializer(serializers.Serializer):
    role = PassThroughField()
    content = PassThroughField(required=False, allow_null=True)
    name = PassThroughField(required=False, allow_null=True)
    tool_call_id = PassThroughField(required=False, allow_null=True)
