"""A request that needs Redis or the task queue while it is down answers 503 (the error envelope
under /v1/, a page elsewhere), never a 500."""

import sys

import pytest
from django.test import Client, RequestFactory, override_settings
from redis.exceptions import ConnectionError as RedisConnectionError

from core.views import server_error

from .test_error_envelope import assert_envelope

pytestmark = pytest.mark.urls("tests.core.unavailable_urls")


@pytest.fixture
def client():
    return Client(raise_request_exception=False)


def test_it_answers_503_in_the_envelope_when_redis_is_down(client, db):
    response = client.get("/v1/test/needs-redis")
    error = assert_envelope(response, 503, "api_error", "service_unavailable")
    assert "6379" not in error["message"]
    assert response["Retry-After"] == "30"


def test_it_answers_503_when_the_broker_is_down(client, db):
    assert_envelope(client.post("/v1/test/needs-broker"), 503, "api_error", "service_unavailable")


def test_it_answers_503_from_a_plain_view_under_v1(client, db):
    assert_envelope(client.get("/v1/test/needs-cache"), 503, "api_error", "service_unavailable")


def test_a_page_answers_503_with_a_page(client, db):
    response = client.get("/test/needs-redis/")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert "Back in a moment" in response.content.decode()


@override_settings(DEBUG=False)
@pytest.mark.parametrize(("path", "content_type"), [("/v1/keys", "application/json"), ("/", "text/html")])
def test_a_failure_outside_a_view_answers_503_too(path, content_type):
    # Django calls handler500 inside the except block of an exception raised by a middleware.
    request = RequestFactory().get(path)
    try:
        raise RedisConnectionError("Connection refused.")
    except RedisConnectionError:
        assert sys.exc_info()[0] is RedisConnectionError
        response = server_error(request)
    assert response.status_code == 503
    assert response["Content-Type"].startswith(content_type)


def test_other_failures_stay_500(db):
    request = RequestFactory().get("/v1/keys")
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        response = server_error(request)
    assert response.status_code == 500
