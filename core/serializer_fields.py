from rest_framework import serializers


class DocumentedField(serializers.Field):
    """A field whose OpenAPI schema is given where it is declared: ``schema={"type": "string",
    "enum": [...]}`` states what the API accepts when a service, not the field, checks the value
    (and words the refusal). Without ``schema`` drf-spectacular describes the field as usual;
    ``core.schema.DocumentedFieldExtension`` reads it."""

    def __init__(self, *args, schema: dict | None = None, **kwargs):
        # DRF re-creates declared fields from their arguments for every serializer, so the schema
        # travels as an argument rather than as an attribute set afterwards.
        self.openapi_schema = schema
        super().__init__(*args, **kwargs)


class StrictCharField(DocumentedField, serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class PassThroughField(DocumentedField):
    """Hands the parsed JSON value to the service unchanged (a ``Decimal`` stays a ``Decimal``);
    the service validates it and names what was wrong. Any JSON value, unless ``schema`` says more."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value
