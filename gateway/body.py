"""The chat request's body, checked before anything is held or sent.

``parse_body`` answers every way a body can be wrong with a 400 in the error envelope, so that nothing
after it can fail on the caller's input; what it refuses and with which code: gateway/ARCHITECTURE.md
(module table) and the tests in tests/gateway/test_malformed_bodies.py.
"""

import json

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import ServiceError
from core.text import check_json_text

# Deeper than this is refused. OpenAI-shaped bodies nest a handful of levels (a content part's
# image_url, a tool's JSON schema a dozen or two); the limit stays far from the recursion limit of
# the parser and of json.dumps, which the body goes through again on its way to the provider.
MAX_DEPTH = 64


class BadRequest(ServiceError):
    pass


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _objects(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


def _strings(value) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


# The top-level fields of OpenAI's chat completion request whose type is plain, with what they may
# be (null is always allowed: it means the field is not set) and the words for the message.
FIELD_TYPES = {
    "stream_options": (lambda value: isinstance(value, dict), gettext_lazy("an object")),
    "user": (lambda value: isinstance(value, str), gettext_lazy("a string")),
    "tools": (_objects, gettext_lazy("a list of objects")),
    "tool_choice": (lambda value: isinstance(value, str | dict), gettext_lazy("a string or an object")),
    "functions": (_objects, gettext_lazy("a list of objects")),
    "function_call": (lambda value: isinstance(value, str | dict), gettext_lazy("a string or an object")),
    "response_format": (lambda value: isinstance(value, dict), gettext_lazy("an object")),
    "metadata": (lambda value: isinstance(value, dict), gettext_lazy("an object")),
    "logit_bias": (lambda value: isinstance(value, dict), gettext_lazy("an object")),
    "stop": (_strings, gettext_lazy("a string or a list of strings")),
    "temperature": (_number, gettext_lazy("a number")),
    "top_p": (_number, gettext_lazy("a number")),
    "frequency_penalty": (_number, gettext_lazy("a number")),
    "presence_penalty": (_number, gettext_lazy("a number")),
    "seed": (_whole, gettext_lazy("a whole number")),
    "top_logprobs": (_whole, gettext_lazy("a whole number")),
    "logprobs": (lambda value: isinstance(value, bool), gettext_lazy("true or false")),
    "parallel_tool_calls": (lambda value: isinstance(value, bool), gettext_lazy("true or false")),
    "store": (lambda value: isinstance(value, bool), gettext_lazy("true or false")),
}

# The fields of a message whose type is plain (``content`` is checked on its own: a string, null or
# a list of content parts).
MESSAGE_FIELD_TYPES = {
    "role": (lambda value: isinstance(value, str), gettext_lazy("a string")),
    "name": (lambda value: isinstance(value, str), gettext_lazy("a string")),
    "tool_call_id": (lambda value: isinstance(value, str), gettext_lazy("a string")),
    "tool_calls": (_objects, gettext_lazy("a list of objects")),
    "function_call": (lambda value: isinstance(value, dict), gettext_lazy("an object")),
}


def _wrong_type(param: str, expected: str) -> BadRequest:
    return BadRequest(
        _("%(param)s must be %(expected)s.") % {"param": param, "expected": expected},
        code="invalid_type",
        param=param,
    )


def parse_body(raw: bytes) -> dict:
    """The request body as a dict, checked as far as the gateway can see (module docstring); raises
    ``BadRequest`` (or core.text's ``ServiceError`` for ``invalid_text``), a 400 either way."""
    try:
        text = (raw or b"").decode("utf-8")  # strictly: surrogates spelled in bytes are refused here
        body = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(_("The request body is not valid JSON."), code="invalid_json") from None
    except RecursionError:
        raise _too_deep() from None
    if not isinstance(body, dict):
        raise BadRequest(_("The request body must be a JSON object."), code="invalid_json")
    _check_depth(body)
    # Only an escape (\uXXXX) can put a lone surrogate or a NUL in a string decoded strictly from
    # UTF-8 (JSON refuses a raw control character in a string): most bodies skip the walk.
    if "\\u" in text:
        check_json_text(body, param=None)
    model = body.get("model")
    if model is None or model == "":
        raise BadRequest(_("model is required, e.g. nexevo/balanced."), code="missing_model", param="model")
    if not isinstance(model, str):
        raise BadRequest(_("model must be a string."), code="invalid_model", param="model")
    _check_messages(body.get("messages"))
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (not _whole(value) or value < 1):
            raise BadRequest(
                _("%(name)s must be a whole number of at least 1.") % {"name": name},
                code="invalid_max_tokens",
                param=name,
            )
    if body.get("max_tokens") is None and body.get("max_completion_tokens") is not None:
        body["max_tokens"] = body["max_completion_tokens"]
    if not isinstance(body.get("stream", False), bool):
        raise BadRequest(_("stream must be true or false."), code="invalid_stream", param="stream")
    if body.get("n") not in (None, 1):
        raise BadRequest(_("Only n=1 is supported."), code="unsupported_parameter", param="n")
    for name, (allowed, expected) in FIELD_TYPES.items():
        value = body.get(name)
        if value is not None and not allowed(value):
            raise _wrong_type(name, expected)
    include_usage = (body.get("stream_options") or {}).get("include_usage")
    if include_usage is not None and not isinstance(include_usage, bool):
        raise _wrong_type("stream_options.include_usage", _("true or false"))
    return body


def _check_messages(messages) -> None:
    if not isinstance(messages, list) or not messages:
        raise BadRequest(_("messages must be a non-empty list."), code="invalid_messages", param="messages")
    if not all(isinstance(message, dict) for message in messages):
        raise BadRequest(_("Each message must be an object."), code="invalid_messages", param="messages")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        content = message.get("content")
        if not (content is None or isinstance(content, str) or _content_parts(content)):
            raise BadRequest(
                _("%(param)s must be a string, null or a list of content parts (objects).")
                % {"param": f"{where}.content"},
                code="invalid_messages",
                param=f"{where}.content",
            )
        for name, (allowed, expected) in MESSAGE_FIELD_TYPES.items():
            value = message.get(name)
            if value is not None and not allowed(value):
                raise BadRequest(
                    _("%(param)s must be %(expected)s.") % {"param": f"{where}.{name}", "expected": expected},
                    code="invalid_messages",
                    param=f"{where}.{name}",
                )


def _content_parts(content) -> bool:
    return isinstance(content, list) and all(isinstance(part, dict) for part in content)


def _too_deep() -> BadRequest:
    return BadRequest(
        _("The request body is nested more than %(depth)d levels deep.") % {"depth": MAX_DEPTH},
        code="json_too_deep",
    )


def _check_depth(body: dict) -> None:
    """Refuses a body nested deeper than ``MAX_DEPTH``, without recursion of its own."""
    level = [body]
    depth = 1
    while level:
        if depth > MAX_DEPTH:
            raise _too_deep()
        below = []
        for value in level:
            children = value.values() if isinstance(value, dict) else value
            below.extend(child for child in children if isinstance(child, dict | list))
        level = below
        depth += 1
