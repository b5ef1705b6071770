"""What ``/healthz`` reports: the database, Redis, and the last heartbeat of a Celery worker.

A worker writes its heartbeat to Redis every ``NEXEVO_WORKER_HEARTBEAT_SECONDS`` for as long as it is
connected to the broker (``nexevo_site.celery``); a heartbeat older than three intervals means no
worker is listening. Without Redis (the embedded default) tasks run in the web process itself, so
there is no worker to ask about and no Redis to be down.
"""

import logging
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

NOT_CONFIGURED = "not configured"
IN_PROCESS = "in-process"
STALE_AFTER_HEARTBEATS = 3

_clients: dict[str, object] = {}


def _redis():
    """One client per Redis address and process, with short timeouts (a probe must not hang)."""
    import redis

    url = settings.REDIS_URL
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(
            url,
            socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS,
            socket_timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS,
        )
    return _clients[url]


def _heartbeat_key() -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX") or "nexevo"
    return f"{prefix}:worker-heartbeat"


def database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means "down"
        logger.warning("Health check: the database does not answer.", exc_info=True)
        return "down"
    return "ok"


def redis_status() -> str:
    if not settings.REDIS_URL:
        return NOT_CONFIGURED
    try:
        _redis().ping()
    except Exception:  # noqa: BLE001
        return "down"
    return "ok"


def worker_heartbeat_record() -> None:
    """Called by a worker while it is connected to the broker."""
    if not settings.REDIS_URL:
        return
    _redis().set(_heartbeat_key(), f"{time.time():.3f} {socket.gethostname()}")


@dataclass(frozen=True)
class WorkerStatus:
    status: str  # ok, stale, missing, unknown (Redis down), in-process
    last_heartbeat: datetime | None = None
    age_seconds: int | None = None

    @property
    def healthy(self) -> bool:
        return self.status in {"ok", IN_PROCESS}

    def as_json(self) -> dict:
        return {
            "status": self.status,
            "last_heartbeat": (
                self.last_heartbeat.isoformat().replace("+00:00", "Z") if self.last_heartbeat else None
            ),
            "age_seconds": self.age_seconds,
        }


def worker_status() -> WorkerStatus:
    if not settings.REDIS_URL or settings.CELERY_TASK_ALWAYS_EAGER:
        return WorkerStatus(IN_PROCESS)
    try:
        value = _redis().get(_heartbeat_key())
    except Exception:  # noqa: BLE001
        return WorkerStatus("unknown")
    if value is None:
        return WorkerStatus("missing")
    timestamp = float(value.split()[0])
    age = max(0, int(time.time() - timestamp))
    last = datetime.fromtimestamp(timestamp, tz=UTC).replace(microsecond=0)
    stale = age > STALE_AFTER_HEARTBEATS * settings.NEXEVO_WORKER_HEARTBEAT_SECONDS
    return WorkerStatus("stale" if stale else "ok", last, age)


def health_report() -> tuple[bool, dict]:
    """(healthy, the JSON body)."""
    database = database_status()
    redis_state = redis_status()
    worker = worker_status()
    healthy = database == "ok" and redis_state in {"ok", NOT_CONFIGURED} and worker.healthy
    return healthy, {
        "status": "ok" if healthy else "degraded",
        "database": database,
        "redis": redis_state,
        "worker": worker.as_json(),
    }
