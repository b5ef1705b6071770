"""Helpers that API views share."""

from rest_framework.response import Response

from .errors import ServiceError
from .pagination import paginate, parse_limit


def paginated_response(request, queryset, *, ordering, serializer_class, context=None) -> Response:
    """A list in API.md's shape, one keyset page of ``queryset`` per request."""
    page = paginate(
        queryset,
        ordering=ordering,
        limit=parse_limit(request.query_params.get("limit")),
        cursor=request.query_params.get("cursor"),
    )
    return Response(
        {
            "data": serializer_class(page.items, many=True, context=context or {}).data,
            "has_more": page.has_more,
            "next_cursor": page.next_cursor,
        }
    )


MAX_DAYS = 366


def parse_days(request, default: int = 7) -> int:
    """``?days=N`` for the reports: a whole number from 1 to 366."""
    raw = request.query_params.get("days", str(default))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_DAYS:
        raise ServiceError(
            f"days must be a whole number from 1 to {MAX_DAYS}.", code="invalid_days", param="days"
        )
    return int(raw)
