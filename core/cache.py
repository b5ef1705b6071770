"""The Redis cache, and what happens to it while Redis is unreachable.

Most of what the default cache holds is per-request bookkeeping: rate-limit counters (ours, allauth's,
DRF's throttles) and the last-use marker of keys. While Redis is down, ``RedisCacheWithFallback``
keeps that working in this process's memory (counters count per process for the outage), so pages
and read endpoints keep answering instead of failing with a connection error. After a failure it
leaves Redis alone for ``RETRY_AFTER_SECONDS``, so an outage costs one connection attempt per few
seconds rather than a timeout per call; then it tries Redis again.

What must be shared between processes to be correct (the key cache's invalidations, locks) uses
``shared_cache()``: the same cache without the fallback, raising ``CacheUnavailable``, so that the
caller decides (the key cache reads the database instead).

Clients of Redis outside the cache (the chat endpoint's, gateway.redis_clients, and
/healthz's) use the same memory through their connections: ``FailFastConnection`` and
``AsyncFailFastConnection`` note a connection error or timeout, and for ``RETRY_AFTER_SECONDS``
afterwards fail at once with ``ConnectionError`` instead of waiting for a socket timeout on each call.
Callers keep their own policy for a Redis that is down (gateway.ratelimits counts in memory, spend
caps answer 503).
"""

import logging
import threading
import time

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.asyncio.connection import Connection as AsyncConnection
from redis.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2.0
REDIS_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)

_OPERATIONS = (
    "add",
    "get",
    "set",
    "touch",
    "delete",
    "get_many",
    "has_key",
    "incr",
    "set_many",
    "delete_many",
    "clear",
)


class CacheUnavailable(Exception):
    """Redis, which holds the shared cache, cannot be reached."""


class _Outage:
    """When Redis last failed, per server, shared by the threads of this process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._down_until: dict[str, float] = {}

    def is_suspected(self, server: str) -> bool:
        return time.monotonic() < self._down_until.get(server, 0.0)

    def record(self, server: str) -> bool:
        """Notes a failure; True when it starts an outage (so that it is logged once)."""
        with self._lock:
            started = server not in self._down_until
            self._down_until[server] = time.monotonic() + RETRY_AFTER_SECONDS
            return started

    def end(self, server: str) -> bool:
        if server not in self._down_until:  # the usual case, without taking the lock
            return False
        with self._lock:
            return self._down_until.pop(server, None) is not None


_outage = _Outage()


class RedisCacheWithFallback(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._server_name = server if isinstance(server, str) else ",".join(server)
        # Its connections share the outage memory of the process's other Redis clients (below).
        self._options = {**fail_fast(self._server_name), **self._options}
        local_params = {key: value for key, value in params.items() if key not in {"BACKEND", "OPTIONS"}}
        # LocMemCache's storage is per name and per process, shared by this process's threads.
        self._local = LocMemCache(f"redis-fallback:{self._server_name}", local_params)

    @property
    def strict(self) -> "_StrictCache":
        return _StrictCache(self)

    def redis_available(self) -> bool:
        """Whether Redis answers a PING now (bypasses the outage timer)."""
        try:
            return bool(self._cache.get_client(write=True).ping())
        except REDIS_UNAVAILABLE:
            return False

    def _call(self, operation: str, *args, strict: bool = False, **kwargs):
        if not _outage.is_suspected(self._server_name):
            try:
                result = getattr(super(), operation)(*args, **kwargs)
            except REDIS_UNAVAILABLE as error:
                if _outage.record(self._server_name):
                    logger.warning("Redis is unreachable (%s); the cache falls back to memory.", error)
            else:
                if _outage.end(self._server_name):
                    logger.warning("Redis is reachable again.")
                return result
        if strict:
            raise CacheUnavailable(f"Redis at {self._server_name} is unreachable.")
        return getattr(self._local, operation)(*args, **kwargs)


def _operation(name):
    def method(self, *args, **kwargs):
        return self._call(name, *args, **kwargs)

    method.__name__ = name
    return method


for _name in _OPERATIONS:
    setattr(RedisCacheWithFallback, _name, _operation(_name))


class _StrictCache:
    """The Redis cache with no fallback: every operation raises ``CacheUnavailable`` during an outage."""

    def __init__(self, backend: RedisCacheWithFallback):
        self._backend = backend

    def __getattr__(self, name):
        if name in _OPERATIONS:
            return lambda *args, **kwargs: self._backend._call(name, *args, strict=True, **kwargs)
        return getattr(self._backend, name)


def shared_cache():
    """The default cache when every process sees the same one, raising ``CacheUnavailable`` rather
    than falling back to this process's memory. Without Redis it is the local cache itself."""
    backend = caches["default"]
    return backend.strict if isinstance(backend, RedisCacheWithFallback) else backend


# --- Connections that fail fast during an outage ------------------------------------------------------


def _address(connection) -> str:
    return f"redis {connection.host}:{connection.port}"


def _refuse_if_down(connection) -> None:
    if _outage.is_suspected(_address(connection)):
        raise RedisConnectionError(f"Redis at {connection.host}:{connection.port} failed a moment ago.")


def _note(connection, error: BaseException) -> None:
    if _outage.record(_address(connection)):
        logger.warning("Redis at %s:%s is unreachable (%s).", connection.host, connection.port, error)


class FailFastConnection(Connection):
    """A Redis connection that, for ``RETRY_AFTER_SECONDS`` after one to the same server failed,
    raises ``ConnectionError`` at once instead of connecting or sending."""

    def connect_check_health(self, *args, **kwargs):
        _refuse_if_down(self)
        try:
            return super().connect_check_health(*args, **kwargs)
        except REDIS_UNAVAILABLE as error:
            _note(self, error)
            raise

    def send_packed_command(self, *args, **kwargs):
        _refuse_if_down(self)
        try:
            return super().send_packed_command(*args, **kwargs)
        except REDIS_UNAVAILABLE as error:
            _note(self, error)
            raise

    def read_response(self, *args, **kwargs):
        try:
            response = super().read_response(*args, **kwargs)
        except REDIS_UNAVAILABLE as error:
            _note(self, error)
            raise
        if _outage.end(_address(self)):
            logger.warning("Redis at %s:%s answers again.", self.host, self.port)
        return response


class AsyncFailFastConnection(AsyncConnection):
    """``FailFastConnection`` for ``redis.asyncio``."""

    async def connect_check_health(self, *args, **kwargs):
        _refuse_if_down(self)
        try:
            return await super().connect_check_health(*args, **kwargs)
        except REDIS_UNAVAILABLE as error:
            _note(self, error)
            raise

    async def send_packed_command(self, *args, **kwargs):
        _refuse_if_down(self)
        try:
            return await super().send_packed_command(*args, **kwargs)
        except REDIS_UNAVAILABLE as error:
            _note(self, error)
            raise

    async def read_response(self, *args, **kwargs):
        try:
            response = await super().read_response(*args, **kwargs)
        except REDIS_UNAVAILABLE as error:
            _note(self, error)
            raise
        if _outage.end(_address(self)):
            logger.warning("Redis at %s:%s answers again.", self.host, self.port)
        return response


def fail_fast(url: str, *, asynchronous: bool = False) -> dict:
    """The options that give a client for ``url`` connections that fail fast during an outage
    (plain TCP only: TLS and Unix-socket addresses keep redis-py's own connection classes)."""
    if not url.startswith("redis://"):
        return {}
    return {"connection_class": AsyncFailFastConnection if asynchronous else FailFastConnection}
