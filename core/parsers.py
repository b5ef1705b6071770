import json
from decimal import Decimal

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class DecimalJSONParser(JSONParser):
    """Parses JSON numbers with a fraction as ``Decimal``, so an amount sent as ``20.5`` stays exact."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
            if not text.strip():
                return {}
            return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError) as error:
            raise ParseError(f"The request body is not valid JSON: {error}") from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")
