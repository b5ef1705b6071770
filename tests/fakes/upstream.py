"""A model provider on loopback: an OpenAI-compatible HTTP server (an ASGI app under uvicorn, in a
thread) for the tests and the benchmarks. Never a mock of the console's own code.

How it behaves is chosen by the first path segment of the provider's base URL, so each test provider
points at the behaviour it needs: ``http://127.0.0.1:PORT/<behaviour>/v1``.

- ``ok``: answers at once. The reply has ``min(max_tokens, 5)`` words, one token each; the prompt
  counts one token per word of the messages' contents.
- ``fill``: like ``ok``, but uses all of ``max_tokens`` (the reply text stays short).
- ``slow``: waits ``SLOW_SECONDS`` before answering; when streaming, waits that long between chunks.
  A caller that closes the connection during the wait (not streaming) gets nothing, and its request
  is marked ``disconnected``.
- ``fail``: HTTP 500.
- ``hang``: never answers.
- ``early``: streams two chunks and closes the connection without a usage chunk or ``[DONE]``; not
  streaming, it sends half a body and closes.
- ``reject``: HTTP 400 with an OpenAI-shaped error.
- ``capable``: like ``ok``, and follows what the cookbook's examples ask of a model. Offered ``tools``
  (and not yet answered by a ``tool`` message), it calls the first one (or the one ``tool_choice``
  names), each string argument the last word of the last user message; after a ``tool`` message it
  answers ``The tool said: <its content>``. With ``response_format`` ``json_object`` it answers
  ``{"answer": <the words>}``; with ``json_schema``, an object with each property of the schema.
- ``flaky``: HTTP 500 on every other request (the first, third, ... since ``requests`` was last
  cleared), like ``ok`` in between.

Every request is kept in ``server.requests`` (behaviour, model, the Authorization header, the body,
and whether the caller went away before the answer: ``disconnected``).
The benchmarks run ``unrecorded`` in a process of its own: ``uvicorn tests.fakes.upstream:unrecorded``.
"""

import asyncio
import json
import socket
import threading
import time

import uvicorn

SLOW_SECONDS = 0.3
DEFAULT_WORDS = 5


def _prompt_tokens(body: dict) -> int:
    words = 0
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            words += len(content.split())
    return words


def _completion(behaviour: str, body: dict) -> tuple[list[str], int]:
    limit = body.get("max_tokens") or DEFAULT_WORDS
    words = [f"word{i}" for i in range(min(limit, DEFAULT_WORDS))]
    tokens = limit if behaviour == "fill" else len(words)
    return words, tokens


def _last_word(body: dict) -> str:
    for message in reversed(body.get("messages") or []):
        if (
            isinstance(message, dict)
            and message.get("role") == "user"
            and isinstance(message.get("content"), str)
        ):
            words = message["content"].split()
            return words[-1].strip("?!.,;:'\"") if words else ""
    return ""


def _example_value(schema: dict, word: str):
    kind = schema.get("type")
    if kind == "object":
        return {name: _example_value(inner, word) for name, inner in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_example_value(schema.get("items") or {}, word)]
    if "enum" in schema:
        return schema["enum"][0]
    return {"integer": 1, "number": 1.5, "boolean": True}.get(kind, word)


def _capable_message(body: dict, words: list[str]) -> tuple[dict, str]:
    """What the ``capable`` behaviour answers: (the message, its finish reason)."""
    messages = body.get("messages") or []
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    tools = body.get("tools") or []
    if last.get("role") == "tool":
        return {"role": "assistant", "content": f"The tool said: {last.get('content')}"}, "stop"
    if tools:
        chosen = body.get("tool_choice")
        name = chosen["function"]["name"] if isinstance(chosen, dict) else tools[0]["function"]["name"]
        tool = next(tool for tool in tools if tool["function"]["name"] == name)
        arguments = _example_value(tool["function"].get("parameters") or {"type": "object"}, _last_word(body))
        call = {
            "id": "call_fake_1",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}
        return {"role": "assistant", "content": json.dumps(_example_value(schema, words[0]))}, "stop"
    if response_format.get("type") == "json_object":
        return {"role": "assistant", "content": json.dumps({"answer": " ".join(words)})}, "stop"
    return {"role": "assistant", "content": " ".join(words)}, "stop"


class FakeUpstream:
    def __init__(self, *, record: bool = True):
        self.record = record
        self.requests: list[dict] = []
        self._flaky_calls = 0
        self.port = None
        self._server = None
        self._thread = None

    def url(self, behaviour: str) -> str:
        return f"http://127.0.0.1:{self.port}/{behaviour}/v1"

    def calls(self, behaviour: str | None = None) -> list[dict]:
        return [r for r in self.requests if behaviour is None or r["behaviour"] == behaviour]

    # --- The ASGI app -----------------------------------------------------------------------------

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        parts = scope["path"].strip("/").split("/")
        behaviour, rest = parts[0], "/".join(parts[1:])
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {key.decode().lower(): value.decode() for key, value in scope["headers"]}
        if rest == "v1/models":
            ok = headers.get("authorization", "").startswith("Bearer ") and behaviour != "reject"
            await self._json(send, 200 if ok else 401, {"object": "list", "data": []})
            return
        payload = json.loads(body or b"{}")
        call = {
            "behaviour": behaviour,
            "model": payload.get("model"),
            "authorization": headers.get("authorization"),
            "body": payload,
            "at": time.monotonic(),
            "disconnected": False,
        }
        if self.record:
            self.requests.append(call)
        if behaviour == "flaky":
            # Counted from the log when it is kept, so clearing ``requests`` starts over with a failure.
            self._flaky_calls = len(self.calls("flaky")) if self.record else self._flaky_calls + 1
        if behaviour == "fail" or (behaviour == "flaky" and self._flaky_calls % 2 == 1):
            await self._json(send, 500, {"error": {"message": "upstream exploded", "type": "server_error"}})
        elif behaviour == "reject":
            await self._json(send, 400, {"error": {"message": "This model's context is too short."}})
        elif behaviour == "hang":
            await asyncio.sleep(3600)
        elif payload.get("stream"):
            await self._stream(send, behaviour, payload)
        else:
            if behaviour == "slow" and await _caller_left_within(receive, SLOW_SECONDS):
                call["disconnected"] = True
                return
            words, tokens = _completion(behaviour, payload)
            message, finish_reason = {"role": "assistant", "content": " ".join(words)}, "stop"
            if behaviour == "capable":
                message, finish_reason = _capable_message(payload, words)
            answer = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": payload.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": {
                    "prompt_tokens": _prompt_tokens(payload),
                    "completion_tokens": tokens,
                    "total_tokens": _prompt_tokens(payload) + tokens,
                },
            }
            if behaviour == "early":
                raw = json.dumps(answer).encode()
                await send({"type": "http.response.start", "status": 200, "headers": _headers(len(raw))})
                await send({"type": "http.response.body", "body": raw[: len(raw) // 2], "more_body": True})
                raise ConnectionAbortedError("the fake provider hangs up mid-body")
            await self._json(send, 200, answer)

    async def _json(self, send, status: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status, "headers": _headers(len(raw))})
        await send({"type": "http.response.body", "body": raw})

    async def _stream(self, send, behaviour: str, payload: dict) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        words, tokens = _completion(behaviour, payload)

        def event(data) -> bytes:
            return b"data: " + (data if isinstance(data, bytes) else json.dumps(data).encode()) + b"\n\n"

        def chunk(delta: dict, finish=None) -> dict:
            return {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "model": payload.get("model"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        await send(
            {"type": "http.response.body", "body": event(chunk({"role": "assistant"})), "more_body": True}
        )
        for index, word in enumerate(words):
            if behaviour == "slow":
                await asyncio.sleep(SLOW_SECONDS)
            if behaviour == "early" and index == 2:
                raise ConnectionAbortedError("the fake provider hangs up mid-stream")
            text = word if index == 0 else " " + word
            await send(
                {"type": "http.response.body", "body": event(chunk({"content": text})), "more_body": True}
            )
        final = chunk({}, finish="stop")
        await send({"type": "http.response.body", "body": event(final), "more_body": True})
        if (payload.get("stream_options") or {}).get("include_usage"):
            usage = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "choices": [],
                "usage": {
                    "prompt_tokens": _prompt_tokens(payload),
                    "completion_tokens": tokens,
                    "total_tokens": _prompt_tokens(payload) + tokens,
                },
            }
            await send({"type": "http.response.body", "body": event(usage), "more_body": True})
        await send({"type": "http.response.body", "body": event(b"[DONE]")})

    # --- Running it -------------------------------------------------------------------------------

    def start(self) -> "FakeUpstream":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self, log_level="critical", lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("The fake provider did not start.")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)


async def _caller_left_within(receive, seconds: float) -> bool:
    """Whether the caller closed the connection within ``seconds`` (its body is read already)."""

    async def left():
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(left(), timeout=seconds)
    except TimeoutError:
        return False
    return True


def _headers(length: int) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"content-length", str(length).encode())]


# For the benchmarks: the same provider, keeping no log of its requests.
unrecorded = FakeUpstream(record=False)
