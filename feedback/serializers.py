from rest_framework import serializers

from core.serializer_fields import PassThroughField


class FeedbackSerializer(serializers.Serializer):
    feedback_id = serializers.CharField(source="id")
    generation_id = serializers.CharField()
    rating = serializers.IntegerField()
    comment = serializers.CharField(allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField())
    model = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class FeedbackSubmitSerializer(serializers.Serializer):
    generation_id = PassThroughField()
    rating = PassThroughField()
    comment = PassThroughField(required=False, allow_null=True)
    tags = PassThroughField(required=False, allow_null=True)
