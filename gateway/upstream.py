"""Calling an OpenAI-compatible provider: the HTTP client, what counts as a failure worth trying the
next candidate for, and reading a server-sent-events stream one event at a time."""

import asyncio
import json
import weakref

import httpx
from django.conf import settings

from .routing import Target

# One connection pool per event loop: uvicorn runs one loop, and a WSGI server runs each async view in
# a loop of its own.
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = (
    weakref.WeakKeyDictionary()
)


def client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    found = _clients.get(loop)
    if found is None:
        found = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=settings.NEXEVO_UPSTREAM_CONNECT_TIMEOUT,
                read=settings.NEXEVO_UPSTREAM_READ_TIMEOUT,
                write=settings.NEXEVO_UPSTREAM_READ_TIMEOUT,
                pool=settings.NEXEVO_UPSTREAM_CONNECT_TIMEOUT,
            ),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            follow_redirects=False,
            trust_env=False,
        )
        _clients[loop] = found
    return found


class UpstreamFailure(Exception):
    """A provider failed in a way another candidate may not: connection, timeout, 5xx or 429, or an
    answer that is not what the API promises. These, and only these, are the provider faults that
    count against a model's health (gateway.routing.PROVIDER_FAULTS)."""

    def __init__(self, code: str, message: str, *, timeout: bool = False):
        super().__init__(message)
        self.code = code
        self.message = message
        self.timeout = timeout


class UpstreamRejected(Exception):
    """The provider refused the request itself (a 4xx): another candidate would refuse it too."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def request_for(target: Target, body: dict, *, stream: bool) -> httpx.Request:
    payload = {**body, "model": target.upstream_name}
    if stream:
        # Ask for the usage in the final chunk, so a stream is priced from the provider's own count.
        payload["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    return client().build_request(
        "POST",
        f"{target.base_url}/chat/completions",
        content=json.dumps(payload, ensure_ascii=False).encode(),
        headers={
            "Authorization": f"Bearer {target.api_key}",
            "Content-Type": "application/json",
            "Accept-Encoding": "identity",
        },
    )


async def open_response(target: Target, request: httpx.Request) -> httpx.Response:
    """Sends ``request`` (``request_for``: built by the caller, so that nothing of ours failing to
    build it can pass for the provider's fault) and returns the response once its status line is in
    and is a 2xx; the body is still unread. Raises ``UpstreamFailure`` or ``UpstreamRejected``
    otherwise."""
    try:
        response = await client().send(request, stream=True)
    except httpx.TimeoutException:
        raise UpstreamFailure(
            "upstream_timeout", f"{target.provider} did not answer in time.", timeout=True
        ) from None
    except httpx.HTTPError as error:
        raise UpstreamFailure(
            "upstream_unreachable", f"{target.provider} could not be reached ({error})."
        ) from None
    if response.is_success:
        return response
    try:
        detail = (await response.aread())[:2000]
    except httpx.HTTPError:
        detail = b""
    finally:
        await response.aclose()
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise UpstreamFailure(
            "upstream_error", f"{target.provider} answered HTTP {response.status_code}.", timeout=False
        )
    raise UpstreamRejected(response.status_code, _upstream_message(detail, response.status_code))


def _upstream_message(detail: bytes, status: int) -> str:
    """The provider's own error sentence when it sent one in the OpenAI shape."""
    try:
        message = json.loads(detail)["error"]["message"]
        if isinstance(message, str) and message:
            return message[:500]
    except (ValueError, KeyError, TypeError):
        pass
    return f"The provider refused the request (HTTP {status})."


class EventReader:
    """Splits a byte stream into server-sent events (``data: ...`` blocks ended by a blank line)."""

    def __init__(self):
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buffer += chunk.replace(b"\r\n", b"\n")
        events = []
        while b"\n\n" in self._buffer:
            event, self._buffer = self._buffer.split(b"\n\n", 1)
            events.append(event + b"\n\n")
        return events

    def rest(self) -> bytes:
        return self._buffer


def event_data(event: bytes) -> bytes | None:
    """The joined ``data:`` lines of one event, or None if it has none."""
    lines = [line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None
