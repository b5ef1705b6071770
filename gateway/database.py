"""PostgreSQL for the chat endpoint: the event loop's own connections, and waiting for the database
with a deadline.

Django's ORM runs in a thread; the endpoint's one statement per request (gateway.recording) runs here
instead, on the event loop, so it costs a round trip and no hop to a thread. The connections use
Django's own connection settings, in autocommit mode, from a small pool per event loop (a connection
cannot cross loops). Only requests that come in through gateway.asgi use it: a request through
Django (the test client) may be inside a transaction of Django's, which only Django's connection sees.

While PostgreSQL is unreachable the endpoint fails fast rather than queueing: ``in_thread()`` waits
for the ORM's thread at most ``DATABASE_WAIT_SECONDS`` (a cold snapshot load, a refusal's log line),
and after a database error ``Unavailable`` is raised at once for ``RETRY_SECONDS``, so requests
queued behind the one that found the database down do not each wait in turn. gateway.asgi answers
``Unavailable`` and any database error with a 503 and ``Retry-After``. The pools give up a
reconnection after ``DATABASE_RECONNECT_SECONDS`` and start again when a request needs one, so
service resumes by itself shortly after the database returns.
"""

import asyncio
import contextlib
import logging
import threading
import time

import psycopg
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, connections
from psycopg_pool import AsyncConnectionPool

logger = logging.getLogger(__name__)

# After a database error, how long requests are refused at once instead of trying again.
RETRY_SECONDS = 1.0

_pools: dict[asyncio.AbstractEventLoop, AsyncConnectionPool] = {}


class Unavailable(Exception):
    """PostgreSQL did not answer within ``DATABASE_WAIT_SECONDS``, or failed a moment ago."""


class _Outage:
    """When the database last failed, for this process's threads and event loops."""

    def __init__(self):
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._down = False

    def suspected(self) -> bool:
        return time.monotonic() < self._down_until

    def record(self, error: BaseException) -> None:
        with self._lock:
            self._down_until = time.monotonic() + RETRY_SECONDS
            started, self._down = not self._down, True
        if started:
            logger.warning("PostgreSQL is unreachable (%s); chat requests that need it answer 503.", error)

    def end(self) -> None:
        if not self._down:  # the usual case, without taking the lock
            return
        with self._lock:
            ended, self._down = self._down, False
        if ended:
            logger.warning("PostgreSQL answers again.")


_outage = _Outage()


def suspected() -> bool:
    """Whether the database failed in the last ``RETRY_SECONDS`` (then nothing waits for it)."""
    return _outage.suspected()


def failed(error: BaseException) -> None:
    """Notes that the database failed (a connection refused, a pool's wait run out)."""
    _outage.record(error)


async def in_thread(function, /, *args, **kwargs):
    """``function(*args, **kwargs)`` in Django's thread (``sync_to_async``), for work that reads or
    writes the database: ``Unavailable`` at once while the database is suspected down, or once it has
    not finished within ``DATABASE_WAIT_SECONDS``. What times out goes on in the thread; the request
    does not wait for it."""
    if suspected():
        raise Unavailable("PostgreSQL failed a moment ago.")

    def run():
        if suspected():  # it failed for a request queued ahead of this one
            raise Unavailable("PostgreSQL failed a moment ago.")
        try:
            result = function(*args, **kwargs)
        except (DatabaseError, psycopg.Error) as error:
            failed(error)
            # The connection this thread keeps may be broken: the next job connects afresh.
            with contextlib.suppress(Exception):
                connections["default"].close()
            raise
        _outage.end()
        return result

    try:
        async with asyncio.timeout(settings.DATABASE_WAIT_SECONDS):
            return await sync_to_async(run)()
    except TimeoutError:
        raise Unavailable(f"PostgreSQL did not answer within {settings.DATABASE_WAIT_SECONDS}s.") from None


async def pool() -> AsyncConnectionPool:
    """The running loop's pool, opened on first use; ``Unavailable`` while the database is suspected
    down."""
    if suspected():
        raise Unavailable("PostgreSQL failed a moment ago.")
    loop = asyncio.get_running_loop()
    found = _pools.get(loop)
    if found is None:
        for old in [other for other in _pools if other.is_closed()]:
            del _pools[old]
        parameters = connections["default"].get_connection_params()
        # Django's own adaptations are left out (plain psycopg here), and so is its refusal of
        # prepared statements: the same few statements run on every request.
        for name in ("cursor_factory", "context", "prepare_threshold"):
            parameters.pop(name, None)
        found = AsyncConnectionPool(
            kwargs={**parameters, "autocommit": True},
            min_size=1,
            max_size=settings.NEXEVO_RECORDING_CONNECTIONS,
            timeout=settings.DATABASE_WAIT_SECONDS,
            reconnect_timeout=settings.DATABASE_RECONNECT_SECONDS,
            open=False,
        )
        _pools[loop] = found
    if found.closed:
        await found.open()  # opening an open pool does nothing
    return found


async def close() -> None:
    """Closes the running loop's pool, if it has one (at the server's shutdown)."""
    found = _pools.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.close()
