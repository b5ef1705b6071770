"""The chat endpoint's two doors answer alike: the same requests sent through uvicorn (gateway.asgi,
in front of Django) and through Django's own request cycle (the view behind the middleware) get the
same status, the same error code, the same security headers (core.security, the one policy) and the
same Content-Language and Vary (the messages follow Accept-Language)."""

import json

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.db import OperationalError, ProgrammingError
from django.test import AsyncClient

from core import security
from gateway import database, routing

from .conftest import hello

PATH = "/v1/chat/completions"
SECURITY_HEADERS = (
    "x-content-type-options",
    "referrer-policy",
    "cross-origin-opener-policy",
    "x-frame-options",
    "content-security-policy",
    "permissions-policy",
    "strict-transport-security",
)


def through_uvicorn(server: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict, bytes]:
    with httpx.Client(timeout=30) as client:
        response = client.post(server + PATH, content=body, headers=headers)
        return response.status_code, dict(response.headers), response.content


class DjangoClient(AsyncClient):
    """Django's async test client, where a Host header given replaces its own (``testserver``)."""

    def request(self, **request):
        hosts = [value for name, value in request["headers"] if name == b"host"]
        if len(hosts) > 1:
            request["headers"] = [(name, value) for name, value in request["headers"] if name != b"host"]
            request["headers"].append((b"host", hosts[-1]))
        return super().request(**request)


def through_django(body: bytes, headers: dict[str, str]) -> tuple[int, dict, bytes]:
    others = {name: value for name, value in headers.items() if name != "Content-Type"}

    async def send():
        response = await DjangoClient().post(PATH, data=body, content_type="application/json", headers=others)
        if response.streaming:
            content = b"".join([chunk async for chunk in response.streaming_content])
        else:
            content = response.content
        return response.status_code, {name.lower(): value for name, value in response.items()}, content

    return async_to_sync(send)()


def security_of(headers: dict) -> dict:
    return {name: headers.get(name) for name in SECURITY_HEADERS}


NEGOTIATION_HEADERS = ("content-language", "vary", "www-authenticate", "retry-after")


def negotiation_of(headers: dict) -> dict:
    return {name: headers.get(name) for name in NEGOTIATION_HEADERS}


def policy(*, secure: bool) -> dict:
    expected = {name.lower(): value for name, value in security.response_headers(secure=secure).items()}
    return {name: expected.get(name) for name in SECURITY_HEADERS}


def error_code(body: bytes) -> str | None:
    try:
        return json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def both_doors(server: str, body, headers: dict[str, str]) -> tuple[tuple, tuple]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Host": "testserver", "Content-Type": "application/json", **headers}
    return through_uvicorn(server, raw, headers), through_django(raw, headers)


@pytest.fixture
def key(asgi_server, funded):
    return funded[1]


def test_a_request_without_a_key_is_refused_alike(asgi_server):
    asgi, django = both_doors(asgi_server, hello("west/chat-a"), {})

    assert asgi[0] == django[0] == 401
    assert error_code(asgi[2]) == error_code(django[2]) == "invalid_api_key"
    assert security_of(asgi[1]) == security_of(django[1]) == policy(secure=False)
    assert negotiation_of(asgi[1]) == negotiation_of(django[1])
    assert asgi[1]["www-authenticate"] == 'Bearer realm="nexevo"'
    assert asgi[1]["content-language"] == "en"
    assert asgi[1]["vary"] == security.API_VARY


def test_an_unknown_key_is_refused_alike_in_the_clients_language(asgi_server):
    headers = {"Authorization": "Bearer nx_" + "a" * 40, "Accept-Language": "zh-CN,zh;q=0.9"}
    asgi, django = both_doors(asgi_server, hello("west/chat-a"), headers)

    assert asgi[0] == django[0] == 401
    assert json.loads(asgi[2]) == json.loads(django[2])
    assert negotiation_of(asgi[1]) == negotiation_of(django[1])
    assert asgi[1]["content-language"] == "zh-hans"
    assert asgi[1]["www-authenticate"] == 'Bearer realm="nexevo"'


def test_a_host_not_allowed_is_refused_alike(asgi_server, key):
    asgi, django = both_doors(
        asgi_server, hello("west/chat-a"), {"Host": "evil.example", "Authorization": f"Bearer {key}"}
    )

    assert asgi[0] == django[0] == 400
    assert error_code(asgi[2]) == error_code(django[2]) == "bad_request"
    assert security_of(asgi[1]) == security_of(django[1]) == policy(secure=False)


def test_a_malformed_body_is_refused_alike(asgi_server, key):
    asgi, django = both_doors(asgi_server, b"{not json", {"Authorization": f"Bearer {key}"})

    assert asgi[0] == django[0] == 400
    assert error_code(asgi[2]) == error_code(django[2])
    assert error_code(asgi[2]) is not None
    assert security_of(asgi[1]) == security_of(django[1]) == policy(secure=False)


def test_a_completion_is_answered_alike(asgi_server, key):
    asgi, django = both_doors(asgi_server, hello("west/chat-a"), {"Authorization": f"Bearer {key}"})
    assert asgi[0] == django[0] == 200
    assert asgi[1]["content-type"] == django[1]["content-type"] == "application/json"
    assert json.loads(asgi[2])["choices"] and json.loads(django[2])["choices"]
    assert security_of(asgi[1]) == security_of(django[1]) == policy(secure=False)
    assert negotiation_of(asgi[1]) == negotiation_of(django[1])
    assert asgi[1]["vary"] == security.API_VARY


def test_a_stream_is_answered_alike(asgi_server, key):
    asgi, django = both_doors(
        asgi_server, hello("west/chat-a", stream=True), {"Authorization": f"Bearer {key}"}
    )

    assert asgi[0] == django[0] == 200
    assert asgi[1]["content-type"].startswith("text/event-stream")
    assert django[1]["content-type"].startswith("text/event-stream")
    assert asgi[2].rstrip().endswith(b"data: [DONE]") and django[2].rstrip().endswith(b"data: [DONE]")
    assert security_of(asgi[1]) == security_of(django[1]) == policy(secure=False)
    assert negotiation_of(asgi[1]) == negotiation_of(django[1])


def test_over_https_both_doors_send_hsts(asgi_server, key, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    headers = {"Authorization": f"Bearer {key}", "X-Forwarded-Proto": "https"}
    asgi, django = both_doors(asgi_server, hello("west/chat-a"), headers)

    assert asgi[0] == django[0] == 200
    assert security_of(asgi[1]) == security_of(django[1]) == policy(secure=True)
    assert asgi[1]["strict-transport-security"].startswith("max-age=3600")


def failing_routing(monkeypatch, error: Exception) -> None:
    """Routing a request raises ``error``; a database failure noted on the way is forgotten at once
    (the next request is not refused as one while the database is suspected down)."""

    def route(**kwargs):
        raise error

    monkeypatch.setattr(routing, "route", route)
    monkeypatch.setattr(database, "RETRY_SECONDS", 0)


def test_a_bug_in_a_query_is_a_500_through_both_doors(asgi_server, key, monkeypatch):
    failing_routing(monkeypatch, ProgrammingError("column routing.nothing does not exist"))
    asgi, django = both_doors(asgi_server, hello("west/chat-a"), {"Authorization": f"Bearer {key}"})

    assert asgi[0] == django[0] == 500
    assert json.loads(asgi[2]) == json.loads(django[2])
    assert error_code(asgi[2]) == "internal_error"
    assert negotiation_of(asgi[1]) == negotiation_of(django[1])
    assert "retry-after" not in asgi[1]
    assert security_of(asgi[1]) == security_of(django[1]) == policy(secure=False)


def test_a_database_gone_is_a_503_with_retry_after_through_both_doors(asgi_server, key, monkeypatch):
    failing_routing(monkeypatch, OperationalError("server closed the connection unexpectedly"))
    headers = {"Authorization": f"Bearer {key}", "Accept-Language": "zh-CN"}
    asgi, django = both_doors(asgi_server, hello("west/chat-a"), headers)

    assert asgi[0] == django[0] == 503
    assert json.loads(asgi[2]) == json.loads(django[2])
    assert error_code(asgi[2]) == "service_unavailable"
    assert negotiation_of(asgi[1]) == negotiation_of(django[1])
    assert int(asgi[1]["retry-after"]) > 0
    assert asgi[1]["content-language"] == "zh-hans"
