import json
from decimal import Decimal

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from .text import check_json_text


class DecimalJSONParser(JSONParser):
    """Parses JSON numbers with a fraction as ``Decimal``, so an amount sent as ``20.5`` stays exact,
    and holds the body to the input policy (core.text): a string anywhere in it, an object's keys
    included, with a lone surrogate or a NUL is a 400 ``invalid_text`` naming where it is
    (``metadata.topic``), before any view reads the body."""

    def parse(self, stream, media_type=None, parser_context=None):
        # API.md: bodies are UTF-8, whatever charset a Content-Type claims.
        try:
            text = stream.read().decode("utf-8")
            if not text.strip():
                return {}
            data = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError) as error:
            raise ParseError(f"The request body is not valid JSON: {error}") from None
        except RecursionError:
            raise ParseError("The request body is nested too deeply.") from None
        check_json_text(data, param=None)
        return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")
