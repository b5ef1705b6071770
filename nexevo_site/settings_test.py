"""Settings for the test suite: the ordinary settings with a fast password hasher and tasks run in-process.

DATABASE_URL and REDIS_URL still apply, so the same suite runs on SQLite and on PostgreSQL with Redis.
"""

import os

os.environ.setdefault("NEXEVO_ENV", "test")
os.environ.setdefault("SECRET_KEY", "test-suite-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")


def _redis_url_of_this_worker(url: str, worker: str) -> str:
    """Under pytest-xdist (``bin/test -n 2``) each worker gets a Redis database of its own, counting
    down from REDIS_URL's: every test clears the cache, and a cleared database is cleared for all."""
    from urllib.parse import urlparse

    parts = urlparse(url)
    base = int(parts.path.strip("/") or 0)
    number = base - int(worker.removeprefix("gw"))
    if number < 0:
        raise RuntimeError(f"REDIS_URL's database {base} leaves too few below it for worker {worker}")
    return parts._replace(path=f"/{number}").geturl()


# Only in the worker itself: the processes a test starts inherit both variables and keep the
# REDIS_URL they are given.
if (
    os.environ.get("REDIS_URL")
    and os.environ.get("PYTEST_XDIST_WORKER")
    and "NEXEVO_SUITE_REDIS_URL" not in os.environ
):
    os.environ["NEXEVO_SUITE_REDIS_URL"] = os.environ["REDIS_URL"]
    os.environ["REDIS_URL"] = _redis_url_of_this_worker(
        os.environ["REDIS_URL"], os.environ["PYTEST_XDIST_WORKER"]
    )

from .settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests that need a real worker start one and switch this off themselves.
CELERY_TASK_ALWAYS_EAGER = True
if REDIS_URL:  # noqa: F405
    # Keep the suite's cache keys apart from a developer's running stack.
    CACHES["default"]["KEY_PREFIX"] = "nexevo-test"  # noqa: F405
