"""Helpers that API views share."""

from rest_framework.response import Response

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
