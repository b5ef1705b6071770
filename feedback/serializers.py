from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.serializer_fields import PassThroughField

from .models import COMMENT_MAX_LENGTH, MAX_TAGS
from .services import TAG

RATE = {"type": "string", "pattern": r"^[01]\.[0-9]{4}$", "example": "0.8500"}


class FeedbackSerializer(serializers.Serializer):
    feedback_id = serializers.CharField(source="id")
    generation_id = serializers.CharField()
    rating = serializers.ChoiceField(choices=[1, -1])
    comment = serializers.CharField(allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField())
    model = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class FeedbackSubmitSerializer(serializers.Serializer):
    generation_id = PassThroughField(
        schema={
            "type": "string",
            "description": "gen_..., from X-Nexevo-Generation-Id or the answer's nexevo block.",
        }
    )
    rating = PassThroughField(schema={"type": "integer", "enum": [1, -1]})
    comment = PassThroughField(
        required=False, allow_null=True, schema={"type": "string", "maxLength": COMMENT_MAX_LENGTH}
    )
    tags = PassThroughField(
        required=False,
        allow_null=True,
        schema={
            "type": "array",
            "items": {"type": "string", "pattern": TAG.pattern},
            "maxItems": MAX_TAGS,
        },
    )


@extend_schema_field(RATE)
class RateField(serializers.Field):
    """A share from 0 to 1 as a decimal string with 4 places, or null when nothing was rated."""

    def to_representation(self, value):
        return f"{value:f}"


class FeedbackCountsSerializer(serializers.Serializer):
    positive = serializers.IntegerField(min_value=0)
    negative = serializers.IntegerField(min_value=0)


class FeedbackByModelSerializer(FeedbackCountsSerializer):
    model = serializers.CharField()
    positive_rate = RateField(allow_null=True)


class FeedbackByDaySerializer(FeedbackCountsSerializer):
    date = serializers.DateField()


class FeedbackSummarySerializer(FeedbackCountsSerializer):
    days = serializers.IntegerField()
    total = serializers.IntegerField(min_value=0)
    positive_rate = RateField(allow_null=True)
    by_tag = serializers.DictField(child=serializers.IntegerField(min_value=1), help_text="Ratings per tag.")
    by_model = FeedbackByModelSerializer(many=True)
    by_day = FeedbackByDaySerializer(many=True)
