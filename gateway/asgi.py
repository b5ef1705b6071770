"""``POST /v1/chat/completions`` served straight from the ASGI server, in front of Django.

Every other request, a Host not allowed and plain HTTP under ``SECURE_SSL_REDIRECT`` go to Django's
application; the host check and the security headers are core.security's, as Django's middleware
applies them. ``Client`` watches for ``http.disconnect`` once the body is in: a client that leaves
cancels its request. Why this door exists and what it answers: gateway/ARCHITECTURE.md.
"""

import asyncio
import contextlib
import gc
import logging
from functools import partial

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.http import HttpRequest
from django.utils import translation

from core import security
from core.errors import ServiceUnavailable
from core.languages import language_from_accept_language
from orgs.audit import client_ip

from . import api, database, errors, leases, snapshots

logger = logging.getLogger(__name__)

PATH = "/v1/chat/completions"


class ChatCompletions:
    """The ASGI application: this endpoint here, everything else to ``django_application``."""

    def __init__(self, django_application):
        self.django_application = django_application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await _lifespan(receive, send)
        if scope["type"] != "http" or scope["path"] != PATH:
            return await self.django_application(scope, receive, send)
        headers = _headers(scope)
        secure = _secure(scope, headers)
        if not secure and settings.SECURE_SSL_REDIRECT:
            return await self.django_application(scope, receive, send)
        if not security.host_allowed(headers.get("host", "")):  # Django answers it, as it would anyway
            return await self.django_application(scope, receive, send)
        raw_body = await _read_body(receive, limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        if raw_body is DISCONNECTED:  # the client went away before its body was in: nobody to answer
            return
        client = Client(receive)
        try:
            reply = await client.answer(self._reply(scope, headers, raw_body))
            if reply is None:  # the client went away first: the request was cancelled
                return
            try:
                await _send(reply, send, client, secure=secure)
            finally:
                await api.run_after(reply)
        finally:
            client.stop()

    async def _reply(self, scope, headers, raw_body) -> api.Reply:
        # PostgreSQL: the charge is written on the event loop's own connections (gateway.database).
        on_loop_connection = connections["default"].vendor == "postgresql"
        # The messages of the answer follow Accept-Language, as under Django (core.middleware).
        language = language_from_accept_language(headers.get("accept-language", ""))
        try:
            with translation.override(language):
                reply = await api.handle(
                    scope["method"],
                    headers.get("authorization", ""),
                    raw_body,
                    on_loop_connection=on_loop_connection,
                    client_ip=partial(_client_address, scope, headers),
                )
        except Exception as error:  # answered as Django's view answers it (gateway.errors.failure_of)
            failure = errors.failure_of(error)
            if failure.database_failed:  # Django's connection, or the recording pool's
                database.failed(error)
                _close_connections_soon()
            with translation.override(language):
                message = str(failure.message)
            reply = api.error_reply(failure.status, failure.code, message, headers=failure.headers())
        if reply.status == 503 and "Retry-After" not in reply.headers:  # e.g. spend caps without Redis
            reply.headers["Retry-After"] = str(ServiceUnavailable().retry_after)
        reply.headers["Content-Language"] = language  # as Django's LocaleMiddleware says it
        reply.headers["Vary"] = security.API_VARY
        return reply


class Client:
    """The client of one request, once its body is in: ``receive()`` is watched for
    ``http.disconnect`` until the answer is sent. While the endpoint works out the answer
    (``answer()``), the client going away cancels it: wherever it is (preparing, waiting for the
    provider, whose connection is then closed), the request stops, gives back what it holds and is
    not charged (gateway.api.handle)."""

    def __init__(self, receive):
        self.gone = False
        self._answering: asyncio.Task | None = None
        self.watching = asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        if self._answering is not None:
            self._answering.cancel()

    async def answer(self, coroutine) -> "api.Reply | None":
        """What ``coroutine`` answers, run in this task; None if the client went away first."""
        if self.gone:
            coroutine.close()
            return None
        task = asyncio.current_task()
        self._answering = task
        try:
            reply = await coroutine
        except asyncio.CancelledError:
            if not self.gone:  # cancelled for another reason: the server stopping
                raise
            task.uncancel()
            return None
        finally:
            self._answering = None
        if self.gone and task.cancelling():  # cancelled, and answered with an error all the same
            task.uncancel()
        return reply

    def stop(self) -> None:
        self.watching.cancel()


async def _lifespan(receive, send) -> None:
    """At startup what is loaded is moved out of the garbage collector's sight (``gc.freeze``: Django
    and its modules stay for the process's life, and a full collection would walk them all, a pause
    of milliseconds); at shutdown, once the jobs after answers still running are done, the recording
    connections and the one Django's thread kept are closed (Django itself has no lifespan handling,
    so these messages stop here). Leases on keys' caps (gateway.leases) are taken on this event loop
    only: started here, and given back at shutdown; and the endpoint's snapshots are kept warm from
    here (gateway.snapshots.keep_warm)."""
    keeper = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            gc.collect()
            gc.freeze()
            await leases.start()
            keeper = asyncio.ensure_future(snapshots.keep_warm())
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if keeper is not None:
                keeper.cancel()
            await api.after_jobs_drained()  # holds settled before the leases go back
            await leases.stop()
            await database.close()
            await sync_to_async(connections.close_all)()  # the connection Django's thread kept
            await send({"type": "lifespan.shutdown.complete"})
            return


def _headers(scope) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


def _client_address(scope, headers: dict[str, str]) -> str | None:
    """The client's address as orgs.audit.client_ip reads it from a Django request (the connection's
    address, or ``X-Forwarded-For`` behind ``TRUSTED_PROXY_COUNT`` proxies), from this request's
    scope: the same rule for both doors."""
    request = HttpRequest()
    client = scope.get("client")
    request.META["REMOTE_ADDR"] = client[0] if client else ""
    for name, value in headers.items():
        request.META["HTTP_" + name.upper().replace("-", "_")] = value
    return client_ip(request)


def _secure(scope, headers) -> bool:
    if scope.get("scheme") == "https":
        return True
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy:
        name = proxy[0].removeprefix("HTTP_").replace("_", "-").lower()
        return headers.get(name, "").split(",")[0].strip() == proxy[1]
    return False


_closing: set[asyncio.Task] = set()


def _close_connections_soon() -> None:
    """Closes the connection Django's thread keeps, once the thread is free: the next request
    connects afresh. Not awaited: the thread may be stuck on a database that does not answer."""
    task = asyncio.ensure_future(sync_to_async(connections.close_all)())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


DISCONNECTED = object()


async def _read_body(receive, *, limit: int | None) -> bytes | None:
    """The whole body, None once it passes ``limit`` bytes, or ``DISCONNECTED``."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return DISCONNECTED
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _response_headers(reply: api.Reply, *, secure: bool) -> list[tuple[bytes, bytes]]:
    headers = {
        "content-type": reply.content_type,
        **{name.lower(): value for name, value in security.response_headers(secure=secure).items()},
        **{name.lower(): value for name, value in reply.headers.items()},
    }
    if reply.events is None:
        headers["content-length"] = str(len(reply.body))
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


async def _send(reply: api.Reply, send, client: Client | None, *, secure: bool) -> None:
    """Sends ``reply``, unless its client is gone. A whole body sent to a client still there is
    ``reply.delivered``: a journaled completion is charged only then (gateway.api). A stream is
    relayed while its client is watched: when the client goes away the relay is cancelled, which
    records what was produced."""
    start = {
        "type": "http.response.start",
        "status": reply.status,
        "headers": _response_headers(reply, secure=secure),
    }
    if reply.events is None:
        if client is not None and client.gone:
            return
        await send(start)
        await send({"type": "http.response.body", "body": reply.body})
        reply.delivered = True
        return

    async def relay():
        await send(start)
        async for event in reply.events:
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    relaying = asyncio.ensure_future(relay())
    try:
        await asyncio.wait({relaying, client.watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not relaying.done():  # the client went away: cancelling records what was produced
            relaying.cancel()
        # An OSError is the client gone mid-send; anything else is ours and is raised.
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await relaying
