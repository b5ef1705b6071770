"""Secrets the console must read back (provider API keys): encrypted at rest with Fernet.

The key comes from ``NEXEVO_ENCRYPTION_KEY`` (a Fernet key: 32 url-safe base64 bytes), required in
production; elsewhere one is derived from SECRET_KEY so that development needs no set-up. Rotating:
list the new key first and the old ones after, comma-separated; reading tries each, writing uses the
first.
"""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@cache
def _fernet() -> MultiFernet:
    keys = settings.NEXEVO_ENCRYPTION_KEYS or [
        base64.urlsafe_b64encode(
            hashlib.sha256(("nexevo-encryption:" + settings.SECRET_KEY).encode()).digest()
        ).decode()
    ]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Raises ``ValueError`` for a token no configured key can read."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("This secret was encrypted with a key the console no longer has.") from None
