"""Rate limits of the chat endpoint: requests and tokens per minute per key, and failed
authentication per client address.

Token buckets (a Redis hash per key, one Lua script; per process without Redis), leased a few
requests ahead under uvicorn as the caps are. How tokens are counted twice, what leasing trades and
the failed-authentication limit: gateway/ARCHITECTURE.md, "Rate limits".
"""

import asyncio
import dataclasses
import logging
import math
import threading

from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import RateLimited

from . import clock

logger = logging.getLogger(__name__)

RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
WINDOW_SECONDS = 60
LEASE_REQUESTS = 8
LEASE_SHARE = 64  # a lease asks for at least a 64th of the limit
IDLE_SECONDS = 1.0
MAX_SECONDS = 2.0


@dataclasses.dataclass(frozen=True)
class Limits:
    requests: int  # per minute
    tokens: int  # per minute


def limits_of(api_key, plan) -> Limits:
    """The key's own limits, each one it does not set taken from its organization's plan."""
    requests = api_key.requests_per_minute
    tokens = api_key.tokens_per_minute
    return Limits(
        requests=plan.requests_per_minute if requests is None else requests,
        tokens=plan.tokens_per_minute if tokens is None else tokens,
    )


def estimate_tokens(*, prompt_bytes: int, max_tokens: int | None) -> int:
    """What a request counts against its tokens limit until its usage is known (module docstring)."""
    return math.ceil(prompt_bytes / 4) + (max_tokens or 0)


# --- The buckets' arithmetic (the same in Lua below) -------------------------------------------------


def _refilled(used: float, limit: int, elapsed_seconds: float) -> float:
    return max(used - elapsed_seconds * limit / WINDOW_SECONDS, 0.0)


def _seconds_until(used: float, need: float, limit: int) -> float:
    """How long until ``need`` fits in a bucket of ``limit`` holding ``used``."""
    excess = used + need - limit
    if excess <= 0:
        return 0.0
    return excess * WINDOW_SECONDS / limit if limit > 0 else float(WINDOW_SECONDS)


def duration(seconds: float) -> str:
    """A duration as OpenAI's headers spell it (Go's): ``"20ms"``, ``"1s"``, ``"1.5s"``, ``"6m0s"``."""
    millis = max(math.ceil(seconds * 1000), 0)
    if millis < 1000:
        return f"{millis}ms"
    minutes, millis = divmod(millis, 60_000)
    whole, fraction = divmod(millis, 1000)
    text = f"{whole}" + (f".{fraction:03d}".rstrip("0") if fraction else "") + "s"
    return f"{minutes}m{text}" if minutes else text


@dataclasses.dataclass(frozen=True)
class State:
    """Where a key's buckets stand as seen by this request (after it was counted), for the headers."""

    limits: Limits
    used_requests: float
    used_tokens: float

    def headers(self) -> dict[str, str]:
        requests, tokens = self.limits.requests, self.limits.tokens
        return {
            "x-ratelimit-limit-requests": str(requests),
            "x-ratelimit-remaining-requests": str(max(requests - math.ceil(self.used_requests), 0)),
            "x-ratelimit-reset-requests": duration(_until_full(self.used_requests, requests)),
            "x-ratelimit-limit-tokens": str(tokens),
            "x-ratelimit-remaining-tokens": str(max(tokens - math.ceil(self.used_tokens), 0)),
            "x-ratelimit-reset-tokens": duration(_until_full(self.used_tokens, tokens)),
        }


def _until_full(used: float, limit: int) -> float:
    """How long until a bucket holding ``used`` is back to its whole limit."""
    if limit <= 0:
        return float(WINDOW_SECONDS)
    return max(used, 0.0) * WINDOW_SECONDS / limit


class RateLimitExceeded(RateLimited):
    """429 ``rate_limit_exceeded``; ``state`` (when known) gives the headers."""

    def __init__(self, message: str, *, retry_after: int, state: State | None = None, param=None):
        super().__init__(message, retry_after=retry_after, code=RATE_LIMIT_EXCEEDED)
        self.param = param
        self.state = state

    def headers(self) -> dict[str, str]:
        headers = self.state.headers() if self.state is not None else {}
        headers["Retry-After"] = str(self.retry_after)
        return headers


@dataclasses.dataclass
class Grant:
    """What an admitted request counts in its key's buckets, until ``settle`` or ``cancel``."""

    key_id: str
    key_hash: str
    limits: Limits
    tokens: int  # counted up front
    state: State
    # Where it was counted: "lease" (this process's lease, settled in memory), "redis" (settled with
    # a call) or "memory" (this process's buckets: without Redis, or while it did not answer).
    counted_in: str = "redis"
    done: bool = False


def _refusal(
    limits: Limits, used_requests: float, used_tokens: float, tokens: int, max_tokens
) -> RateLimitExceeded:
    state = State(limits, used_requests, used_tokens)
    if tokens > limits.tokens:
        return RateLimitExceeded(
            _(
                "This request counts %(tokens)d tokens (its prompt, at about 4 bytes a token, and its "
                "max_tokens), more than this key's limit of %(limit)d tokens per minute: it can never "
                "be served under that limit. Lower max_tokens or shorten the messages, or ask for a "
                "higher limit."
            )
            % {"tokens": tokens, "limit": limits.tokens},
            retry_after=WINDOW_SECONDS,
            state=state,
            param="max_tokens" if max_tokens else "messages",
        )
    wait = max(
        _seconds_until(used_requests, 1, limits.requests),
        _seconds_until(used_tokens, tokens, limits.tokens),
    )
    which = (
        _("requests per minute (%(limit)d)") % {"limit": limits.requests}
        if used_requests + 1 > limits.requests
        else _("tokens per minute (%(limit)d)") % {"limit": limits.tokens}
    )
    return RateLimitExceeded(
        _("This key has reached its rate limit of %(which)s. Try again in %(seconds)d seconds.")
        % {"which": which, "seconds": max(math.ceil(wait), 1)},
        retry_after=max(math.ceil(wait), 1),
        state=state,
    )


# --- Per process: without Redis, and while Redis does not answer -------------------------------------


class _MemoryBuckets:
    def __init__(self):
        self._buckets: dict[str, list[float]] = {}  # key id: [requests used, tokens used, at]
        self._lock = threading.Lock()

    def take(self, key_id: str, limits: Limits, tokens: int) -> tuple[bool, float, float]:
        """Counts one request of ``tokens`` if it fits: (admitted, requests used, tokens used)."""
        with self._lock:
            used_requests, used_tokens = self._level(key_id, limits)
            if used_requests + 1 > limits.requests or used_tokens + tokens > limits.tokens:
                return False, used_requests, used_tokens
            self._buckets[key_id] = [used_requests + 1, used_tokens + tokens, clock.now()]
            return True, used_requests + 1, used_tokens + tokens

    def give(self, key_id: str, limits: Limits, requests: float, tokens: float) -> None:
        """Takes ``requests`` and ``tokens`` off what is used (negative: adds them)."""
        with self._lock:
            used_requests, used_tokens = self._level(key_id, limits)
            self._buckets[key_id] = [
                max(used_requests - requests, 0.0),
                max(used_tokens - tokens, 0.0),
                clock.now(),
            ]
            if len(self._buckets) > 100_000:  # an idle bucket is empty: forget those
                self._forget_idle()

    def _level(self, key_id: str, limits: Limits) -> tuple[float, float]:
        bucket = self._buckets.get(key_id)
        if bucket is None:
            return 0.0, 0.0
        elapsed = clock.now() - bucket[2]
        return _refilled(bucket[0], limits.requests, elapsed), _refilled(bucket[1], limits.tokens, elapsed)

    def _forget_idle(self) -> None:
        now = clock.now()
        for key_id in [k for k, bucket in self._buckets.items() if now - bucket[2] > WINDOW_SECONDS]:
            del self._buckets[key_id]

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()


_memory = _MemoryBuckets()


# --- In Redis --------------------------------------------------------------------------------------

_BUCKET = "nexevo:rate:"
# KEYS[1] the key's bucket. ARGV: requests limit, tokens limit, the request's tokens, the extra
# requests and tokens to grant on top if there is room (a lease: at most half of the room left),
# tokens used beyond what was counted (added whatever the answer). Refills by the time elapsed on
# Redis's clock, then counts one request and its tokens if they fit. Answers {admitted, extra
# requests, extra tokens, requests used, tokens used}, the levels as strings (Lua's numbers would
# come back cut to integers).
_TAKE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local bucket = redis.call('HMGET', KEYS[1], 'r', 't', 'at')
local r, t = tonumber(bucket[1]) or 0, tonumber(bucket[2]) or 0
local elapsed = now - (tonumber(bucket[3]) or now)
if elapsed > 0 then
  r = math.max(r - elapsed * rpm / 60000, 0)
  t = math.max(t - elapsed * tpm / 60000, 0)
end
t = t + tonumber(ARGV[6])
local need = tonumber(ARGV[3])
if r + 1 > rpm or t + need > tpm then
  if tonumber(ARGV[6]) > 0 then
    redis.call('HSET', KEYS[1], 'r', tostring(r), 't', tostring(t), 'at', now)
    redis.call('PEXPIRE', KEYS[1], 120000)
  end
  return {0, 0, 0, tostring(r), tostring(t)}
end
local extra_r = math.max(math.min(tonumber(ARGV[4]), math.floor((rpm - r - 1) / 2)), 0)
local extra_t = math.max(math.min(tonumber(ARGV[5]), math.floor((tpm - t - need) / 2)), 0)
r = r + 1 + extra_r
t = t + need + extra_t
redis.call('HSET', KEYS[1], 'r', tostring(r), 't', tostring(t), 'at', now)
redis.call('PEXPIRE', KEYS[1], 120000)
return {1, extra_r, extra_t, tostring(r), tostring(t)}
"""
# KEYS[1] the key's bucket. ARGV: the limits, then requests and tokens to take off what is used
# (negative: to add), never below zero. Nothing to do for a bucket that is gone (it refilled).
_GIVE = """
local bucket = redis.call('HMGET', KEYS[1], 'r', 't', 'at')
if not bucket[3] then
  return 0
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local elapsed = math.max(now - tonumber(bucket[3]), 0)
local r = math.max(tonumber(bucket[1]) - elapsed * rpm / 60000 - tonumber(ARGV[3]), 0)
local t = math.max(tonumber(bucket[2]) - elapsed * tpm / 60000 - tonumber(ARGV[4]), 0)
redis.call('HSET', KEYS[1], 'r', tostring(r), 't', tostring(t), 'at', now)
redis.call('PEXPIRE', KEYS[1], 120000)
return 1
"""


def bucket_key(key_id: str) -> str:
    return _BUCKET + key_id


async def _redis_take(key_id, limits: Limits, tokens: int, *, extra_requests=0, extra_tokens=0, debt=0):
    from . import redis_clients

    answer = await redis_clients.for_running_loop().eval(
        _TAKE,
        1,
        bucket_key(key_id),
        limits.requests,
        limits.tokens,
        tokens,
        extra_requests,
        extra_tokens,
        debt,
    )
    admitted, granted_requests, granted_tokens, used_requests, used_tokens = answer
    return (
        bool(admitted),
        int(granted_requests),
        int(granted_tokens),
        float(used_requests),
        float(used_tokens),
    )


async def _redis_give(key_id: str, limits: Limits, requests: float, tokens: float) -> None:
    from redis.exceptions import RedisError

    from . import redis_clients

    try:
        await redis_clients.for_running_loop().eval(
            _GIVE, 1, bucket_key(key_id), limits.requests, limits.tokens, requests, tokens
        )
    except RedisError:
        # What is given back stays counted: the bucket refills by itself within the minute.
        logger.warning(
            "Could not give back %s requests and %s tokens to %s's rate limits.", requests, tokens, key_id
        )


# --- Leases (under uvicorn with Redis: where gateway.leases runs) ------------------------------------


@dataclasses.dataclass
class _Lease:
    key_hash: str
    limits: Limits
    free_requests: int
    free_tokens: int  # below zero: tokens used beyond what was counted, to add at the next call
    used_requests: float  # the bucket as Redis last answered (every lease in full)
    used_tokens: float
    seen_at: float
    granted_at: float
    used_at: float

    def state(self, now: float) -> State:
        """The bucket as this process sees it: Redis's last answer, refilled since, less this lease's
        unused part (the other processes' leases stay counted)."""
        elapsed = now - self.seen_at
        used_requests = _refilled(self.used_requests, self.limits.requests, elapsed) - self.free_requests
        used_tokens = _refilled(self.used_tokens, self.limits.tokens, elapsed) - max(self.free_tokens, 0)
        return State(self.limits, max(used_requests, 0.0), max(used_tokens, 0.0))


_leases: dict[str, _Lease] = {}  # by key id
_granting: dict[str, asyncio.Event] = {}  # key id: set once the grant on its way has landed


def _leasing() -> bool:
    from . import leases

    return leases.running()


def _spawn(coroutine) -> None:
    from . import leases

    leases.spawn(coroutine)


def _give_back(key_id: str, lease: _Lease) -> None:
    if lease.free_requests or lease.free_tokens:
        _spawn(_redis_give(key_id, lease.limits, lease.free_requests, lease.free_tokens))


def sweep(now: float | None = None) -> None:
    """Gives back the leases unused for ``IDLE_SECONDS`` or older than ``MAX_SECONDS`` (gateway.leases'
    sweeper calls it)."""
    now = clock.now() if now is None else now
    for key_id, lease in list(_leases.items()):
        if now - lease.used_at >= IDLE_SECONDS or now - lease.granted_at >= MAX_SECONDS:
            _give_back(key_id, _leases.pop(key_id))


def forget(key_hashes) -> None:
    """These keys were revoked or changed (their limits, maybe): their leases go back."""
    key_hashes = set(key_hashes)
    for key_id, lease in list(_leases.items()):
        if lease.key_hash in key_hashes:
            _give_back(key_id, _leases.pop(key_id))


def give_back_all() -> None:
    for key_id in list(_leases):
        _give_back(key_id, _leases.pop(key_id))


def held() -> dict[str, tuple[int, int]]:
    """What each lease holds, by key id (for tests)."""
    return {key_id: (lease.free_requests, lease.free_tokens) for key_id, lease in _leases.items()}


# --- Admitting and settling ------------------------------------------------------------------------


async def admit(api_key, limits: Limits, *, tokens: int, max_tokens: int | None = None) -> Grant:
    """Counts one request of ``tokens`` (estimated) against ``api_key``'s limits, or raises
    ``RateLimitExceeded``. From this process's lease when it can (no round trip), else one Redis
    call, else in memory."""
    if tokens > limits.tokens:
        raise _refusal(limits, 0.0, 0.0, tokens, max_tokens)
    key_id = api_key.pk
    if settings.REDIS_URL and _leasing():
        grant = _from_lease(api_key, limits, tokens)
        # Another request of the key is asking for a lease right now: wait for it (one round trip)
        # rather than ask for a second one beside it.
        if grant is None and (granting := _granting.get(key_id)) is not None:
            await granting.wait()
            grant = _from_lease(api_key, limits, tokens)
        if grant is not None:
            return grant
        return await _admit_leasing(api_key, limits, tokens, max_tokens, _leases.get(key_id))
    if settings.REDIS_URL:
        from redis.exceptions import RedisError

        try:
            admitted, _requests, _tokens, used_requests, used_tokens = await _redis_take(
                key_id, limits, tokens
            )
        except RedisError:
            logger.warning("Redis did not answer: rate limits are counted in this process meanwhile.")
        else:
            if not admitted:
                raise _refusal(limits, used_requests, used_tokens, tokens, max_tokens)
            return Grant(key_id, api_key.key_hash, limits, tokens, State(limits, used_requests, used_tokens))
    admitted, used_requests, used_tokens = _memory.take(key_id, limits, tokens)
    if not admitted:
        raise _refusal(limits, used_requests, used_tokens, tokens, max_tokens)
    return Grant(
        key_id,
        api_key.key_hash,
        limits,
        tokens,
        State(limits, used_requests, used_tokens),
        counted_in="memory",
    )


def _from_lease(api_key, limits: Limits, tokens: int) -> Grant | None:
    """The request counted in this process's lease on the key, if it has room."""
    lease = _leases.get(api_key.pk)
    if lease is None or lease.limits != limits or lease.free_requests < 1 or lease.free_tokens < tokens:
        return None
    now = clock.now()
    lease.free_requests -= 1
    lease.free_tokens -= tokens
    lease.used_at = now
    return Grant(api_key.pk, api_key.key_hash, limits, tokens, lease.state(now), counted_in="lease")


async def _admit_leasing(api_key, limits: Limits, tokens: int, max_tokens, lease: _Lease | None) -> Grant:
    """One call to Redis: this request, and a lease on top for the next ones if no other request of
    the key is asking for one (a lease holds at most ``LEASE_REQUESTS`` requests' worth, however many
    requests arrive at once)."""
    key_id = api_key.pk
    if lease is not None and lease.limits != limits:  # the limits changed: the old lease goes back
        _give_back(key_id, _leases.pop(key_id))
        lease = None
    granting = key_id not in _granting
    if not granting:
        return await _take_leasing(api_key, limits, tokens, max_tokens, lease, 0, 0)
    _granting[key_id] = asyncio.Event()
    try:
        held_requests = lease.free_requests if lease is not None else 0
        held_tokens = max(lease.free_tokens, 0) if lease is not None else 0
        extra_requests = max(max(LEASE_REQUESTS, limits.requests // LEASE_SHARE) - held_requests, 0)
        extra_tokens = max(max(LEASE_REQUESTS * tokens, limits.tokens // LEASE_SHARE) - held_tokens, 0)
        return await _take_leasing(api_key, limits, tokens, max_tokens, lease, extra_requests, extra_tokens)
    finally:
        _granting.pop(key_id).set()


async def _take_leasing(
    api_key, limits: Limits, tokens: int, max_tokens, lease: _Lease | None, extra_requests, extra_tokens
) -> Grant:
    from redis.exceptions import RedisError

    key_id = api_key.pk
    debt = 0
    if lease is not None and lease.free_tokens < 0:
        debt, lease.free_tokens = -lease.free_tokens, 0
    try:
        admitted, granted_requests, granted_tokens, used_requests, used_tokens = await _redis_take(
            key_id, limits, tokens, extra_requests=extra_requests, extra_tokens=extra_tokens, debt=debt
        )
    except RedisError:
        if lease is not None:
            lease.free_tokens -= debt
        logger.warning("Redis did not answer: rate limits are counted in this process meanwhile.")
        admitted, used_requests, used_tokens = _memory.take(key_id, limits, tokens)
        if not admitted:
            raise _refusal(limits, used_requests, used_tokens, tokens, max_tokens) from None
        return Grant(
            key_id,
            api_key.key_hash,
            limits,
            tokens,
            State(limits, used_requests, used_tokens),
            counted_in="memory",
        )
    now = clock.now()
    lease = _leases.get(key_id)  # what other requests of this key did meanwhile
    if lease is None or lease.limits != limits:
        if lease is not None:
            _give_back(key_id, _leases.pop(key_id))
        lease = _leases[key_id] = _Lease(api_key.key_hash, limits, 0, 0, 0.0, 0.0, now, now, now)
    lease.free_requests += granted_requests
    lease.free_tokens += granted_tokens
    lease.used_requests, lease.used_tokens, lease.seen_at, lease.used_at = (
        used_requests,
        used_tokens,
        now,
        now,
    )
    if not admitted:
        # Grants made meanwhile for this process's other requests may have room for this one.
        if lease.free_requests >= 1 and lease.free_tokens >= tokens:
            lease.free_requests -= 1
            lease.free_tokens -= tokens
            return Grant(key_id, api_key.key_hash, limits, tokens, lease.state(now), counted_in="lease")
        raise _refusal(limits, used_requests, used_tokens, tokens, max_tokens)
    return Grant(key_id, api_key.key_hash, limits, tokens, lease.state(now), counted_in="lease")


async def settle(grant: Grant, *, tokens: int) -> None:
    """The request's usage is known: ``tokens`` replace its estimate (0 for a request that failed)."""
    await _correct(grant, requests=0, tokens=grant.tokens - tokens)


async def cancel(grant: Grant) -> None:
    """The request was refused after it was counted (its spend cap): it counts for nothing, and its
    ``state`` says so."""
    state = grant.state
    grant.state = State(state.limits, state.used_requests - 1, state.used_tokens - grant.tokens)
    await _correct(grant, requests=1, tokens=grant.tokens)


async def _correct(grant: Grant, *, requests: int, tokens: int) -> None:
    """Takes ``requests`` and ``tokens`` off what ``grant`` counted (negative tokens: adds them), once."""
    if grant.done:
        return
    grant.done = True
    if not requests and not tokens:
        return
    if grant.counted_in == "lease":
        lease = _leases.get(grant.key_id)
        if lease is not None and lease.limits == grant.limits:
            lease.free_requests += requests
            lease.free_tokens += tokens
            return
        _spawn(_redis_give(grant.key_id, grant.limits, requests, tokens))
    elif grant.counted_in == "memory":
        _memory.give(grant.key_id, grant.limits, requests, tokens)
    else:
        await _redis_give(grant.key_id, grant.limits, requests, tokens)


# --- Failed authentication per client address --------------------------------------------------------

_FAILURES = "nexevo:auth-failures:"
# KEYS[1] the address's counter. Counts one failure; the window starts with the first. Answers the
# count and the milliseconds left of the window.
_FAIL = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {count, left}
"""

_blocked: dict[str, float] = {}  # address: until (monotonic), as this process has seen it
_failures: dict[str, list[float]] = {}  # without Redis: address: [count, window ends]
_failures_lock = threading.Lock()


def auth_failure_limit() -> int:
    return settings.NEXEVO_CHAT_AUTH_FAILURES_PER_MINUTE


def any_address_blocked() -> bool:
    """Whether this process knows of any address over its limit (if not, nobody's is read)."""
    return bool(_blocked)


def address_blocked(address: str | None) -> RateLimitExceeded | None:
    """The refusal for an address over its failed-authentication limit, as this process knows it."""
    if not _blocked or address is None:
        return None
    until = _blocked.get(address)
    if until is None:
        return None
    left = until - clock.now()
    if left <= 0:
        del _blocked[address]
        return None
    return _too_many_failures(left)


def _too_many_failures(seconds: float) -> RateLimitExceeded:
    retry = max(math.ceil(seconds), 1)
    return RateLimitExceeded(
        _(
            "Too many requests with an invalid API key came from this address. Try again in "
            "%(seconds)d seconds with a valid key."
        )
        % {"seconds": retry},
        retry_after=retry,
    )


async def authentication_failed(address: str | None) -> RateLimitExceeded | None:
    """Counts a failed authentication from ``address``; the refusal once it is over the limit."""
    if address is None:
        return None
    limit = auth_failure_limit()
    count, left = None, WINDOW_SECONDS
    if settings.REDIS_URL:
        from redis.exceptions import RedisError

        from . import redis_clients

        try:
            count, left_ms = await redis_clients.for_running_loop().eval(
                _FAIL, 1, _FAILURES + address, WINDOW_SECONDS * 1000
            )
            left = int(left_ms) / 1000
        except RedisError:
            logger.warning(
                "Redis did not answer: failed authentications are counted in this process meanwhile."
            )
    if count is None:
        count, left = _count_failure_in_memory(address)
    if count <= limit:
        return None
    if len(_blocked) > 100_000:
        _blocked.clear()
    _blocked[address] = clock.now() + left
    return _too_many_failures(left)


def _count_failure_in_memory(address: str) -> tuple[int, float]:
    now = clock.now()
    with _failures_lock:
        entry = _failures.get(address)
        if entry is None or entry[1] <= now:
            if len(_failures) > 100_000:
                _failures.clear()
            entry = _failures[address] = [0, now + WINDOW_SECONDS]
        entry[0] += 1
        return int(entry[0]), entry[1] - now


def reset() -> None:
    """Forgets everything this process counted and leased (for tests)."""
    _memory.clear()
    _leases.clear()
    _granting.clear()
    _blocked.clear()
    with _failures_lock:
        _failures.clear()
