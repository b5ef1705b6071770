from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._client import Nexevo


class Feedback:
    """Thumbs up or down on a generation, feeding the router: `client.feedback`."""

    def __init__(self, client: Nexevo) -> None:
        self._client = client

    def submit(
        self, generation_id: str, rating: int, comment: str | None = None, tags: list[str] | None = None
    ) -> dict[str, Any]:
        """`rating` is 1 or -1; a second submit for the same generation replaces the first."""
        body: dict[str, Any] = {"generation_id": generation_id, "rating": rating}
        if comment is not None:
            body["comment"] = comment
        if tags is not None:
            body["tags"] = tags
        return self._client._request("POST", "/v1/feedback", json=body, idempotent=True)

    def summary(self, days: int = 7) -> dict[str, Any]:
        """Totals, the positive rate (a decimal string), and counts by tag, by model and by day."""
        return self._client._request("GET", "/v1/feedback/summary", params={"days": days})
