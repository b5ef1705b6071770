from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote


def _id(value: str) -> str:
    """An id as one URL path segment, whatever it contains."""
    return quote(str(value), safe="")


if TYPE_CHECKING:
    from .._client import Nexevo


class Conversations:
    """Conversation history: containers of messages that persist a chat (`client.conversations`).
    Appending a message stores it; it never calls a model."""

    def __init__(self, client: Nexevo) -> None:
        self._client = client

    def create(self, title: str | None = None, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {"title": title, "metadata": metadata}
        return self._client._request(
            "POST",
            "/v1/conversations",
            json={k: v for k, v in body.items() if v is not None},
            idempotent=True,
        )

    def list(
        self, limit: int = 20, cursor: str | None = None, metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Newest activity first; `metadata={"user_id": "u_1"}` filters on top-level keys."""
        params: dict[str, Any] = {"limit": limit, "cursor": cursor}
        for key, value in (metadata or {}).items():
            params[f"metadata[{key}]"] = str(value).lower() if isinstance(value, bool) else value
        return self._client._request("GET", "/v1/conversations", params=params)

    def get(self, conversation_id: str, message_limit: int = 100) -> dict[str, Any]:
        """The conversation with its most recent `message_limit` messages, oldest first."""
        return self._client._request(
            "GET", f"/v1/conversations/{_id(conversation_id)}", params={"message_limit": message_limit}
        )

    def update(
        self, conversation_id: str, *, title: str | None = None, metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body = {"title": title, "metadata": metadata}
        return self._client._request(
            "PATCH",
            f"/v1/conversations/{_id(conversation_id)}",
            json={k: v for k, v in body.items() if v is not None},
        )

    def delete(self, conversation_id: str) -> None:
        return self._client._request("DELETE", f"/v1/conversations/{_id(conversation_id)}")

    def append_message(
        self,
        conversation_id: str,
        *,
        role: str,
        content: str,
        name: str | None = None,
        tool_call_id: str | None = None,
    ) -> dict[str, Any]:
        body = {"role": role, "content": content, "name": name, "tool_call_id": tool_call_id}
        return self._client._request(
            "POST",
            f"/v1/conversations/{_id(conversation_id)}/messages",
            json={k: v for k, v in body.items() if v is not None},
            idempotent=True,
        )

    def list_messages(
        self, conversation_id: str, *, limit: int | None = None, cursor: str | None = None, order: str = "asc"
    ) -> dict[str, Any]:
        return self._client._request(
            "GET",
            f"/v1/conversations/{_id(conversation_id)}/messages",
            params={"limit": limit, "cursor": cursor, "order": order},
        )
