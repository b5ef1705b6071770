"""/healthz with the embedded defaults and with a Redis that does not answer. (With a Redis server
and a worker: tests/stack.)"""

import pytest
from django.db.utils import OperationalError

from tests.stack.processes import free_port


@pytest.fixture
def redis_unreachable(settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.CELERY_TASK_ALWAYS_EAGER = False


def test_it_is_200_with_the_embedded_defaults(client, db, settings):
    settings.REDIS_URL = None
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "redis": "not configured",
        "worker": {"status": "in-process", "last_heartbeat": None, "age_seconds": None},
    }
    assert response["Cache-Control"] == "no-store"


def test_it_needs_no_sign_in_and_no_second_factor(client, alice, db, settings):
    from tests.accounts.helpers import enable_two_factor
    from tests.conftest import PASSWORD

    settings.REDIS_URL = None
    enable_two_factor(alice)
    client.post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    assert client.get("/healthz").status_code == 200


def test_it_is_503_when_redis_does_not_answer(client, db, redis_unreachable):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["database"] == "ok" and body["redis"] == "down"
    assert body["worker"]["status"] == "unknown"


def test_it_is_503_when_the_database_does_not_answer(client, db, settings, monkeypatch):
    from core import health

    class Unreachable:
        vendor = "sqlite"

        def cursor(self):
            raise OperationalError("connection refused")

    settings.REDIS_URL = None
    monkeypatch.setattr(health, "connection", Unreachable())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "down"


def test_it_is_503_within_a_second_when_postgresql_is_not_listening(client, db, settings, monkeypatch):
    import time

    from core import health

    class NotListening:
        vendor = "postgresql"

        def get_connection_params(self):
            return {"host": "127.0.0.1", "port": free_port(), "dbname": "nexevo", "connect_timeout": 2}

    settings.REDIS_URL = None
    monkeypatch.setattr(health, "connection", NotListening())
    started = time.monotonic()
    response = client.get("/healthz")
    assert time.monotonic() - started < 2.5  # about a second, with a margin for a busy machine
    assert response.status_code == 503
    assert response.json()["database"] == "down"
