"""/healthz and the workers' heartbeat in Redis (the test's own server, no worker process: the
heartbeat is written here as a worker's consumer writes it)."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from core.health import worker_heartbeat_record


@pytest.fixture
def redis_with_workers(settings, redis_server):
    settings.REDIS_URL = redis_server.url()
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.NEXEVO_WORKER_HEARTBEAT_SECONDS = 15
    return redis_server


def test_it_is_200_while_a_worker_beats(client, db, redis_with_workers):
    worker_heartbeat_record()
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["redis"] == "ok" and body["worker"]["status"] == "ok"
    assert body["worker"]["age_seconds"] == 0


def test_it_is_503_when_no_worker_has_ever_beaten(client, db, redis_with_workers):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["worker"]["status"] == "missing"


def test_it_is_503_when_the_last_heartbeat_is_older_than_three_intervals(client, db, redis_with_workers):
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        worker_heartbeat_record()
    with time_machine.travel(start + timedelta(seconds=45), tick=False):
        assert client.get("/healthz").status_code == 200
    with time_machine.travel(start + timedelta(seconds=46), tick=False):
        response = client.get("/healthz")
    assert response.status_code == 503, response.json()
    assert response.json()["worker"] == {
        "status": "stale",
        "last_heartbeat": start.isoformat().replace("+00:00", "Z"),
        "age_seconds": 46,
    }


def test_stopping_redis_turns_it_503(client, db, redis_with_workers):
    worker_heartbeat_record()
    redis_with_workers.stop()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["redis"] == "down" and response.json()["worker"]["status"] == "unknown"
