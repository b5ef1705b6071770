"""What ``/healthz`` reports: the database, Redis, and the last heartbeat of a Celery worker.

A worker writes its heartbeat to Redis every ``NEXEVO_WORKER_HEARTBEAT_SECONDS`` for as long as it is
connected to the broker (``nexevo_site.celery``); a heartbeat older than three intervals means no
worker is listening. Without Redis (the embedded default) tasks run in the web process itself, so
there is no worker to ask about and no Redis to be down.

The report answers within a second whatever is down: PostgreSQL and Redis are asked at the same time,
each on a connection of its own (never a pool's, which may wait for a connection or hold one a
silent network has swallowed), and each is "down" if it has not answered within ``PROBE_SECONDS``.
"""

import asyncio
import logging
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from core.cache import fail_fast

logger = logging.getLogger(__name__)

NOT_CONFIGURED = "not configured"
IN_PROCESS = "in-process"
STALE_AFTER_HEARTBEATS = 3
PROBE_SECONDS = 0.8  # each of the database and Redis; they are asked at once

_clients: dict[str, object] = {}


def _redis():
    """One client per Redis address and process, with short timeouts (for the worker's heartbeat)."""
    import redis

    url = settings.REDIS_URL
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(
            url,
            socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS,
            socket_timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS,
            **fail_fast(url),
        )
    return _clients[url]


def _heartbeat_key() -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX") or "nexevo"
    return f"{prefix}:worker-heartbeat"


def _local_database_status() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


async def database_status() -> str:
    """``ok`` or ``down``: PostgreSQL on a connection of its own, within ``PROBE_SECONDS``; another
    database (SQLite, a file) through Django's connection."""
    try:
        if connection.vendor != "postgresql":
            return await sync_to_async(_local_database_status)()
        import psycopg

        parameters = connection.get_connection_params()
        for name in ("cursor_factory", "context", "prepare_threshold"):
            parameters.pop(name, None)
        async with asyncio.timeout(PROBE_SECONDS):
            probe = await psycopg.AsyncConnection.connect(**parameters, autocommit=True)
            try:
                await probe.execute("SELECT 1")
            finally:
                await probe.close()
    except Exception as error:  # noqa: BLE001 - any failure means "down"
        logger.warning("Health check: the database does not answer (%r).", error)
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


def _worker_status_of(value: bytes | None) -> WorkerStatus:
    if value is None:
        return WorkerStatus("missing")
    timestamp = float(value.split()[0])
    age = max(0, int(time.time() - timestamp))
    last = datetime.fromtimestamp(timestamp, tz=UTC).replace(microsecond=0)
    stale = age > STALE_AFTER_HEARTBEATS * settings.NEXEVO_WORKER_HEARTBEAT_SECONDS
    return WorkerStatus("stale" if stale else "ok", last, age)


async def redis_and_worker_status() -> tuple[str, WorkerStatus]:
    """Redis (``ok``, ``down`` or ``not configured``) and the workers' heartbeat read from it, within
    ``PROBE_SECONDS``."""
    in_process = not settings.REDIS_URL or settings.CELERY_TASK_ALWAYS_EAGER
    if not settings.REDIS_URL:
        return NOT_CONFIGURED, WorkerStatus(IN_PROCESS)
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    client = redis.asyncio.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=PROBE_SECONDS,
        socket_timeout=PROBE_SECONDS,
        retry=Retry(NoBackoff(), 0),
        **fail_fast(settings.REDIS_URL, asynchronous=True),
    )
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            await client.ping()
            heartbeat = None if in_process else await client.get(_heartbeat_key())
    except Exception as error:  # noqa: BLE001 - any failure means "down"
        logger.warning("Health check: Redis does not answer (%r).", error)
        return "down", WorkerStatus(IN_PROCESS if in_process else "unknown")
    finally:
        await client.aclose()
    return "ok", WorkerStatus(IN_PROCESS) if in_process else _worker_status_of(heartbeat)


async def health_report() -> tuple[bool, dict]:
    """(healthy, the JSON body)."""
    database, (redis_state, worker) = await asyncio.gather(database_status(), redis_and_worker_status())
    healthy = database == "ok" and redis_state in {"ok", NOT_CONFIGURED} and worker.healthy
    return healthy, {
        "status": "ok" if healthy else "degraded",
        "database": database,
        "redis": redis_state,
        "worker": worker.as_json(),
    }
