"""``POST /v1/chat/completions``: OpenAI-compatible, metered, routed.

An async view, so a slow stream holds a coroutine, not a worker thread. The database work happens in
two hops to a thread per request: one before the provider is called (authenticate, route, admit and
reserve) and one after (record the usage, settle the reservation, write the request log).

The order of a request:

1. the Bearer key (401), the body (400);
2. the route: the model's targets under the key's region policy (400/503), tried in order;
3. admission: a positive balance (402 ``insufficient_balance``), and the request's worst-case cost
   reserved against the key's cap (402 ``spend_cap_exceeded``) — see gateway.admission;
4. the provider call. A connection error, a timeout, a 5xx or a 429 moves on to the next target, as
   long as nothing has been sent to the client yet; a 4xx is the caller's and is passed on as a 400;
5. the usage recorded through billing.services.usage_record with the provider's token counts, the
   reservation released, and the body answered with a ``nexevo`` block and ``X-Nexevo-Generation-Id``.

A stream is relayed event by event as it arrives. The provider is asked for the usage in its last
chunk; if the client goes away or the provider stops early, what was produced is recorded anyway
(counted from the provider's usage if it came, else one token per content chunk received).
"""

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import time
from decimal import Decimal

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import transaction
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from apikeys.services import ExpiredApiKey, InvalidApiKey, key_authenticate
from billing.services import usage_record
from core.api import error_body
from core.errors import ServiceError
from core.ids import new_id
from core.money import format_usd_exact

from . import admission as admission_service
from . import routing, upstream
from .models import RequestLog, RequestStatus

logger = logging.getLogger(__name__)

GENERATION_HEADER = "X-Nexevo-Generation-Id"


class BadRequest(ServiceError):
    pass


def _error(status: int, code: str, message: str, param: str | None = None, headers=None) -> JsonResponse:
    return JsonResponse(
        error_body(status, code=code, message=message, param=param), status=status, headers=headers
    )


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_body(raw: bytes) -> dict:
    """The request body, checked as far as the gateway needs; everything else goes to the provider."""
    try:
        body = json.loads(raw or b"", parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The request body is not valid JSON.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    model = body.get("model")
    if model is None or model == "":
        raise BadRequest("model is required, e.g. nexevo/balanced.", code="missing_model", param="model")
    if not isinstance(model, str):
        raise BadRequest("model must be a string.", code="invalid_model", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty list.", code="invalid_messages", param="messages")
    if not all(isinstance(message, dict) for message in messages):
        raise BadRequest("Each message must be an object.", code="invalid_messages", param="messages")
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise BadRequest(
                f"{name} must be a whole number of at least 1.", code="invalid_max_tokens", param=name
            )
    if body.get("max_tokens") is None and body.get("max_completion_tokens") is not None:
        body["max_tokens"] = body["max_completion_tokens"]
    if not isinstance(body.get("stream", False), bool):
        raise BadRequest("stream must be true or false.", code="invalid_stream", param="stream")
    if body.get("n") not in (None, 1):
        raise BadRequest("Only n=1 is supported.", code="unsupported_parameter", param="n")
    return body


@dataclasses.dataclass
class Pending:
    """What the request log and the usage record need, gathered as the request goes."""

    api_key: object
    body: dict
    started: float
    generation_id: str = dataclasses.field(default_factory=lambda: new_id("gen"))
    route: routing.Route | None = None
    admission: admission_service.Admission | None = None
    target: routing.Target | None = None
    attempts: int = 0

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    def prompt_bytes(self) -> int:
        return len(json.dumps(self.body.get("messages"), ensure_ascii=False).encode())


# --- Before the provider call ---------------------------------------------------------------------


def _prepare(raw_key: str, raw_body: bytes) -> Pending | JsonResponse:
    """Authenticates, parses, routes and admits, in the request's database thread."""
    try:
        api_key = key_authenticate(raw_key)
    except ExpiredApiKey:
        return _error(401, "key_expired", "This API key has expired. Create a new one.")
    except InvalidApiKey:
        return _error(401, "invalid_api_key", "Invalid API key.")
    pending = Pending(api_key=api_key, body={}, started=time.monotonic())
    try:
        pending.body = parse_body(raw_body)
        pending.route = routing.route(api_key=api_key, model=pending.body["model"])
        pending.admission = admission_service.admit(api_key=api_key, route=pending.route, body=pending.body)
    except ServiceError as error:
        if pending.body:
            _log(pending, status=RequestStatus.REFUSED, http_status=error.status, error_code=error.code)
        return _error(error.status, error.code, error.message, error.param)
    return pending


# --- After it ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal(0)


def _finish(
    pending: Pending,
    *,
    prompt_tokens: int,
    completion_tokens: int,
    status: str,
    http_status: int,
    error_code="",
) -> Outcome:
    """Records what was served (usage, ledger and the request log, in one transaction), then
    releases the reservation: the spend is counted before the hold goes, never neither."""
    target = pending.target
    with transaction.atomic():
        record = usage_record(
            api_key=pending.api_key,
            requested_model=pending.route.requested_model,
            model=target.model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            byok=target.byok,
            generation_id=pending.generation_id,
        )
        outcome = Outcome(prompt_tokens, completion_tokens, record.cost_usd)
        _log(pending, status=status, http_status=http_status, error_code=error_code, outcome=outcome)
    admission_service.settle(pending.api_key, pending.admission, record.cost_usd)
    return outcome


def _fail(pending: Pending, *, http_status: int, error_code: str) -> None:
    admission_service.release(pending.api_key, pending.admission)
    _log(pending, status=RequestStatus.FAILED, http_status=http_status, error_code=error_code)


def _log(pending: Pending, *, status, http_status, error_code="", outcome: Outcome | None = None) -> None:
    outcome = outcome or Outcome()
    target = pending.target
    RequestLog.objects.create(
        id=pending.generation_id,
        organization_id=pending.api_key.organization_id,
        api_key_id=pending.api_key.pk,
        requested_model=str(pending.body.get("model", ""))[:128],
        model=target.model if target else "",
        provider=target.provider if target else "",
        tier=pending.route.tier if pending.route else "",
        stream=pending.stream,
        status=status,
        http_status=http_status,
        error_code=error_code,
        attempts=pending.attempts,
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        cost_usd=outcome.cost,
        latency_ms=int((time.monotonic() - pending.started) * 1000),
    )


def _nexevo_block(pending: Pending, outcome: Outcome) -> dict:
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


# --- The view ------------------------------------------------------------------------------------------


@csrf_exempt
async def chat_completions(request):
    if request.method != "POST":
        return _error(405, "method_not_allowed", "Use POST.", headers={"Allow": "POST"})
    header = request.headers.get("Authorization", "")
    scheme, _, raw_key = header.partition(" ")
    if scheme.lower() != "bearer" or not raw_key.strip():
        return _error(401, "invalid_api_key", "Send your API key as Authorization: Bearer <key>.")
    try:
        raw_body = request.body
    except Exception:  # noqa: BLE001 - RequestDataTooBig and a broken upload alike
        return _error(413, "request_too_large", "The request body is too large.")
    prepared = await sync_to_async(_prepare)(raw_key.strip(), raw_body)
    if isinstance(prepared, JsonResponse):
        return prepared
    if prepared.stream:
        return await _stream(prepared, buffered=not isinstance(request, ASGIRequest))
    return await _complete(prepared)


async def _complete(pending: Pending) -> JsonResponse:
    failure = None
    for target in pending.route.targets:
        pending.target = target
        pending.attempts += 1
        try:
            async with asyncio.timeout(settings.NEXEVO_UPSTREAM_TOTAL_TIMEOUT):
                response = await upstream.open_response(target, pending.body, stream=False)
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
        except (httpx.HTTPError, ValueError):
            failure = upstream.UpstreamFailure("upstream_error", "an unreadable answer")
        except upstream.UpstreamRejected as rejected:
            await sync_to_async(_fail)(pending, http_status=400, error_code="upstream_rejected")
            return _error(400, "upstream_rejected", rejected.message)
        logger.warning("%s failed for %s: %s", target.provider, pending.generation_id, failure.message)
    else:
        status, code, message = _failure_response(failure)
        await sync_to_async(_fail)(pending, http_status=status, error_code=code)
        return _error(status, code, message)

    usage = data.get("usage")
    prompt = _tokens(usage, "prompt_tokens")
    completion = _tokens(usage, "completion_tokens")
    if prompt is None or completion is None:  # a provider that does not count: estimate, never skip
        prompt = math.ceil(pending.prompt_bytes() / 4)
        completion = math.ceil(len(json.dumps(data.get("choices"), ensure_ascii=False).encode()) / 4)
    outcome = await sync_to_async(_finish)(
        pending,
        prompt_tokens=prompt,
        completion_tokens=completion,
        status=RequestStatus.COMPLETED,
        http_status=200,
    )
    data["nexevo"] = _nexevo_block(pending, outcome)
    return JsonResponse(data, headers={GENERATION_HEADER: pending.generation_id})


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

    def tokens(self, pending: Pending) -> tuple[int, int]:
        prompt, completion = _tokens(self.usage, "prompt_tokens"), _tokens(self.usage, "completion_tokens")
        if prompt is not None and completion is not None:
            return prompt, completion
        return math.ceil(pending.prompt_bytes() / 4), self.content_chunks


async def _stream(pending: Pending, *, buffered: bool = False):
    """Opens the stream on the first target that answers with a first chunk, then relays it.

    ``buffered`` is for a WSGI server (``runserver``, the tests' live server): it would read the
    relay in another event loop than the provider's connection lives in, so there the whole stream
    is read here and sent at once. Under ASGI (``bin/run``) it is relayed event by event.
    """
    failure = None
    for target in pending.route.targets:
        pending.target = target
        pending.attempts += 1
        try:
            async with asyncio.timeout(settings.NEXEVO_UPSTREAM_READ_TIMEOUT):
                response = await upstream.open_response(target, pending.body, stream=True)
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
            await sync_to_async(_fail)(pending, http_status=400, error_code="upstream_rejected")
            return _error(400, "upstream_rejected", rejected.message)
    else:
        status, code, message = _failure_response(failure)
        await sync_to_async(_fail)(pending, http_status=status, error_code=code)
        return _error(status, code, message)

    response_headers = {
        GENERATION_HEADER: pending.generation_id,
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    }
    relay = _relay(pending, response, chunks, first)
    if buffered:
        body = b"".join([event async for event in relay])
        return HttpResponse(body, content_type="text/event-stream", headers=response_headers)
    return StreamingHttpResponse(relay, content_type="text/event-stream", headers=response_headers)


async def _relay(pending: Pending, response: httpx.Response, chunks, first: bytes):
    state = StreamState()
    reader = upstream.EventReader()

    async def record(status: str, error_code: str = "") -> Outcome:
        prompt, completion = state.tokens(pending)
        return await sync_to_async(_finish)(
            pending,
            prompt_tokens=prompt,
            completion_tokens=completion,
            status=status,
            http_status=200,
            error_code=error_code,
        )

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
        # produced, shielded so that a second cancellation cannot cut the recording short.
        await response.aclose()
        recording = asyncio.ensure_future(record(RequestStatus.INCOMPLETE, "client_disconnected"))
        with contextlib.suppress(BaseException):  # the recording goes on; the request is over anyway
            await asyncio.shield(recording)
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
