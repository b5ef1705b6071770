"""PostgreSQL connections of the event loop's own, for what the chat endpoint writes on every request.

Django's ORM runs in a thread; the endpoint's one statement per request (gateway.recording) runs here
instead, on the event loop, so it costs a round trip and no hop to a thread. The connections use
Django's own connection settings, in autocommit mode, from a small pool per event loop (a connection
cannot cross loops). Only requests that come in through gateway.asgi use it: a request through
Django (the test client) may be inside a transaction of Django's, which only Django's connection sees.
"""

import asyncio

from django.conf import settings
from django.db import connections
from psycopg_pool import AsyncConnectionPool

_pools: dict[asyncio.AbstractEventLoop, AsyncConnectionPool] = {}


async def pool() -> AsyncConnectionPool:
    """The running loop's pool, opened on first use."""
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
