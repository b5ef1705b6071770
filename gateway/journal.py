"""The usage journal: answer first, then charge, and write the usage in batches beside the web server.

With ``NEXEVO_USAGE_JOURNAL`` on, a completed request that came in through gateway.asgi is answered,
then one Redis call (``_APPEND``) journals its charge on the stream ``nexevo:usage``; the recorder
(``manage.py recordusage``) writes batches through billing.charges. What it promises and trades:
gateway/ARCHITECTURE.md ("Usage journal")."""

import json
import logging
import time

from django.conf import settings
from redis.exceptions import RedisError, ResponseError

from . import redis_clients
from .spend_counters import holder_ops_key, holdings_key, settle_script

logger = logging.getLogger(__name__)

STREAM = "nexevo:usage"
UNWRITTEN = "nexevo:usage:unwritten"
GROUP = "recorders"
BATCH = 500
# How long the recorder lets a batch gather after a small one: what the database lags the answers by.
GATHER_SECONDS = 0.05
# A recorder that took entries and said nothing for this long is taken to have stopped.
CLAIM_IDLE_MS = 60_000
_UNRECORDED = "nexevo:unrecorded:"
# How long a not-written marker lives if nobody drops it (the recorder drops it once written).
UNRECORDED_SECONDS = 24 * 3600

# KEYS[1] the journal, KEYS[2] the generation's not-written marker, KEYS[3..5] (optional) the key's
# spend counter and the holdings and recent settlements of the process that holds on it. ARGV: the
# entry, the marker's lifetime, then what comes off the holdings, what is spent (in micro-dollars) and
# the settlement's id, as gateway.spend_counters' _SETTLE: the spend is counted in the same step as the
# charge, so a process killed after it leaves no spent hold to be given back.
_APPEND = (
    """
redis.call('XADD', KEYS[1], '*', 'entry', ARGV[1])
redis.call('SET', KEYS[2], 1, 'EX', ARGV[2])
if KEYS[3] then
"""
    + settle_script(
        counter="KEYS[3]", holdings="KEYS[4]", ops="KEYS[5]", release="ARGV[3]", spend="ARGV[4]", op="ARGV[5]"
    )
    + """
end
return 1
"""
)


def enabled() -> bool:
    return bool(settings.NEXEVO_USAGE_JOURNAL and settings.REDIS_URL)


async def asend(entry: dict, *, settlement: tuple[str, str, int, int, str] | None):
    """Sends the journaling of ``entry``, with its not-written marker and the hold's settlement
    (``settlement``: the counter, the holder, what is released, what is spent and the settlement's
    id, from gateway.admission.settlement, or None; if the reply does not come, the settlement is
    sent again by gateway.leases until it lands, and made once), in one call from the event loop,
    and returns once it is written to Redis's connection; the returned ``confirm()`` reads the
    reply. Called once the answer is out (gateway.api): a ``RedisError`` from ``asend`` means nothing
    reached Redis, one from ``confirm()`` that it may have."""
    keys = [STREAM, unrecorded_key(entry["generation"])]
    release = spend = 0
    op = ""
    if settlement is not None:
        counter, holder, release, spend, op = settlement
        keys += [counter, holdings_key(holder), holder_ops_key(holder)]
    arguments = [json.dumps(entry, separators=(",", ":")), UNRECORDED_SECONDS, release, spend, op]
    pool = redis_clients.for_running_loop().connection_pool
    connection = await pool.get_connection()
    try:
        await connection.send_command("EVAL", _APPEND, len(keys), *keys, *arguments)
    except BaseException:
        await connection.disconnect()
        await pool.release(connection)
        raise

    async def confirm() -> None:
        try:
            await connection.read_response()
        except BaseException:
            await connection.disconnect()
            if settlement is not None:  # it may not have been made: again, until it lands, once
                from . import leases

                counter, holder, release, spend, op = settlement
                leases.settle_later(counter, holder, release=release, spend=spend, op=op)
            raise
        finally:
            await pool.release(connection)

    return confirm


def unrecorded_key(generation_id: str) -> str:
    """The marker set with the entry (``asend``), deleted once written."""
    return _UNRECORDED + generation_id


def unrecorded(generation_id: str) -> bool:
    """Whether this generation was answered and is not written yet (False without the journal, or
    when Redis cannot say)."""
    if not enabled():
        return False
    try:
        return bool(_client().exists(unrecorded_key(generation_id)))
    except RedisError:
        return False


# --- The recorder's side (in a process with Django's database connection) ---------------------------


def _client():
    return redis_clients.blocking()


def ensure_group() -> None:
    try:
        _client().xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def drain(*, consumer: str, count: int = BATCH, block_ms: int | None = None, own=False) -> int:
    """Writes the next batch of new entries; waits up to ``block_ms`` for one when there is none.
    With ``own``, the entries this consumer took and did not finish instead (after a failure).
    Returns how many entries it settled (written now, or found written)."""
    start = "0" if own else ">"
    response = _client().xreadgroup(GROUP, consumer, {STREAM: start}, count=count, block=block_ms)
    if not response:
        return 0
    return _write(response[0][1])


def reclaim(*, consumer: str, idle_ms: int = CLAIM_IDLE_MS, count: int = BATCH) -> int:
    """Takes over and writes entries another recorder took and did not acknowledge for ``idle_ms``."""
    settled, start = 0, "0-0"
    while True:
        start, messages, *_deleted = _client().xautoclaim(
            STREAM, GROUP, consumer, min_idle_time=idle_ms, start_id=start, count=count
        )
        if messages:
            settled += _write(messages)
        if start in (b"0-0", "0-0"):
            return settled


def drain_all(*, consumer: str, seconds: float | None = None) -> int:
    """Everything in the journal now, written (the beat task's sweep, and the tests' wait); with
    ``seconds``, no longer than that (under steady traffic the journal is never empty for long)."""
    ensure_group()
    deadline = None if seconds is None else time.monotonic() + seconds
    settled = reclaim(consumer=consumer)
    while (deadline is None or time.monotonic() < deadline) and (written := drain(consumer=consumer)):
        settled += written
    return settled


def retry_unwritten() -> int:
    """Puts the entries set aside as unwritable back in the journal; returns how many."""
    client = _client()
    moved = 0
    for message_id, fields in client.xrange(UNWRITTEN):
        with client.pipeline() as pipe:
            pipe.xadd(STREAM, fields)  # as it was: one that is not an entry is set aside again
            pipe.xdel(UNWRITTEN, message_id)
            pipe.execute()
        moved += 1
    return moved


def _write(messages) -> int:
    from . import recording

    gone = [message_id for message_id, fields in messages if not fields]  # deleted while pending
    if gone:
        _client().xack(STREAM, GROUP, *gone)
    present = {message_id: fields for message_id, fields in messages if fields}
    entries = {message_id: _entry(fields) for message_id, fields in present.items()}
    readable = [entry for entry in entries.values() if entry is not None]
    settled, failed = recording.write_journaled(readable) if readable else ([], [])
    failed = set(failed)
    with _client().pipeline() as pipe:
        for message_id, entry in entries.items():
            if entry is None or entry["generation"] in failed:
                logger.error("Set aside journal entry %s, which could not be written: %s", message_id, entry)
                pipe.xadd(UNWRITTEN, present[message_id])  # as it came
            if entry is not None:
                pipe.delete(unrecorded_key(entry["generation"]))
        if present:
            pipe.xack(STREAM, GROUP, *present)
            pipe.xdel(STREAM, *present)
        pipe.execute()
    return len(settled)


def _entry(fields) -> dict | None:
    """The usage a journal message holds, or None when it holds none."""
    try:
        entry = json.loads(fields[b"entry"])
    except (KeyError, ValueError):
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("generation"), str) else None
