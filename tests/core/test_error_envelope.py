"""Every error under /v1/ answers with API.md's envelope, never an HTML page or a traceback."""

import pytest
from django.test import Client, override_settings


def assert_envelope(response, status, error_type, code=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"type", "code", "message", "param"}
    assert error["type"] == error_type
    if code:
        assert error["code"] == code
    assert error["message"]
    return error


def test_it_answers_401_without_credentials(api, db):
    response = api.get("/v1/auth/me")
    assert_envelope(response, 401, "authentication_error", "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_answers_404_for_an_unknown_endpoint(api, db):
    assert_envelope(api.get("/v1/no/such/thing"), 404, "invalid_request_error", "unknown_endpoint")
    assert_envelope(api.post("/v1/auth/me/"), 404, "invalid_request_error", "unknown_endpoint")


def test_it_answers_405_for_a_wrong_method(api_as, alice_key):
    assert_envelope(
        api_as(alice_key[1]).delete("/v1/auth/me"), 405, "invalid_request_error", "method_not_allowed"
    )


def test_it_answers_415_for_a_body_that_is_not_json(api_as, alice_key):
    response = api_as(alice_key[1]).patch(
        "/v1/auth/profile", "full_name=x", content_type="application/x-www-form-urlencoded"
    )
    assert_envelope(response, 415, "invalid_request_error", "unsupported_media_type")


@pytest.mark.parametrize("body", ["{", '{"full_name": NaN}', "\xff", "[1,"])
def test_it_answers_400_for_json_that_does_not_parse(api_as, alice_key, alice, body):
    response = api_as(alice_key[1]).patch("/v1/auth/profile", body, content_type="application/json")
    assert_envelope(response, 400, "invalid_request_error", "parse_error")
    alice.refresh_from_db()
    assert alice.full_name == "Alice Archer"


def test_it_answers_400_naming_the_field_for_invalid_input(api_as, alice_key):
    response = api_as(alice_key[1]).patch("/v1/auth/profile", {"full_name": "x" * 151}, format="json")
    error = assert_envelope(response, 400, "invalid_request_error", "max_length")
    assert error["param"] == "full_name"
    assert "150" in error["message"]


def test_it_answers_429_with_retry_after_when_throttled(api_as, alice_key):
    client = api_as(alice_key[1])
    body = {"current_password": "wrong", "new_password": "another good password 1"}
    statuses = [client.post("/v1/auth/change-password", body, format="json").status_code for _ in range(6)]
    assert statuses[:5] == [400] * 5
    response = client.post("/v1/auth/change-password", body, format="json")
    assert_envelope(response, 429, "rate_limit_error", "rate_limited")
    assert int(response["Retry-After"]) > 0


@override_settings(ROOT_URLCONF="tests.core.error_urls", DEBUG=False)
def test_it_answers_500_without_a_traceback_from_an_api_view(db, caplog):
    response = Client(raise_request_exception=False).get("/v1/test/explode")
    error = assert_envelope(response, 500, "api_error", "internal_error")
    assert "secret internal detail" not in response.content.decode()
    assert "Traceback" not in error["message"]
    assert "secret internal detail" in caplog.text  # logged for us, not shown to them


@override_settings(ROOT_URLCONF="tests.core.error_urls", DEBUG=False)
def test_it_answers_500_in_json_from_a_plain_view_under_v1(db):
    response = Client(raise_request_exception=False).get("/v1/test/explode-plain")
    assert_envelope(response, 500, "api_error", "internal_error")
    assert b"secret internal detail" not in response.content


def test_it_answers_json_for_an_unknown_path_even_with_csrf_checks_on(db):
    client = Client(enforce_csrf_checks=True)
    assert_envelope(client.post("/v1/no/such/thing", {}), 404, "invalid_request_error", "unknown_endpoint")


def test_it_answers_json_when_a_session_forgets_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.patch("/v1/auth/profile", '{"full_name": "x"}', content_type="application/json")
    assert_envelope(response, 403, "permission_error", "csrf_failed")
    alice.refresh_from_db()
    assert alice.full_name == "Alice Archer"


def test_it_answers_json_for_a_bad_host_header(db):
    response = Client().get("/v1/auth/me", HTTP_HOST="evil.example.com")
    assert_envelope(response, 400, "invalid_request_error", "bad_request")


def test_it_answers_413_for_a_body_over_the_limit(api_as, alice_key, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = '{"full_name": "' + "x" * 2000 + '"}'
    response = api_as(alice_key[1]).patch("/v1/auth/profile", body, content_type="application/json")
    assert_envelope(response, 413, "invalid_request_error", "request_too_large")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"full_name": "\xff\xfe"}', "application/json"),
        (b'{"full_name": "x"}', "application/json; charset=rot13"),
        (b"[" * 100_000, "application/json"),
    ],
)
def test_it_answers_400_for_bodies_that_are_not_utf8_json(api_as, alice_key, body, content_type):
    response = api_as(alice_key[1]).generic("PATCH", "/v1/auth/profile", body, content_type=content_type)
    if "rot13" in content_type:
        # The charset is ignored (API.md: bodies are UTF-8): this one is plain valid JSON.
        assert response.status_code == 200
    else:
        assert_envelope(response, 400, "invalid_request_error", "parse_error")
