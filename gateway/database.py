"""PostgreSQL for the chat endpoint: the event loop's own connections, and waiting for the database
with a deadline.

``pool()`` is a small autocommit pool per event loop on Django's connection settings, for requests
that came in through gateway.asgi; ``in_thread()`` runs Django's ORM work with a deadline and
``Unavailable`` fails fast while the database is down. See gateway/ARCHITECTURE.md, "Fail fast".
"""

import asyncio
import contextlib
import logging
import threading
import time

import psycopg
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import InterfaceError, OperationalError, connections
from psycopg_pool import AsyncConnectionPool, PoolTimeout

logger = logging.getLogger(__name__)

# After a database error, how long requests are refused at once instead of trying again.
RETRY_SECONDS = 1.0

_pools: dict[asyncio.AbstractEventLoop, AsyncConnectionPool] = {}


class Unavailable(Exception):
    """The database did not answer within ``DATABASE_WAIT_SECONDS``, or failed a moment ago."""


def _database_name() -> str:
    """The database's own name for the messages ("PostgreSQL", "SQLite"): in_thread() serves the
    chat endpoint whatever the database, and a 503 on SQLite must not send its reader to PostgreSQL."""
    return connections["default"].display_name


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
            logger.warning(
                "%s is unreachable (%s); chat requests that need it answer 503.", _database_name(), error
            )

    def end(self) -> None:
        if not self._down:  # the usual case, without taking the lock
            return
        with self._lock:
            ended, self._down = self._down, False
        if ended:
            logger.warning("%s answers again.", _database_name())


_outage = _Outage()


def suspected() -> bool:
    """Whether the database failed in the last ``RETRY_SECONDS`` (then nothing waits for it)."""
    return _outage.suspected()


def failed(error: BaseException) -> None:
    """Notes that the database failed: a connection refused or broken. A timeout (a pool's wait, a
    slow connection attempt) is not noted: on a busy machine it may be load, and the waits that
    timed out bound the requests' time already."""
    if not _timed_out(error):
        _outage.record(error)


def _timed_out(error: BaseException | None) -> bool:
    while error is not None:
        if isinstance(error, PoolTimeout | psycopg.errors.ConnectionTimeout):
            return True
        error = error.__cause__
    return False


# When the database call under way in Django's thread (for a job of in_thread()) started, and what
# job it is for; None while none is under way.
_waiting_since: float | None = None
_waiting_for: object = None
# The most a request waits for its turn in Django's thread behind other work (load, not an outage).
QUEUE_MOST_SECONDS = 10.0
_POLL_SECONDS = 0.1


def _timed(execute, sql, params, many, context):
    """Django's execute wrapper for in_thread()'s jobs: notes while a statement waits."""
    global _waiting_since
    _waiting_since = time.monotonic()
    try:
        return execute(sql, params, many, context)
    finally:
        _waiting_since = None


async def in_thread(function, /, *args, **kwargs):
    """``function(*args, **kwargs)`` in Django's thread (``sync_to_async``), for work that reads or
    writes the database: ``Unavailable`` at once while the database is suspected down, or as soon as
    one database call (a connection, a statement) of this job or of one ahead of it has waited
    ``DATABASE_WAIT_SECONDS``. The time a job spends otherwise, and a queue of jobs that each move,
    is load, and is waited for (at most ``QUEUE_MOST_SECONDS``). What is given up on goes on in the
    thread; the request does not wait for it."""
    if suspected():
        raise Unavailable(f"{_database_name()} failed a moment ago.")

    def run():
        global _waiting_since, _waiting_for
        _waiting_for = function
        try:
            if suspected():  # it failed for a request queued ahead of this one
                raise Unavailable(f"{_database_name()} failed a moment ago.")
            database = connections["default"]
            if database.connection is None:
                # Until its first statement, the job may wait for a connection from the pool (which
                # checks it first: a silent network holds it there).
                _waiting_since = time.monotonic()
            with database.execute_wrapper(_timed):
                result = function(*args, **kwargs)
        except (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError) as error:
            # A connection refused or broken. Any other database error (a statement's own fault) is
            # the request's, not an outage: it goes up as it is and the next requests go on.
            failed(error)
            # The connection this thread keeps may be broken: the next job connects afresh.
            with contextlib.suppress(Exception):
                connections["default"].close()
            raise
        finally:
            _waiting_since = None
        _outage.end()
        return result

    wait = settings.DATABASE_WAIT_SECONDS
    give_up_at = time.monotonic() + QUEUE_MOST_SECONDS
    job = asyncio.ensure_future(sync_to_async(run)())
    try:
        while True:
            waiting_since, now = _waiting_since, time.monotonic()
            if waiting_since is not None and now - waiting_since >= wait:
                stuck = getattr(_waiting_for, "__qualname__", _waiting_for)
                raise Unavailable(f"{_database_name()} has not answered for {wait}s ({stuck} waits for it).")
            if now >= give_up_at:
                raise Unavailable(f"Django's thread has been busy for {QUEUE_MOST_SECONDS}s.")
            until = waiting_since + wait - now if waiting_since is not None else _POLL_SECONDS
            done, _pending = await asyncio.wait({job}, timeout=min(until, _POLL_SECONDS * 5))
            if done:
                return job.result()
    except BaseException:
        if not job.done():
            job.add_done_callback(_consume)  # it ends in the thread, unawaited
        raise


def _consume(job: asyncio.Future) -> None:
    if not job.cancelled():
        job.exception()


class _Connection(psycopg.AsyncConnection):
    """The recording pool's connections: a refused attempt to connect is noted (``failed()``)."""

    @classmethod
    async def connect(cls, *args, **kwargs):
        try:
            connection = await super().connect(*args, **kwargs)
        except psycopg.Error as error:
            failed(error)
            raise
        _outage.end()
        return connection


async def pool() -> AsyncConnectionPool:
    """The running loop's pool, opened on first use; ``Unavailable`` while the database is suspected
    down."""
    if suspected():
        raise Unavailable(f"{_database_name()} failed a moment ago.")
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
            # Under load a request may wait its turn for a connection (psycopg_pool's 30 s); a failed
            # connection attempt ends the waiting for the requests that come next (_Connection).
            reconnect_timeout=settings.DATABASE_RECONNECT_SECONDS,
            connection_class=_Connection,
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
