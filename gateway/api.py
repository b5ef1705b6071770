"""``POST /v1/chat/completions``: OpenAI-compatible, metered, routed.

``handle()`` is the endpoint, free of any framework (method, Authorization header and body in, a
``Reply`` out); gateway.asgi serves it before Django and ``chat_completions`` is the same as a Django
view. The order of a request, its refusals and who charges it: gateway/ARCHITECTURE.md.
"""

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from functools import partial

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from redis.exceptions import RedisError

from apikeys import tokens
from apikeys.services import ExpiredApiKey, InvalidApiKey, key_authenticate, key_authenticate_hash
from core.api import error_body
from core.errors import ServiceError
from core.money import format_usd_exact
from orgs.audit import client_ip

from . import admission as admission_service
from . import database, errors, journal, key_changes, ratelimits, recording, routing, snapshots, upstream
from .admission_errors import KeyChanged
from .body import BadRequest, parse_body  # noqa: F401 - BadRequest is the body's 400, named here too
from .models import RequestStatus
from .recording import ChatRequest, Metered

logger = logging.getLogger(__name__)

GENERATION_HEADER = "X-Nexevo-Generation-Id"


@dataclasses.dataclass
class Reply:
    """An answer of the endpoint, for whichever door the request came in by."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    content_type: str = "application/json"
    events: AsyncIterator[bytes] | None = None  # a stream, sent event by event
    # Set by gateway.asgi once the whole body is sent (``send`` returned) to a client still there:
    # a journaled completion is charged only then (``_charge_once_answered``).
    delivered: bool = False
    error_code: str = ""  # the envelope's code, for the request log
    after: list = dataclasses.field(default_factory=list)  # coroutine functions to await once sent

    def as_django(self) -> HttpResponse:
        if self.events is not None:
            return StreamingHttpResponse(self.events, content_type=self.content_type, headers=self.headers)
        return HttpResponse(
            self.body, status=self.status, content_type=self.content_type, headers=self.headers
        )


def _json(status: int, data: dict, headers: dict | None = None) -> Reply:
    return Reply(status, json.dumps(data).encode(), headers or {})


def error_reply(status: int, code: str, message: str, param: str | None = None, headers=None) -> Reply:
    reply = _json(status, error_body(status, code=code, message=message, param=param), headers)
    reply.error_code = code
    return reply


class Refused(Exception):
    """The request is answered with ``reply`` without calling a provider (logged when it has a body)."""

    def __init__(self, reply: Reply, pending: ChatRequest | None = None):
        self.reply, self.pending = reply, pending


# --- Before the provider call ---------------------------------------------------------------------


def _authenticate(raw_key: str, *, fresh: bool = False):
    if not tokens.is_well_formed(raw_key):
        raise InvalidApiKey
    if fresh:
        return key_authenticate(raw_key)
    # Without Redis a snapshot of a key is kept only where the key cache would keep it (never in
    # production, where processes could not tell each other of a revocation).
    seconds = None if settings.REDIS_URL or settings.NEXEVO_KEY_CACHE_SECONDS > 0 else 0
    key_hash = tokens.hash_key(raw_key)
    api_key = snapshots.get(("key", key_hash), partial(key_authenticate_hash, key_hash), seconds=seconds)
    if api_key.is_expired():
        raise ExpiredApiKey
    return api_key


def _plan(raw_key: str, raw_body: bytes, *, fresh_key: bool = False) -> ChatRequest:
    """Authenticates, parses, routes and prices the worst case; raises ``Refused``. Reads only
    snapshots when they are warm (inside ``snapshots.memory_only()`` a cold one raises ``snapshots.Miss``)."""
    try:
        api_key = _authenticate(raw_key, fresh=fresh_key)
    except ExpiredApiKey:
        raise Refused(
            error_reply(401, "key_expired", _("This API key has expired. Create a new one."))
        ) from None
    except InvalidApiKey:
        raise Refused(error_reply(401, "invalid_api_key", _("Invalid API key."))) from None
    pending = ChatRequest(api_key=api_key, body={}, started=time.monotonic())
    try:
        pending.body = parse_body(raw_body)
        pending.route = routing.route(api_key=api_key, model=pending.body["model"])
        pending.admission = admission_service.assess(api_key=api_key, route=pending.route, body=pending.body)
    except ServiceError as error:
        reply = error_reply(error.status, error.code, error.message, error.param)
        raise Refused(reply, pending if pending.body else None) from None
    return pending


async def _prepare(raw_key: str, raw_body: bytes, *, on_loop_connection: bool) -> ChatRequest | Reply:
    """``_plan`` from memory, or in a thread when a snapshot is cold; then ``_admit``. A refusal is
    answered (and logged when the request got that far)."""
    read_at = key_changes.epoch()  # what this process had heard of changed keys before reading this one
    try:
        try:
            with snapshots.memory_only():
                pending = _plan(raw_key, raw_body)
        except snapshots.Miss:
            pending = await database.in_thread(_plan, raw_key, raw_body)
    except Refused as refused:
        if refused.pending is not None:
            await _log(refused.pending, RequestStatus.REFUSED, refused.reply)
        return refused.reply
    pending.on_loop_connection = on_loop_connection
    pending.journaled = on_loop_connection and not pending.stream and journal.enabled()
    # What admission takes (a place in the rate limits, a hold on the cap) is taken in Redis calls: a
    # request cancelled in the middle of one (its client went away) could not tell what was taken.
    # So admission runs to its end whatever happens, and a cancelled request gives back what it got.
    admitting = asyncio.ensure_future(_admit(pending, raw_key, raw_body, read_at=read_at))
    try:
        return await asyncio.shield(admitting)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            admitted = await admitting
            if isinstance(admitted, ChatRequest):
                await admitted.hold.settle()  # nothing recorded: at zero
                await _log_client_closed(admitted)
        raise


async def _admit(pending: ChatRequest, raw_key: str, raw_body: bytes, *, read_at: int) -> ChatRequest | Reply:
    """The request counted against the key's rate limits (gateway.ratelimits) and its worst case held
    against the key's cap (gateway.admission). From then on ``pending.hold`` has what it counts and
    holds; a refusal here gives back what was taken."""
    grant = None
    try:
        grant = await _count(pending)
        pending.hold = admission_service.Hold(pending.api_key, pending.admission, grant)
        try:
            await admission_service.areserve(pending.api_key, pending.admission, read_at=read_at)
        except KeyChanged:  # changed in some process: read it afresh
            snapshots.drop(("key", pending.api_key.key_hash))
            fresh = await database.in_thread(_plan, raw_key, raw_body, fresh_key=True)
            fresh.on_loop_connection, fresh.journaled = pending.on_loop_connection, pending.journaled
            fresh.hold = admission_service.Hold(fresh.api_key, fresh.admission, grant)
            pending = fresh
            await admission_service.areserve(pending.api_key, pending.admission, check_key_changed=False)
    except BaseException as error:
        # Nothing is held on the cap when reserving it fails; what the rate limits counted goes back.
        if grant is not None:
            await _shielded(ratelimits.cancel(grant))
        if isinstance(error, Refused):
            if error.pending is not None:
                await _log(error.pending, RequestStatus.REFUSED, error.reply)
            return error.reply
        if isinstance(error, ratelimits.RateLimitExceeded):
            # Not logged: a client past its limit costs no write per request.
            return _rate_limited(error)
        if isinstance(error, ServiceError):
            reply = error_reply(error.status, error.code, error.message, error.param)
            if grant is not None:
                reply.headers.update(grant.state.headers())
            await _log(pending, RequestStatus.REFUSED, reply)
            return reply
        raise
    return pending


async def _count(pending: ChatRequest):
    """The request counted against its key's rate limits: a ``ratelimits.Grant``, or
    ``RateLimitExceeded``. Tokens are counted at the estimate until the usage is known."""
    admission = pending.admission
    max_tokens = pending.body.get("max_tokens")
    return await ratelimits.admit(
        pending.api_key,
        ratelimits.limits_of(pending.api_key, admission.plan),
        tokens=ratelimits.estimate_tokens(prompt_bytes=admission.prompt_bytes, max_tokens=max_tokens),
        max_tokens=max_tokens,
    )


def _rate_limited(refusal: ratelimits.RateLimitExceeded) -> Reply:
    return error_reply(429, refusal.code, refusal.message, refusal.param, headers=refusal.headers())


async def _shielded(coroutine) -> None:
    """Runs ``coroutine`` to its end even if the request is cancelled meanwhile; logs what it raises
    (the caller is on its way out with an answer or an exception of its own)."""
    task = asyncio.ensure_future(coroutine)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await task
        raise
    except Exception:
        logger.exception("Giving back what a chat request held failed.")


async def _log(pending: ChatRequest, status: str, reply: Reply) -> None:
    await database.in_thread(
        recording.log, pending, status=status, http_status=reply.status, error_code=reply.error_code
    )


# The request log's HTTP status for a request whose client went away before its answer (nginx's).
CLIENT_CLOSED_HTTP_STATUS = 499


async def _log_client_closed(pending: ChatRequest) -> None:
    """The request was cancelled before it was charged (its client went away): logged, at no cost."""
    await database.in_thread(
        recording.log,
        pending,
        status=RequestStatus.CLIENT_CLOSED,
        http_status=CLIENT_CLOSED_HTTP_STATUS,
        error_code="client_closed",
    )


# --- After it ----------------------------------------------------------------------------------------


async def _record(pending: ChatRequest, **outcome) -> Metered:
    if pending.on_loop_connection:
        return await recording.arecord(pending, **outcome)
    return await sync_to_async(recording.record)(pending, **outcome)


async def _finish(pending: ChatRequest, **outcome) -> Metered:
    """Records what was served, then settles the hold: the spend is counted before the hold goes."""
    recorded = await _record(pending, **outcome)
    pending.charged = True
    pending.hold.recorded(recorded.cost, tokens=recorded.prompt_tokens + recorded.completion_tokens)
    await pending.hold.settle()
    return recorded


async def _fail(pending: ChatRequest, reply: Reply) -> Reply:
    await pending.hold.settle()  # nothing recorded: at zero
    await _log(pending, RequestStatus.FAILED, reply)
    return reply


def _nexevo_block(pending: ChatRequest, outcome: Metered) -> dict:
    return {
        "generation_id": pending.generation_id,
        "tier": pending.route.tier,
        "model": pending.target.model,
        "cost_usd": format_usd_exact(outcome.cost),
    }


def _tokens(usage, name: str) -> int | None:
    value = (usage or {}).get(name) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _failure_response(failure: upstream.UpstreamFailure | None) -> tuple[int, str, str]:
    if failure is not None and failure.timeout:
        return 504, "upstream_timeout", "The model provider did not answer in time. Try again."
    return 502, "upstream_error", "The model provider failed to answer. Try again."


# --- The endpoint -------------------------------------------------------------------------------------


async def handle(
    method: str,
    authorization: str,
    raw_body: bytes | None,
    *,
    buffered=False,
    on_loop_connection=False,
    client_ip: Callable[[], str | None] | None = None,
) -> Reply:
    """``POST /v1/chat/completions``. ``raw_body`` is None when it was too large to read;
    ``buffered`` sends a stream whole (see ``chat_completions``); ``on_loop_connection`` records on
    the event loop's own connection (``recording.ChatRequest.on_loop_connection``); ``client_ip()``
    is the client's address as orgs.audit.client_ip reads it (called only when needed: a failed
    authentication, or an address this process knows to be over its limit of those, gateway.ratelimits).

    Once admitted, a request's hold (``pending.hold``: its worst case on the key's cap, its place in
    the rate limits) is given back on every way out, from here: settled after the usage is recorded
    (once the answer is out, or by the stream's relay), and at zero whatever else happens, an
    exception of any type included."""
    if method != "POST":
        return error_reply(405, "method_not_allowed", _("Use POST."), headers={"Allow": "POST"})
    address = _Address(client_ip)
    if ratelimits.any_address_blocked():
        refusal = ratelimits.address_blocked(address())
        if refusal is not None:
            return _rate_limited(refusal)
    scheme, _space, raw_key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not raw_key.strip():
        reply = error_reply(401, "invalid_api_key", _("Send your API key as Authorization: Bearer <key>."))
        return await _unauthenticated(reply, address)
    if raw_body is None:
        return error_reply(413, "request_too_large", _("The request body is too large."))
    prepared = await _prepare(raw_key.strip(), raw_body, on_loop_connection=on_loop_connection)
    if isinstance(prepared, Reply):
        return await _unauthenticated(prepared, address) if prepared.status == 401 else prepared
    try:
        if prepared.stream:
            reply = await _stream(prepared, buffered=buffered)
        else:
            reply = await _complete(prepared)
    except BaseException as error:
        await _shielded(prepared.hold.settle())
        # Cancelled: its client went away (gateway.asgi, or Django's ASGI handler, cancels the request)
        # before it was charged, so the provider's call, if under way, is closed and nothing is owed.
        if isinstance(error, asyncio.CancelledError) and not prepared.charged:
            await _shielded(_log_client_closed(prepared))
        raise
    reply.headers.update(prepared.hold.grant.state.headers())
    return reply


class _Address:
    """The client's address, read once and only if asked for."""

    def __init__(self, read: Callable[[], str | None] | None):
        self._read, self._address, self._known = read, None, read is None

    def __call__(self) -> str | None:
        if not self._known:
            self._address, self._known = self._read(), True
        return self._address


# What a 401 asks for, as the rest of the API's (apikeys.authentication) says it.
WWW_AUTHENTICATE = 'Bearer realm="nexevo"'


async def _unauthenticated(reply: Reply, address: _Address) -> Reply:
    """A 401 counts against the client address's failed authentications: past the limit, a 429."""
    refusal = await ratelimits.authentication_failed(address())
    if refusal is not None:
        return _rate_limited(refusal)
    reply.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    return reply


@csrf_exempt
async def chat_completions(request):
    """The endpoint as a Django view. A WSGI server (``runserver``, the tests' live server) would read
    a stream in another event loop than the provider's connection lives in, so there it is buffered."""
    try:
        raw_body = request.body
    except Exception:  # noqa: BLE001 - RequestDataTooBig and a broken upload alike
        raw_body = None
    buffered = not isinstance(request, ASGIRequest)
    try:
        reply = await handle(
            request.method,
            request.headers.get("Authorization", ""),
            raw_body,
            buffered=buffered,
            client_ip=partial(client_ip, request),
        )
    except Exception as error:  # answered as gateway.asgi answers it
        failure = errors.failure_of(error)
        reply = error_reply(failure.status, failure.code, str(failure.message), headers=failure.headers())
    if reply.events is not None:
        # Django sends a stream after the view returns: its jobs run once the stream is over.
        reply.events = _then_after(reply.events, reply)
    else:
        await run_after(reply)  # Django sends the response only after the view returns
    return reply.as_django()


async def _then_after(events: AsyncIterator[bytes], reply: Reply):
    try:
        async for event in events:
            yield event
    finally:
        await run_after(reply)


async def run_after(reply: Reply) -> None:
    """The reply's jobs for after the answer (settling its hold, confirming its journal entry), in a
    task of their own: a request cancelled meanwhile (the server shutting down) does not cut them
    short, and the lifespan's shutdown waits for those still running (``after_jobs_drained``)."""
    if not reply.after:
        return
    task = asyncio.ensure_future(_run_jobs(reply.after))
    _after_jobs.add(task)
    task.add_done_callback(_after_jobs.discard)
    await asyncio.shield(task)


_after_jobs: set[asyncio.Task] = set()


async def _run_jobs(jobs: list) -> None:
    for job in jobs:
        try:
            await job()
        except Exception:  # none of them may turn an answer into an error
            logger.exception("A job after a chat answer failed.")


async def after_jobs_drained(seconds: float = 10) -> None:
    """Until the jobs after answers on this loop are done (at most ``seconds``)."""
    running = [task for task in _after_jobs if task.get_loop() is asyncio.get_running_loop()]
    if running:
        await asyncio.wait(running, timeout=seconds)


async def _complete(pending: ChatRequest) -> Reply:
    failure = None
    for target in pending.route.targets:
        pending.target = target
        pending.attempts += 1
        # Built outside the provider's try: what fails here is ours (a 500), never the provider's.
        request = upstream.request_for(target, pending.body, stream=False)
        try:
            async with asyncio.timeout(settings.NEXEVO_UPSTREAM_TOTAL_TIMEOUT):
                response = await upstream.open_response(target, request)
                try:
                    raw = await response.aread()
                finally:
                    await response.aclose()
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            break
        except (TimeoutError, httpx.TimeoutException):
            failure = upstream.UpstreamFailure("upstream_timeout", "timed out", timeout=True)
        except upstream.UpstreamFailure as error:
            failure = error
        except (httpx.HTTPError, ValueError, RecursionError):  # the provider's answer is not JSON
            failure = upstream.UpstreamFailure("upstream_error", "an unreadable answer")
        except upstream.UpstreamRejected as rejected:
            return await _fail(pending, error_reply(400, "upstream_rejected", rejected.message))
        logger.warning("%s failed for %s: %s", target.provider, pending.generation_id, failure.message)
    else:
        return await _fail(pending, error_reply(*_failure_response(failure)))

    usage = data.get("usage")
    prompt = _tokens(usage, "prompt_tokens")
    completion = _tokens(usage, "completion_tokens")
    if prompt is None or completion is None:  # a provider that does not count: estimate, never skip
        prompt = math.ceil(pending.prompt_bytes() / 4)
        completion = math.ceil(len(json.dumps(data.get("choices"), ensure_ascii=False).encode()) / 4)
    served = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "status": RequestStatus.COMPLETED,
        "http_status": 200,
    }
    tokens = prompt + completion
    priced = _priced_from_snapshots(pending, served) if pending.journaled else None
    if priced is not None:
        # Journaled: answered first, charged once the answer is out (``_charge_once_answered``).
        outcome, entry = priced
        data["nexevo"] = _nexevo_block(pending, outcome)
        reply = _json(200, data, {GENERATION_HEADER: pending.generation_id})
        reply.after.append(partial(_charge_once_answered, pending, reply, outcome, entry))
        reply.after.append(pending.hold.settle)
        return reply
    # Written before its answer. Once the statement is sent it may commit, so it runs to its end even
    # if the client goes away meanwhile: the spend is counted before the hold goes, and the request
    # keeps its charge (the one window where a charge can outlive its answer: see the README).
    recording = asyncio.ensure_future(_record(pending, **served))
    try:
        outcome = await asyncio.shield(recording)
    except asyncio.CancelledError:
        outcome = await recording
        pending.charged = True
        pending.hold.recorded(outcome.cost, tokens=tokens)
        raise
    pending.charged = True
    pending.hold.recorded(outcome.cost, tokens=tokens)
    data["nexevo"] = _nexevo_block(pending, outcome)
    reply = _json(200, data, {GENERATION_HEADER: pending.generation_id})
    # The hold goes once the answer is out: until then it only over-counts, which is safe.
    reply.after.append(pending.hold.settle)
    return reply


def _priced_from_snapshots(pending: ChatRequest, served: dict) -> tuple[Metered, dict] | None:
    """The outcome and the journal entry (gateway.recording.journal_entry), priced from snapshots;
    None when one expired since admission (then the request is written before its answer)."""
    try:
        with snapshots.memory_only():
            return recording.journal_entry(pending, **served)
    except snapshots.Miss:
        return None


async def _charge_once_answered(pending: ChatRequest, reply: Reply, outcome: Metered, entry: dict) -> None:
    """After the answer: a journaled completion is charged only if its answer went out
    (``reply.delivered``), else it is logged ``client_closed`` at no cost. Charged by one Redis call
    (gateway.journal.asend: the entry, its not-written marker, and the settlement of a hold kept in
    Redis; a hold from a lease is settled in memory, by the next job). A process killed before that
    call reaches Redis has answered and charged nothing: the order loses a charge, never an answer.
    If Redis fails, the entry is written to the database here, at the answer's price (once: if the
    call went through after all, the recorder finds it written). A hold the call was to settle is
    then left to idle out: it may have been settled, and settling twice would under-count the cap."""
    if not reply.delivered:
        await _log_client_closed(pending)
        return  # the next job settles the hold at zero
    pending.charged = True
    pending.hold.recorded(outcome.cost, tokens=outcome.prompt_tokens + outcome.completion_tokens)
    admission_service.spent(pending.api_key.organization_id, pending.admission.view, outcome.cost)
    settlement = admission_service.settlement(pending.api_key, pending.admission, outcome.cost)
    try:
        confirm = await journal.asend(entry, settlement=settlement)
    except RedisError:
        logger.warning("Could not journal %s; writing it now.", pending.generation_id)
        await _write_answered(pending, entry)
        return  # nothing reached Redis: the hold is settled as usual
    pending.hold.cap_settled = settlement is not None
    try:
        await confirm()
    except RedisError:
        logger.warning("Could not confirm the journaling of %s; writing it now.", pending.generation_id)
        await _write_answered(pending, entry)


async def _write_answered(pending: ChatRequest, entry: dict) -> None:
    _settled, failed = await sync_to_async(recording.write_journaled)([entry])
    if failed:
        logger.error("Could not record %s, answered: %s", pending.generation_id, entry)


# --- Streaming -------------------------------------------------------------------------------------


@dataclasses.dataclass
class StreamState:
    usage: dict | None = None
    content_chunks: int = 0
    done: bool = False

    def observe(self, data: bytes) -> None:
        try:
            chunk = json.loads(data)
        except ValueError:
            return
        if not isinstance(chunk, dict):
            return
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and (delta.get("content") or delta.get("tool_calls")):
                self.content_chunks += 1

    def tokens(self, pending: ChatRequest) -> tuple[int, int]:
        prompt, completion = _tokens(self.usage, "prompt_tokens"), _tokens(self.usage, "completion_tokens")
        if prompt is not None and completion is not None:
            return prompt, completion
        return math.ceil(pending.prompt_bytes() / 4), self.content_chunks


async def _stream(pending: ChatRequest, *, buffered: bool = False):
    """Opens the stream on the first target that answers with a first chunk, then relays it event
    by event, or whole when ``buffered``."""
    failure = None
    for target in pending.route.targets:
        pending.target = target
        pending.attempts += 1
        request = upstream.request_for(target, pending.body, stream=True)  # as in _complete
        try:
            async with asyncio.timeout(settings.NEXEVO_UPSTREAM_READ_TIMEOUT):
                response = await upstream.open_response(target, request)
                chunks = response.aiter_bytes()
                try:
                    first = await anext(chunks)
                except (StopAsyncIteration, httpx.HTTPError):
                    await response.aclose()
                    raise upstream.UpstreamFailure(
                        "upstream_error", "closed before the first chunk"
                    ) from None
            break
        except (TimeoutError, httpx.TimeoutException):
            failure = upstream.UpstreamFailure("upstream_timeout", "timed out", timeout=True)
        except upstream.UpstreamFailure as error:
            failure = error
        except upstream.UpstreamRejected as rejected:
            return await _fail(pending, error_reply(400, "upstream_rejected", rejected.message))
    else:
        return await _fail(pending, error_reply(*_failure_response(failure)))

    response_headers = {
        GENERATION_HEADER: pending.generation_id,
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    }
    relay = _relay(pending, response, chunks, first)
    if buffered:
        body = b"".join([event async for event in relay])
        return Reply(200, body, response_headers, content_type="text/event-stream")
    reply = Reply(200, headers=response_headers, content_type="text/event-stream", events=relay)
    # A relay that never ran (the client went away first) has neither closed the provider's answer
    # nor settled the hold: the doors run this once the stream is over, sent or not.
    reply.after.append(partial(_abandoned, pending, response))
    return reply


async def _abandoned(pending: ChatRequest, response: httpx.Response) -> None:
    if not pending.hold.settled:
        await response.aclose()
        await pending.hold.settle()
        await _log_client_closed(pending)  # nothing was sent, nothing is charged


async def _relay(pending: ChatRequest, response: httpx.Response, chunks, first: bytes):
    state = StreamState()
    reader = upstream.EventReader()

    async def record(status: str, error_code: str = "") -> Metered:
        """Records and settles, shielded: a client that goes away meanwhile (the relay is cancelled)
        cannot cut the recording short. It goes on; the cancellation is raised once it is done."""
        prompt, completion = state.tokens(pending)
        recording = asyncio.ensure_future(
            _finish(
                pending,
                prompt_tokens=prompt,
                completion_tokens=completion,
                status=status,
                http_status=200,
                error_code=error_code,
            )
        )
        try:
            return await asyncio.shield(recording)
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                await recording
            raise

    ended_early = False
    try:
        chunk = first
        while chunk is not None:
            for event in reader.feed(chunk):
                data = upstream.event_data(event)
                if data is None:
                    continue
                if data.strip() == b"[DONE]":
                    state.done = True
                    continue  # our own summary goes first
                state.observe(data)
                yield event
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                chunk = None
    except httpx.HTTPError:
        ended_early = True
    except BaseException:
        # The client went away (the task is cancelled, or the generator closed): record what was
        # produced. The request is over anyway, so whatever the recording raises is not ours to raise.
        await response.aclose()
        with contextlib.suppress(BaseException):
            await record(RequestStatus.INCOMPLETE, "client_disconnected")
        if not pending.hold.settled:  # the recording failed: nothing recorded, the hold at zero
            await _shielded(pending.hold.settle())
        raise
    await response.aclose()
    if ended_early or not (state.done or state.usage):
        await record(RequestStatus.INCOMPLETE, "upstream_closed_early")
        failure = error_body(502, code="upstream_closed_early", message="The model provider stopped early.")
        yield b"data: " + json.dumps(failure).encode() + b"\n\n"
        return
    outcome = await record(RequestStatus.COMPLETED)
    summary = {"id": pending.generation_id, "object": "chat.completion.chunk", "choices": []}
    summary["nexevo"] = _nexevo_block(pending, outcome)
    yield b"data: " + json.dumps(summary).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"
