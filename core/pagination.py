"""Keyset pagination for every list endpoint (API.md, "Lists").

A page is ``{"data": [...], "has_more": bool, "next_cursor": str | None}``. The cursor is the sort key
of the page's last row, encoded opaquely; the next page is the rows strictly after it, so a row
inserted meanwhile neither repeats nor shifts a page the way OFFSET would.
"""

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime

from .errors import ServiceError
from .text import text_problem

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True)
class Page:
    items: list
    has_more: bool
    next_cursor: str | None


def parse_limit(
    raw: str | None, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT, param: str = "limit"
) -> int:
    if raw is None or raw == "":
        return default
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        limit = None
    if limit is None or not 1 <= limit <= maximum:
        raise ServiceError(
            f"{param} must be a whole number from 1 to {maximum}.", code="invalid_limit", param=param
        )
    return limit


def paginate(queryset: QuerySet, *, ordering: Sequence[str], limit: int, cursor: str | None) -> Page:
    """Returns one page of ``queryset`` sorted by ``ordering``.

    ``ordering`` names fields that together are unique (end with the primary key) and all sort the
    same way, e.g. ``("-created_at", "-id")``.
    """
    descending = ordering[0].startswith("-")
    if any(field.startswith("-") != descending for field in ordering):
        raise ValueError("keyset pagination needs every ordering field to sort the same way")
    names = [field.lstrip("-") for field in ordering]
    queryset = queryset.order_by(*ordering)
    if cursor:
        values = _decode_cursor(cursor, queryset.model, names)
        queryset = queryset.filter(_after(names, values, descending))
    rows = list(queryset[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode_cursor([_value_of(rows[-1], name) for name in names]) if has_more else None
    return Page(items=rows, has_more=has_more, next_cursor=next_cursor)


def _after(names: list[str], values: list, descending: bool) -> Q:
    """Rows strictly after ``values`` in the sort order: (a, b) > (x, y) spelled out for the ORM."""
    lookup = "lt" if descending else "gt"
    condition = Q()
    for position, name in enumerate(names):
        step = Q(**{f"{name}__{lookup}": values[position]})
        for earlier in range(position):
            step &= Q(**{names[earlier]: values[earlier]})
        condition |= step
    return condition


def _value_of(row, name: str):
    value = getattr(row, name)
    return value.isoformat() if hasattr(value, "isoformat") else value


def _encode_cursor(values: list) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, model, names: list[str]) -> list:
    """The sort key a cursor holds, each value checked against its column: the JSON type
    ``_encode_cursor`` gives it, and a value the column can hold. Anything else (a cursor edited by
    hand, or made up) is a 400 ``invalid_cursor``, never a query that fails in the database."""
    invalid = ServiceError(
        "The cursor is not one this endpoint gave out.", code="invalid_cursor", param="cursor"
    )
    if len(cursor) > 512:
        raise invalid
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise invalid from None
    if not isinstance(values, list) or len(values) != len(names):
        raise invalid
    try:
        return [
            _cursor_value(model._meta.get_field(name), value)
            for name, value in zip(names, values, strict=True)
        ]
    except (ValidationError, TypeError, ValueError, OverflowError):
        raise invalid from None


def _cursor_value(field, value):
    """``value`` as ``field``'s Python value, or ValueError when the column could not hold it."""
    if isinstance(field, models.DateTimeField):
        # Written by _encode_cursor as an ISO 8601 string with its offset. A value that has no
        # offset, or that leaves the years 1 to 9999 once moved to UTC (0001-01-01T00:00:00+01:00),
        # cannot be compared with the column.
        if not isinstance(value, str):
            raise ValueError("a date and time is written as a string")
        parsed = parse_datetime(value)
        if parsed is None or parsed.utcoffset() is None:
            raise ValueError("not an ISO 8601 date and time with an offset")
        return parsed.astimezone(UTC)
    if isinstance(field, models.DateField):
        if not isinstance(value, str):
            raise ValueError("a date is written as a string")
        return date.fromisoformat(value)
    if isinstance(field, models.IntegerField):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("a whole number is written as a JSON number")
        # The column's range on this database (Django's own validators for the field).
        field.run_validators(value)
        return value
    if not isinstance(value, str) or text_problem(value) is not None:
        raise ValueError("text is written as a string that a text column can hold")
    return field.to_python(value)
