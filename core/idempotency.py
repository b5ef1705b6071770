"""``Idempotency-Key`` for API endpoints that create something (API.md, "Idempotency").

A retry with the same key and the same body returns the first response and creates nothing; the
same key with a different body is a 409. The view and the record are written in one transaction,
so two concurrent requests with one key cannot both create: the second one's insert of the record
fails on the unique constraint, its work is rolled back, and it answers with the first response.
"""

import functools
import hashlib
import json
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from .api import error_response
from .models import IdempotencyRecord
from .text import check_text

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
RETENTION = timedelta(hours=24)


def idempotent(view_method=None, *, secret_fields: tuple[str, ...] = ()):
    """Decorates an APIView's ``post`` so that a retried request is answered, not repeated.

    ``secret_fields`` are top-level response fields never stored: a replay answers them with null
    (a full API key is shown once, even to a retry).
    """
    if view_method is None:
        return functools.partial(idempotent, secret_fields=secret_fields)

    @functools.wraps(view_method)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view_method(view, request, *args, **kwargs)
        if not key.strip() or len(key) > MAX_KEY_LENGTH:
            return error_response(
                400,
                code="invalid_idempotency_key",
                param=HEADER,
                message=f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.",
            )
        # The key is stored; a server that lets a NUL through in a header must not reach the database.
        check_text(key, param=HEADER)
        scope, endpoint = _scope(request), request.path
        fingerprint = _fingerprint(request)
        earlier = _replay(scope, key, endpoint, fingerprint)
        if earlier is not None:
            return earlier
        IdempotencyRecord.objects.filter(
            scope=scope, key=key, endpoint=endpoint, created_at__lt=timezone.now() - RETENTION
        ).delete()
        try:
            with transaction.atomic():
                response = view_method(view, request, *args, **kwargs)
                if 200 <= response.status_code < 300:
                    hidden = {field: None for field in secret_fields if field in response.data}
                    stored = {**response.data, **hidden}
                    IdempotencyRecord.objects.create(
                        scope=scope,
                        key=key,
                        endpoint=endpoint,
                        request_fingerprint=fingerprint,
                        response_status=response.status_code,
                        response_body=stored,
                    )
                return response
        except IntegrityError:
            earlier = _replay(scope, key, endpoint, fingerprint)
            if earlier is None:
                raise
            return earlier

    # Read by the OpenAPI schema (core.schema), which documents the header and the 409.
    wrapper.honours_idempotency_key = True
    return wrapper


def _scope(request) -> str:
    """Whose retry it is: the calling key (each key acts in one organization), or the session's
    user in the organization picked in the switcher."""
    key_id = getattr(request.auth, "pk", None)
    if key_id:
        return str(key_id)
    from orgs.selectors import ACTIVE_ORGANIZATION_SESSION_KEY

    return f"{request.user.pk}:{request.session.get(ACTIVE_ORGANIZATION_SESSION_KEY, '')}"


def _fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _replay(scope: str, key: str, endpoint: str, fingerprint: str) -> Response | None:
    record = IdempotencyRecord.objects.filter(
        scope=scope, key=key, endpoint=endpoint, created_at__gte=timezone.now() - RETENTION
    ).first()
    if record is None:
        return None
    if record.request_fingerprint != fingerprint:
        return error_response(
            409,
            code="idempotency_key_reused",
            param=HEADER,
            message=f"This {HEADER} was used with a different request. Use a new key.",
        )
    response = Response(record.response_body, status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotency_records_prune() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - RETENTION).delete()
    return deleted
