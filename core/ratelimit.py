"""A fixed-window attempt counter in the cache, for attempts that Django and allauth do not limit.

With Redis configured the counter is shared by every process; without it, by the threads of one.
"""

from django.core.cache import cache


def attempt_allowed(scope: str, key: str, *, limit: int, window_seconds: int) -> bool:
    """Counts one attempt and says whether it is within ``limit`` attempts per window."""
    cache_key = f"ratelimit:{scope}:{key}"
    cache.add(cache_key, 0, timeout=window_seconds)
    try:
        attempts = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=window_seconds)
        attempts = 1
    return attempts <= limit


def attempts_reset(scope: str, key: str) -> None:
    cache.delete(f"ratelimit:{scope}:{key}")
