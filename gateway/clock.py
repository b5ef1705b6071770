"""The gateway's clock for elapsed time: how old a snapshot, a lease or a rate-limit bucket is.

Modules read it as ``clock.now()`` at the moment they need it (never ``from .clock import now``), so
that a test moves time forward with the ``clock`` fixture (tests/gateway/conftest.py) instead of
sleeping. Wall-clock time (months, timestamps) is ``django.utils.timezone.now()``, not this.
"""

import time

now = time.monotonic
