"""Conversations: containers of messages that persist a chat. Appending never calls a model."""

import json
import re

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import NotFound, ServiceError
from core.text import check_json_text, check_text

from .models import CONTENT_MAX_LENGTH, TITLE_MAX_LENGTH, Conversation, Message, Role

METADATA_MAX_BYTES = 4096
METADATA_KEY = re.compile(r"^[A-Za-z0-9_\-.]{1,64}$")


def clean_title(title) -> str:
    if title is None:
        return ""
    if not isinstance(title, str):
        raise ServiceError(_("title must be a string."), code="invalid_title", param="title")
    title = check_text(title, param="title").strip()
    if len(title) > TITLE_MAX_LENGTH:
        raise ServiceError(
            _("A title has at most %(max)d characters.") % {"max": TITLE_MAX_LENGTH},
            code="title_too_long",
            param="title",
        )
    return title


def clean_metadata(metadata) -> dict:
    """A JSON object of at most 4 KB as compact UTF-8 JSON (API.md)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ServiceError(
            _('metadata must be a JSON object, like {"user_id": "u_123"}.'),
            code="invalid_metadata",
            param="metadata",
        )
    check_json_text(metadata, param="metadata")
    # The API parses JSON fractions as Decimal (for money); metadata is not money, so they go back to
    # JSON numbers here.
    compact = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False, default=float).encode()
    if len(compact) > METADATA_MAX_BYTES:
        raise ServiceError(
            _("metadata is %(size)d bytes as compact JSON; the limit is %(max)d.")
            % {"size": len(compact), "max": METADATA_MAX_BYTES},
            code="metadata_too_large",
            param="metadata",
        )
    # Stored as parsed from compact JSON, so decimals come back as the numbers they were sent as.
    return json.loads(compact)


def clean_metadata_key(key: str) -> str:
    if not METADATA_KEY.match(key or "") or "__" in key:
        raise ServiceError(
            _("A metadata key to filter on has 1 to 64 letters, digits, '_', '-' or '.'."),
            code="invalid_metadata_filter",
            param="metadata",
        )
    return key


@transaction.atomic
def conversation_create(*, organization, user, title=None, metadata=None) -> Conversation:
    return Conversation.objects.create(
        organization=organization,
        created_by=user,
        title=clean_title(title),
        metadata=clean_metadata(metadata),
        updated_at=timezone.now(),
    )


def _get_locked(organization, conversation_id: str) -> Conversation:
    conversation = (
        Conversation.objects.select_for_update().filter(organization=organization, id=conversation_id).first()
    )
    if conversation is None:
        raise NotFound(code="conversation_not_found")
    return conversation


@transaction.atomic
def conversation_update(*, organization, conversation_id: str, title=..., metadata=...) -> Conversation:
    """Changes the title and/or the metadata (replaced whole); what is not given stays."""
    conversation = _get_locked(organization, conversation_id)
    fields = []
    if title is not ...:
        conversation.title = clean_title(title)
        fields.append("title")
    if metadata is not ...:
        conversation.metadata = clean_metadata(metadata)
        fields.append("metadata")
    if fields:
        conversation.updated_at = timezone.now()
        conversation.save(update_fields=[*fields, "updated_at"])
    return conversation


@transaction.atomic
def conversation_delete(*, organization, conversation_id: str) -> None:
    _get_locked(organization, conversation_id).delete()


def _clean_message(role, content, name, tool_call_id) -> dict:
    if role not in Role.values:
        raise ServiceError(
            _("role must be one of: %(roles)s.") % {"roles": ", ".join(Role.values)},
            code="invalid_role",
            param="role",
        )
    if content is None:
        raise ServiceError(_("content is required."), code="content_required", param="content")
    if not isinstance(content, str):
        raise ServiceError(_("content must be a string."), code="invalid_content", param="content")
    check_text(content, param="content")
    if len(content) > CONTENT_MAX_LENGTH:
        raise ServiceError(
            _("content has %(length)d characters; the limit is %(max)d.")
            % {"length": len(content), "max": CONTENT_MAX_LENGTH},
            code="content_too_large",
            param="content",
            status=413,
        )
    for value, param, limit in ((name, "name", 64), (tool_call_id, "tool_call_id", 128)):
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise ServiceError(
                _("%(param)s must be a string of at most %(max)d characters.")
                % {"param": param, "max": limit},
                code=f"invalid_{param}",
                param=param,
            )
        if value is not None:
            check_text(value, param=param)
    return {"role": role, "content": content, "name": name or "", "tool_call_id": tool_call_id or ""}


@transaction.atomic
def message_append(
    *, organization, conversation_id: str, role, content=None, name=None, tool_call_id=None
) -> Message:
    """Appends a message with the next sequence number. The conversation's row lock orders
    concurrent appends: no gap, no repeat."""
    values = _clean_message(role, content, name, tool_call_id)
    conversation = _get_locked(organization, conversation_id)
    now = timezone.now()
    message = Message.objects.create(conversation=conversation, seq=conversation.message_count + 1, **values)
    Conversation.objects.filter(pk=conversation.pk).update(
        message_count=conversation.message_count + 1, updated_at=now
    )
    return message
