"""The Python client against a real HTTP server on 127.0.0.1 whose answers each test scripts."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import nexevo
import pytest
from nexevo import Nexevo


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class CannedResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0

    def encoded_body(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


class ScriptedServer(ThreadingHTTPServer):
    """Answers requests from a queue of canned responses and records every request it receives."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ScriptedHandler)
        self.requests: list[RecordedRequest] = []
        self._responses: deque[CannedResponse] = deque()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def respond(
        self,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        delay_seconds: float = 0.0,
    ) -> None:
        self._responses.append(CannedResponse(status, body, headers or {}, delay_seconds))

    def record_and_answer(self, request: RecordedRequest) -> CannedResponse:
        with self._lock:
            self.requests.append(request)
            if self._responses:
                return self._responses.popleft()
        # 418 is never retried, so a test that under-scripts fails at once instead of looping.
        return CannedResponse(418, {"error": {"type": "test", "code": "unscripted", "message": request.path}})

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out hangs up before the slow answer is written; that is expected here.
        pass


class ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedServer

    def handle_scripted(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        canned = self.server.record_and_answer(RecordedRequest(self.command, self.path, self.headers, body))
        time.sleep(canned.delay_seconds)
        payload = canned.encoded_body()
        self.send_response(canned.status)
        for name, value in canned.headers.items():
            self.send_header(name, value)
        if canned.status != 204:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_scripted

    def log_message(self, format: str, *args: Any) -> None:
        pass


ME = {
    "user_id": "u_alice",
    "email": "alice@example.com",
    "full_name": "Alice",
    "email_verified": True,
    "two_fa_enabled": False,
    "date_joined": "2026-01-01T00:00:00Z",
    "organizations": [{"org_id": "org_acme", "name": "Acme", "role": "owner"}],
}


def error_body(type_: str, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"type": type_, "code": code, "message": message, "param": param}}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEXEVO_API_KEY", raising=False)
    monkeypatch.delenv("NEXEVO_BASE_URL", raising=False)


@pytest.fixture
def server():
    scripted_server = ScriptedServer()
    # A short poll interval keeps shutdown, and so each test, from waiting half a second.
    thread = threading.Thread(
        target=scripted_server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    yield scripted_server
    scripted_server.shutdown()
    scripted_server.server_close()


@pytest.fixture
def sleeps() -> list[float]:
    """The back-off delays the client asked for, recorded instead of slept so tests stay fast."""
    return []


@pytest.fixture
def make_client(server: ScriptedServer, sleeps: list[float]):
    clients: list[Nexevo] = []

    def make(**overrides: Any) -> Nexevo:
        options = {
            "api_key": "sk-test-alice",
            "base_url": server.url,
            "_sleep": sleeps.append,
            **overrides,
        }
        client = Nexevo(**options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client) -> Nexevo:
    return make_client()


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Configuration


def test_it_reads_api_key_and_base_url_from_the_environment(server, sleeps, monkeypatch):
    monkeypatch.setenv("NEXEVO_API_KEY", "sk-from-env")
    monkeypatch.setenv("NEXEVO_BASE_URL", server.url)
    server.respond(200, ME)

    with Nexevo(_sleep=sleeps.append) as client:
        client.auth.me()

    assert server.requests[0].headers["Authorization"] == "Bearer sk-from-env"
    assert client._http.is_closed


def test_it_prefers_arguments_over_the_environment(make_client, server, monkeypatch):
    monkeypatch.setenv("NEXEVO_API_KEY", "sk-from-env")
    monkeypatch.setenv("NEXEVO_BASE_URL", f"http://127.0.0.1:{unused_port()}")
    server.respond(200, ME)

    make_client(api_key="sk-from-argument", base_url=server.url).auth.me()

    assert server.requests[0].headers["Authorization"] == "Bearer sk-from-argument"


def test_it_defaults_to_the_local_server():
    with Nexevo(api_key="sk-test") as client:
        assert client.base_url == "http://127.0.0.1:8000"


def test_it_refuses_to_start_without_an_api_key():
    with pytest.raises(nexevo.NexevoError, match="NEXEVO_API_KEY"):
        Nexevo()


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_it_accepts_the_base_url_with_or_without_v1(make_client, server, suffix):
    server.respond(200, ME)

    make_client(base_url=server.url + suffix).auth.me()

    assert server.requests[0].path == "/v1/auth/me"


# What goes over the wire


def test_it_sends_the_bearer_key_user_agent_and_accept_headers(client, server):
    server.respond(200, ME)

    client.auth.me()

    headers = server.requests[0].headers
    assert headers["Authorization"] == "Bearer sk-test-alice"
    assert headers["User-Agent"] == "nexevo-python/0.1.0"
    assert headers["Accept"] == "application/json"


def test_it_returns_me_as_a_dict(client, server):
    server.respond(200, ME)

    me = client.auth.me()

    assert me["user_id"] == "u_alice"
    assert server.requests[0].method == "GET"


def test_it_sends_update_profile_as_a_json_patch(client, server):
    server.respond(200, {**ME, "full_name": "Jane Doe"})

    me = client.auth.update_profile(full_name="Jane Doe")

    request = server.requests[0]
    assert (request.method, request.path) == ("PATCH", "/v1/auth/profile")
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {"full_name": "Jane Doe"}
    assert me["full_name"] == "Jane Doe"


def test_it_sends_change_password_as_a_json_post_without_idempotency_key(client, server):
    server.respond(204)

    client.auth.change_password(current_password="old-pwd", new_password="new-pwd-123")

    request = server.requests[0]
    assert (request.method, request.path) == ("POST", "/v1/auth/change-password")
    assert request.json() == {"current_password": "old-pwd", "new_password": "new-pwd-123"}
    assert request.headers["Idempotency-Key"] is None


def test_it_asks_for_the_two_fa_status(client, server):
    server.respond(200, {"enabled": True, "methods": ["totp"], "recovery_codes_remaining": 8})

    status = client.auth.two_fa_status()

    assert server.requests[0].path == "/v1/auth/2fa"
    assert status["recovery_codes_remaining"] == 8


def test_it_returns_none_for_204(client, server):
    server.respond(204)

    assert client._request("DELETE", "/v1/things/thing_1") is None


def test_it_leaves_unset_query_parameters_out(client, server):
    server.respond(200, {"data": [], "has_more": False, "next_cursor": None})

    client._request("GET", "/v1/things", params={"limit": 20, "cursor": None})

    assert server.requests[0].path == "/v1/things?limit=20"


# Errors


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, nexevo.BadRequestError),
        (401, nexevo.AuthenticationError),
        (402, nexevo.PaymentRequiredError),
        (403, nexevo.PermissionDeniedError),
        (404, nexevo.NotFoundError),
        (409, nexevo.ConflictError),
        (413, nexevo.BadRequestError),
        (422, nexevo.BadRequestError),
        (429, nexevo.RateLimitError),
        (500, nexevo.InternalServerError),
        (503, nexevo.InternalServerError),
        (418, nexevo.APIError),
    ],
)
def test_it_raises_the_exception_class_matching_the_status(make_client, server, status, error_class):
    server.respond(status, error_body("some_type", "some_code", "Something went wrong."))

    with pytest.raises(nexevo.APIError) as raised:
        make_client(max_retries=0).auth.me()

    assert type(raised.value) is error_class
    assert isinstance(raised.value, nexevo.NexevoError)
    assert raised.value.status_code == status


def test_it_carries_the_error_envelope_fields(client, server):
    server.respond(
        400,
        error_body(
            "invalid_request_error",
            "invalid_current_password",
            "The current password is incorrect.",
            "current_password",
        ),
        headers={"X-Request-Id": "req_123"},
    )

    with pytest.raises(nexevo.BadRequestError) as raised:
        client.auth.change_password(current_password="wrong", new_password="new-pwd-123")

    error = raised.value
    assert error.status_code == 400
    assert error.type == "invalid_request_error"
    assert error.code == "invalid_current_password"
    assert error.message == "The current password is incorrect."
    assert error.param == "current_password"
    assert error.headers["x-request-id"] == "req_123"
    assert str(error) == (
        "400 invalid_request_error (invalid_current_password): The current password is incorrect."
        " [param: current_password]"
    )


def test_it_reads_an_authentication_error_readably(client, server):
    server.respond(401, error_body("authentication_error", "invalid_api_key", "Invalid API key."))

    with pytest.raises(nexevo.AuthenticationError) as raised:
        client.auth.me()

    assert str(raised.value) == "401 authentication_error (invalid_api_key): Invalid API key."


@pytest.mark.parametrize(
    ("body", "content_type", "expected_in_message"),
    [
        (
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
            "text/html",
            "<h1>502 Bad Gateway</h1>",
        ),
        ({"detail": "Upstream unavailable."}, "application/json", "Upstream unavailable."),
        (None, "text/plain", "empty response body"),
    ],
)
def test_it_raises_the_right_class_for_a_body_that_is_not_the_envelope(
    make_client, server, body, content_type, expected_in_message
):
    server.respond(502, body, headers={"Content-Type": content_type})

    with pytest.raises(nexevo.InternalServerError) as raised:
        make_client(max_retries=0).auth.me()

    error = raised.value
    assert error.status_code == 502
    assert (error.type, error.code, error.param) == (None, None, None)
    assert error.message.startswith("Bad Gateway")
    assert expected_in_message in error.message
    assert str(error).startswith("502: Bad Gateway")


# Retries


def test_it_retries_a_get_after_503_then_succeeds(client, server):
    server.respond(503, error_body("api_error", "unavailable", "Try again."))
    server.respond(200, ME)

    me = client.auth.me()

    assert me["user_id"] == "u_alice"
    assert len(server.requests) == 2


def test_it_retries_a_429_after_the_retry_after_it_was_given(client, server, sleeps):
    server.respond(
        429,
        error_body("rate_limit_error", "rate_limited", "Slow down."),
        headers={"Retry-After": "0"},
    )
    server.respond(200, ME)

    client.auth.me()

    assert len(server.requests) == 2
    assert sleeps == [0.0]


def test_it_gives_up_at_once_when_retry_after_is_too_long(client, server, sleeps):
    server.respond(
        429,
        error_body("rate_limit_error", "rate_limited", "Slow down."),
        headers={"Retry-After": "3600"},
    )
    server.respond(200, ME)

    with pytest.raises(nexevo.RateLimitError) as error:
        client.auth.me()

    assert error.value.headers["Retry-After"] == "3600"
    assert sleeps == []
    assert len(server.requests) == 1


def test_it_backs_off_exponentially_with_jitter_up_to_a_cap(make_client, server, sleeps):
    for _ in range(7):
        server.respond(503, error_body("api_error", "unavailable", "Try again."))

    with pytest.raises(nexevo.InternalServerError):
        make_client(max_retries=6).auth.me()

    ceilings = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert len(sleeps) == len(ceilings)
    for delay, ceiling in zip(sleeps, ceilings, strict=True):
        assert 0.75 * ceiling <= delay <= ceiling


def test_it_does_not_retry_a_post_without_an_idempotency_key(client, server, sleeps):
    server.respond(503, error_body("api_error", "unavailable", "Try again."))
    server.respond(204)

    with pytest.raises(nexevo.InternalServerError):
        client.auth.change_password(current_password="old-pwd", new_password="new-pwd-123")

    assert len(server.requests) == 1
    assert sleeps == []


def test_it_retries_a_create_with_the_same_idempotency_key(client, server):
    server.respond(503, error_body("api_error", "unavailable", "Try again."))
    server.respond(500, "Internal Server Error")
    server.respond(201, {"thing_id": "thing_1"})

    created = client._request("POST", "/v1/things", json={"name": "one"}, idempotent=True)

    assert created == {"thing_id": "thing_1"}
    keys = [request.headers["Idempotency-Key"] for request in server.requests]
    assert len(keys) == 3
    assert keys[0]
    assert keys == [keys[0]] * 3
    assert [request.json() for request in server.requests] == [{"name": "one"}] * 3


def test_it_uses_a_new_idempotency_key_for_each_call(client, server):
    server.respond(201, {"thing_id": "thing_1"})
    server.respond(201, {"thing_id": "thing_2"})

    client._request("POST", "/v1/things", json={"name": "one"}, idempotent=True)
    client._request("POST", "/v1/things", json={"name": "two"}, idempotent=True)

    first_key, second_key = (request.headers["Idempotency-Key"] for request in server.requests)
    assert first_key != second_key


def test_it_stops_after_max_retries_and_raises(client, server, sleeps):
    for _ in range(4):
        server.respond(503, error_body("api_error", "unavailable", "Still down."))

    with pytest.raises(nexevo.InternalServerError, match="Still down."):
        client.auth.me()

    assert len(server.requests) == 1 + client.max_retries == 3
    assert len(sleeps) == 2


def test_it_does_not_retry_when_max_retries_is_zero(make_client, server):
    server.respond(503, error_body("api_error", "unavailable", "Try again."))
    server.respond(200, ME)

    with pytest.raises(nexevo.InternalServerError):
        make_client(max_retries=0).auth.me()

    assert len(server.requests) == 1


def test_it_does_not_retry_a_client_error(client, server):
    server.respond(404, error_body("invalid_request_error", "not_found", "No such thing."))
    server.respond(200, {"thing_id": "thing_1"})

    with pytest.raises(nexevo.NotFoundError):
        client._request("GET", "/v1/things/thing_1")

    assert len(server.requests) == 1


def test_it_raises_a_connection_error_after_retrying_a_refused_connection(make_client, sleeps):
    client = make_client(base_url=f"http://127.0.0.1:{unused_port()}")

    with pytest.raises(nexevo.APIConnectionError) as raised:
        client.auth.me()

    assert not isinstance(raised.value, nexevo.APITimeoutError)
    assert isinstance(raised.value, nexevo.NexevoError)
    assert len(sleeps) == client.max_retries


def test_it_raises_a_timeout_error_when_the_server_is_too_slow(make_client, server):
    server.respond(200, ME, delay_seconds=0.5)

    with pytest.raises(nexevo.APITimeoutError):
        make_client(timeout=0.1, max_retries=0).auth.me()


# --- client.models -----------------------------------------------------------------------------

MODEL = {
    "id": "openai/gpt-4o-mini",
    "object": "model",
    "created": 1767225600,
    "owned_by": "openai",
    "pricing": {"input_per_million_usd": "0.16", "output_per_million_usd": "0.63"},
    "context_length": 128000,
}


def test_it_lists_the_models(client, server):
    server.respond(200, {"object": "list", "data": [MODEL], "has_more": False, "next_cursor": None})

    listed = client.models.list()

    assert [model["id"] for model in listed["data"]] == ["openai/gpt-4o-mini"]
    request = server.requests[0]
    assert (request.method, request.path) == ("GET", "/v1/models")


def test_it_retrieves_a_model_keeping_the_slash_of_its_id(client, server):
    server.respond(200, MODEL)

    model = client.models.retrieve("openai/gpt-4o-mini")

    assert model["pricing"]["output_per_million_usd"] == "0.63"
    assert server.requests[0].path == "/v1/models/openai/gpt-4o-mini"


def test_it_quotes_what_else_an_id_holds_into_the_path(client, server):
    server.respond(200, MODEL)

    client.models.retrieve("acme/model?x=1#y")

    assert server.requests[0].path == "/v1/models/acme/model%3Fx%3D1%23y"


def test_it_raises_not_found_for_a_model_not_offered(client, server):
    server.respond(404, error_body("invalid_request_error", "model_not_found", "No model acme/x."))

    with pytest.raises(nexevo.NotFoundError) as refused:
        client.models.retrieve("acme/x")

    assert refused.value.code == "model_not_found"
    assert len(server.requests) == 1  # a 404 is final, never retried
