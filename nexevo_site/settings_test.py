"""Settings for the test suite: the ordinary settings with a fast password hasher and tasks run in-process.

DATABASE_URL and REDIS_URL still apply, so the same suite runs on SQLite and on PostgreSQL with Redis.
"""

import os

os.environ.setdefault("NEXEVO_ENV", "test")
os.environ.setdefault("SECRET_KEY", "test-suite-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")

from .settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests that need a real worker start one and switch this off themselves.
CELERY_TASK_ALWAYS_EAGER = True
if REDIS_URL:  # noqa: F405
    # Keep the suite's cache keys apart from a developer's running stack.
    CACHES["default"]["KEY_PREFIX"] = "nexevo-test"  # noqa: F405
