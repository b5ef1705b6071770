from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from .._client import Nexevo


class Models:
    """The models the calling key may ask for, with prices, context and capabilities: `client.models`."""

    def __init__(self, client: Nexevo) -> None:
        self._client = client

    def list(self) -> dict[str, Any]:
        """`{"object": "list", "data": [model, ...]}`: the pools, then every real model in the regions
        the key's routing policy allows. The whole list in one answer (`has_more` is always false)."""
        return self._client._request("GET", "/v1/models")

    def retrieve(self, model_id: str) -> dict[str, Any]:
        """One model by id (`"openai/gpt-4o-mini"`); 404 `NotFoundError` when it is not offered to the key."""
        # The id's slash stays a slash, as the list gives it; anything else is quoted into one segment.
        return self._client._request("GET", f"/v1/models/{quote(str(model_id), safe='/')}")
