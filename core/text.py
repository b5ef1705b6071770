"""The one input policy for text, API and pages alike: a lone surrogate (``"\\ud800"``, which JSON can
spell but UTF-8 cannot store) or a NUL character (``"\\u0000"``, which PostgreSQL's text cannot hold)
is refused with a 400 ``invalid_text`` naming the field, before anything is written or held."""

from django.utils.translation import gettext as _

from .errors import ServiceError

INVALID_TEXT = "invalid_text"


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, in words, or None when it can."""
    if "\x00" in value:
        return _("contains a NUL character (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _("contains a lone surrogate (such as \\ud800), which is not a character")
    return None


def check_text(value: str, *, param: str | None) -> str:
    """``value`` itself, or a ServiceError (400 ``invalid_text``) saying what is wrong with it."""
    problem = text_problem(value)
    if problem is not None:
        raise ServiceError(
            _("%(param)s %(problem)s.") % {"param": param or _("The request"), "problem": problem},
            code=INVALID_TEXT,
            param=param,
        )
    return value


def check_json_text(value, *, param: str | None) -> None:
    """Every string in a parsed JSON value (object keys included) passes ``check_text``; ``param``
    names where the first one that does not is (``metadata.user_id``, ``messages[2].content``)."""
    if isinstance(value, str):
        check_text(value, param=param)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, param=param)
            check_json_text(item, param=f"{param}.{key}" if param else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json_text(item, param=f"{param}[{index}]" if param else f"[{index}]")
