from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx

from .._errors import NexevoError, error_from_response

if TYPE_CHECKING:
    from .._client import Nexevo


class Chat:
    """OpenAI-compatible chat: `client.chat.completions.create(...)`."""

    def __init__(self, client: Nexevo) -> None:
        self.completions = Completions(client)


class Completions:
    def __init__(self, client: Nexevo) -> None:
        self._client = client

    def create(self, model: str, messages: list[dict[str, Any]], stream: bool = False, **params: Any) -> Any:
        """One chat completion. Any other OpenAI parameter (temperature, max_tokens, tools, ...) passes
        through. Returns the response dict, with `resp["nexevo"]["generation_id"]`, `tier`, `model`
        and `cost_usd`; with `stream=True`, a `Stream` of chunk dicts whose last chunk carries the
        `nexevo` block. A chat request costs money, so it is never retried automatically."""
        body = {"model": model, "messages": messages, **params}
        if not stream:
            return self._client._request("POST", "/v1/chat/completions", json=body)
        return Stream(self._client._http, {**body, "stream": True})


class Stream:
    """The chunks of a streamed completion as they arrive. Iterate it; it closes itself at the end
    (or use it as a context manager to stop early). `generation_id` is known before the first chunk."""

    def __init__(self, http: httpx.Client, body: dict[str, Any]) -> None:
        request = http.build_request("POST", "/v1/chat/completions", json=body)
        request.headers["Accept"] = "text/event-stream"
        try:
            self._response = http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise NexevoError(f"Could not reach the Nexevo API: {exc}") from exc
        if not self._response.is_success:
            self._response.read()
            self._response.close()
            raise error_from_response(self._response)
        self.generation_id = self._response.headers.get("X-Nexevo-Generation-Id")

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            for line in self._response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    return
                chunk = json.loads(data)
                if "error" in chunk and not chunk.get("choices"):
                    raise NexevoError(chunk["error"].get("message", "The stream ended with an error."))
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
