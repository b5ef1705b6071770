from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import httpx

from ._errors import APIConnectionError, APITimeoutError, NexevoError, error_from_response
from ._version import __version__
from .resources.auth import Auth
from .resources.billing import Billing
from .resources.chat import Chat
from .resources.conversations import Conversations
from .resources.feedback import Feedback
from .resources.keys import Keys
from .resources.models import Models
from .resources.organizations import Organizations

DEFAULT_BASE_URL = "http://127.0.0.1:8000"

INITIAL_RETRY_DELAY_SECONDS = 0.5
MAX_RETRY_DELAY_SECONDS = 8.0
# A server may ask for a long pause; past this, the caller is better served by the error.
MAX_RETRY_AFTER_SECONDS = 60.0
# Each back-off is shortened by up to this fraction, so clients that failed together retry apart.
RETRY_JITTER_FRACTION = 0.25


class Nexevo:
    """Client for the Nexevo Console API.

    `api_key` defaults to $NEXEVO_API_KEY and `base_url` (the server root, with or without `/v1`) to
    $NEXEVO_BASE_URL, then to http://127.0.0.1:8000. Methods return the parsed JSON body.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        *,
        _sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        api_key = api_key or os.environ.get("NEXEVO_API_KEY")
        if not api_key:
            raise NexevoError(
                "No API key: pass api_key= to Nexevo() or set the NEXEVO_API_KEY environment variable."
            )
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")

        self.base_url = _server_root(base_url or os.environ.get("NEXEVO_BASE_URL") or DEFAULT_BASE_URL)
        self.max_retries = max_retries
        # Injectable so tests can record back-off delays instead of waiting them out.
        self._sleep = _sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            headers={
                "Authorization": f"Bearer {api_key}",
                "User-Agent": f"nexevo-python/{__version__}",
                "Accept": "application/json",
            },
        )

        self.auth = Auth(self)
        self.keys = Keys(self)
        self.billing = Billing(self)
        self.chat = Chat(self)
        self.conversations = Conversations(self)
        self.feedback = Feedback(self)
        self.models = Models(self)
        self.organizations = Organizations(self)

    def close(self) -> None:
        """Close the underlying HTTP connections."""
        self._http.close()

    def __enter__(self) -> Nexevo:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool = False,
    ) -> Any:
        """Send one API call and return its parsed JSON body (None for an empty body).

        `idempotent=True` is for POSTs that create something: they carry an Idempotency-Key, the
        same on every attempt, so the server answers a retry without creating a second object.
        Only GETs and such requests are retried, on connection errors, 429 and 5xx.
        """
        headers = {}
        if idempotent:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        safe_to_repeat = method.upper() == "GET" or idempotent
        retries_allowed = self.max_retries if safe_to_repeat else 0
        # Optional arguments are passed straight through: an unset one must not send "cursor=None".
        query = {name: value for name, value in (params or {}).items() if value is not None}

        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, json=json, params=query, headers=headers)
            except httpx.TransportError as exc:
                if attempt >= retries_allowed:
                    raise _connection_error(exc) from exc
                delay = _backoff_delay(attempt)
            else:
                if not _is_retryable_status(response.status_code) or attempt >= retries_allowed:
                    return _parse_response(response)
                delay = _retry_after_seconds(response.headers)
                if delay is None:
                    delay = _backoff_delay(attempt)
                elif delay > MAX_RETRY_AFTER_SECONDS:
                    return _parse_response(response)
            self._sleep(delay)
            attempt += 1


def _server_root(base_url: str) -> str:
    """Accept the server root or the API root (`.../v1`), so either form from the docs works."""
    root = base_url.strip().rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return root


def _is_retryable_status(status_code: int) -> bool:
    return status_code == 429 or status_code >= 500


def _backoff_delay(attempt: int) -> float:
    delay = min(MAX_RETRY_DELAY_SECONDS, INITIAL_RETRY_DELAY_SECONDS * 2**attempt)
    return delay * (1 - RETRY_JITTER_FRACTION * random.random())


def _retry_after_seconds(headers: httpx.Headers) -> float | None:
    """The server's Retry-After in seconds; None when absent or not a number of seconds."""
    try:
        seconds = float(headers.get("Retry-After", ""))
    except ValueError:
        return None
    if not 0 <= seconds < float("inf"):
        return None
    return seconds


def _connection_error(exc: httpx.TransportError) -> APIConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"Request timed out: {exc}")
    return APIConnectionError(f"Could not reach the Nexevo API: {exc}")


def _parse_response(response: httpx.Response) -> Any:
    # A redirect means a misconfigured base_url; following it could turn a POST into a GET.
    if not response.is_success:
        raise error_from_response(response)
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise NexevoError(
            f"Expected JSON from {response.request.method} {response.request.url.path}, "
            f"got {response.headers.get('Content-Type', 'no content type')}"
        ) from exc
