import re

from django.db.models import Q, QuerySet

from core.errors import NotFound

from .models import Conversation, Message
from .services import clean_metadata_key


def conversations_of(organization, *, metadata_filters: dict[str, str] | None = None, title_search: str = ""):
    """The organization's conversations; ``metadata_filters`` match top-level metadata keys."""
    conversations = Conversation.objects.filter(organization=organization)
    for key, value in (metadata_filters or {}).items():
        lookup = f"metadata__{clean_metadata_key(key)}"
        # A query string carries text: "3" matches the string "3" and the number 3, "true" the boolean.
        match = Q(**{lookup: value})
        typed = _typed(value)
        if typed is not None:
            match |= Q(**{lookup: typed})
        conversations = conversations.filter(match)
    if title_search:
        conversations = conversations.filter(title__icontains=title_search)
    return conversations


def _typed(raw: str):
    if raw in ("true", "false"):
        return raw == "true"
    if re.fullmatch(r"-?[0-9]{1,15}", raw):
        return int(raw)
    return None


def conversation_get(organization, conversation_id: str) -> Conversation:
    conversation = Conversation.objects.filter(organization=organization, id=conversation_id).first()
    if conversation is None:
        raise NotFound(code="conversation_not_found")
    return conversation


def latest_messages(conversation, *, limit: int) -> tuple[list[Message], bool]:
    """The most recent ``limit`` messages, oldest first, and whether older ones exist."""
    newest_first = list(conversation.messages.order_by("-seq")[: limit + 1])
    has_more = len(newest_first) > limit
    return list(reversed(newest_first[:limit])), has_more


def messages_of(conversation) -> QuerySet[Message]:
    return Message.objects.filter(conversation=conversation)
