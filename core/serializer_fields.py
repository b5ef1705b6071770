from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.ANY)
class PassThroughField(serializers.Field):
    """Hands the parsed JSON value to the service unchanged (a ``Decimal`` stays a ``Decimal``);
    the service validates it and names what was wrong."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value
