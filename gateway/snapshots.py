"""What the chat endpoint reads on every request, kept in this process for a moment.

The key, the catalog, the billing account, the organization's provider keys and the router's
ratings, each kept for ``NEXEVO_HOT_CACHE_SECONDS`` (0 turns this off), dropped by a change in this
process (``watch``, ``invalidate``), read without the database inside ``memory_only()`` (a cold one
raises ``Miss``), refreshed ahead of their end and kept warm under uvicorn (``keep_warm``). What they
promise: gateway/ARCHITECTURE.md, "Snapshots".
"""

import asyncio
import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from . import clock

logger = logging.getLogger(__name__)

# The share of a snapshot's lifetime, at its end, in which reading it inside ``memory_only()`` loads
# it again in the background.
REFRESH_AHEAD = 0.25

_entries: dict[Any, tuple[float, float, Any]] = {}  # name: (loaded at, expires at, value)
_generation = 0
_lock = threading.Lock()
_memory_only = contextvars.ContextVar("snapshots_memory_only", default=False)
_refreshing: dict[Any, asyncio.Task] = {}
KEEP_WARM_SECONDS = 10.0
KEEP_WARM_INTERVAL = 0.25
KEEP_WARM_MOST = 256  # the most recently read, so that a crowd of keys does not keep the thread busy
_read: dict[Any, tuple[Callable[[], Any], float | None, float]] = {}  # name: (loader, seconds, read at)
_keeping = False  # keep_warm() runs: only then are reads noted in _read


class Miss(Exception):
    """A snapshot is needed that is not here (raised only inside ``memory_only()``)."""


@contextlib.contextmanager
def memory_only():
    token = _memory_only.set(True)
    try:
        yield
    finally:
        _memory_only.reset(token)


def get(name, loader: Callable[[], Any], *, seconds: float | None = None):
    """The snapshot called ``name``, loaded with ``loader()`` when missing or older than ``seconds``
    (``NEXEVO_HOT_CACHE_SECONDS`` by default)."""
    entry = _entries.get(name)
    now = clock.now()
    if entry is not None and entry[1] > now:
        if _memory_only.get():
            if _keeping:
                _read[name] = (loader, seconds, now)
            if _near_end(entry, now):
                _refresh(name, loader, seconds)
        return entry[2]
    if _memory_only.get():
        raise Miss(name)
    generation = _generation
    value = loader()
    put(name, value, seconds=seconds, generation=generation)
    return value


def _near_end(entry: tuple[float, float, Any], now: float) -> bool:
    loaded, expires, _value = entry
    return expires - now < (expires - loaded) * REFRESH_AHEAD


def _refresh(name, loader: Callable[[], Any], seconds: float | None) -> None:
    """Loads ``name`` again in Django's thread, once at a time, without waiting for it."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    running = _refreshing.get(name)
    if running is not None and not running.done() and running.get_loop() is loop:
        return
    from . import database

    def load() -> None:
        generation = _generation
        put(name, loader(), seconds=seconds, generation=generation)

    async def refresh() -> None:
        try:
            # While the database is down a refresh fails at once (and the snapshot kept serves until
            # it expires); it never waits longer than a request would.
            await database.in_thread(load)
        except Exception as error:  # the snapshot kept serves until it expires; then a request loads it
            logger.info("Could not refresh the snapshot %r (%r); it is no longer kept warm.", name, error)
            _read.pop(name, None)  # a key revoked meanwhile, say: the next request will say so
        finally:
            if _refreshing.get(name) is asyncio.current_task():
                del _refreshing[name]

    _refreshing[name] = loop.create_task(refresh())


async def keep_warm() -> None:
    """Loads again, before they expire, the snapshots the endpoint read in the last
    ``KEEP_WARM_SECONDS`` (and those a change dropped meanwhile), until cancelled."""
    global _keeping
    _keeping = True
    try:
        await _keep_warm()
    finally:
        _keeping = False
        _read.clear()


async def _keep_warm() -> None:
    while True:
        await asyncio.sleep(KEEP_WARM_INTERVAL)
        now = clock.now()
        recent = sorted(_read.items(), key=lambda item: item[1][2], reverse=True)
        for name, _kept in recent[KEEP_WARM_MOST:]:
            del _read[name]
        for name, (loader, seconds, read_at) in recent[:KEEP_WARM_MOST]:
            if now - read_at > KEEP_WARM_SECONDS:
                del _read[name]
                continue
            entry = _entries.get(name)
            if entry is None or _near_end(entry, now):
                _refresh(name, loader, seconds)


def peek(name):
    """The snapshot if it is fresh, else None; never loads."""
    entry = _entries.get(name)
    return entry[2] if entry is not None and entry[1] > clock.now() else None


def generation() -> int:
    """How many clears there have been: read it before a load and pass it to ``put()``, so that a
    value read before a change is not kept."""
    return _generation


def put(name, value, *, seconds: float | None = None, generation: int | None = None) -> None:
    """Keeps ``value``, unless a clear happened since ``generation`` (when the value was read): a
    value read before a change must not outlive the change."""
    seconds = settings.NEXEVO_HOT_CACHE_SECONDS if seconds is None else seconds
    if seconds <= 0:
        return
    with _lock:
        if generation is not None and generation != _generation:
            return
        now = clock.now()
        _entries[name] = (now, now + seconds, value)


def update(name, change: Callable[[Any], Any]) -> None:
    """Replaces what is kept under ``name`` (if anything) with ``change(it)``, keeping its expiry."""
    with _lock:
        entry = _entries.get(name)
        if entry is not None:
            _entries[name] = (entry[0], entry[1], change(entry[2]))


def drop(name) -> None:
    with _lock:
        _entries.pop(name, None)


def invalidate(names) -> None:
    """Drops ``names`` and keeps nothing read before now: a load that started earlier (a refresh in
    the background, a cold request in a thread) does not put back what it read."""
    global _generation
    with _lock:
        _generation += 1
        for name in names:
            _entries.pop(name, None)


def clear() -> None:
    global _generation
    with _lock:
        _generation += 1
        _entries.clear()


def clear_now_and_at_commit() -> None:
    clear()
    transaction.on_commit(clear)


_affected: dict[type, Callable[[Any], list] | None] = {}  # model: the names a change of one drops


def _on_change(sender, instance, **kwargs) -> None:
    affected = _affected.get(sender)
    if affected is None:
        clear_now_and_at_commit()
        return
    names = affected(instance)
    invalidate(names)
    transaction.on_commit(lambda: invalidate(names))


def watch(model, affected: Callable[[Any], list] | None = None) -> None:
    """Whenever ``model`` is saved or deleted in this process, drops the snapshots
    ``affected(instance)`` names (every snapshot without ``affected``), now and again at the commit."""
    _affected[model] = affected
    post_save.connect(_on_change, sender=model, dispatch_uid=f"snapshots-save-{model._meta.label}")
    post_delete.connect(_on_change, sender=model, dispatch_uid=f"snapshots-delete-{model._meta.label}")
