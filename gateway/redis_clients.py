"""The gateway's Redis clients, on ``REDIS_URL``: one blocking client per process and one asyncio
client per event loop, both failing fast during an outage (core.cache.fail_fast). The asyncio client
never retries a command: one that timed out may have run, and a give-back sent twice would count
twice. See gateway/ARCHITECTURE.md, "Fail fast".
"""

import asyncio

import redis
import redis.asyncio
from django.conf import settings
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from core.cache import fail_fast

_blocking: dict[str, redis.Redis] = {}  # by URL: a test that points REDIS_URL elsewhere gets its own
_by_loop: dict[tuple[asyncio.AbstractEventLoop, str], redis.asyncio.Redis] = {}


def blocking() -> redis.Redis:
    """This process's blocking client (thread-safe: redis-py pools its connections)."""
    url = settings.REDIS_URL
    client = _blocking.get(url)
    if client is None:
        client = _blocking[url] = redis.Redis.from_url(
            url,
            socket_timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS,
            health_check_interval=30,
            **fail_fast(url),
        )
    return client


def for_running_loop() -> redis.asyncio.Redis:
    """The asyncio client of the running event loop (a connection pool cannot cross loops)."""
    loop = asyncio.get_running_loop()
    name = (loop, settings.REDIS_URL)
    client = _by_loop.get(name)
    if client is None:
        for old in [other for other in _by_loop if other[0].is_closed()]:
            del _by_loop[old]
        client = _by_loop[name] = redis.asyncio.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS,
            health_check_interval=30,
            retry=Retry(NoBackoff(), 0),
            **fail_fast(settings.REDIS_URL, asynchronous=True),
        )
    return client


async def close_for_running_loop() -> None:
    """Closes the running loop's clients (a loop about to go: tests that make one per case)."""
    loop = asyncio.get_running_loop()
    for name in [name for name in _by_loop if name[0] is loop]:
        await _by_loop.pop(name).aclose()
