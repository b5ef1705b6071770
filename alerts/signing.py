"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

``webhook-signature`` is ``v1,`` and the base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` keyed
with the bytes of the ``whsec_`` secret. While a secret is being rotated the previous one signs too,
space-separated, so a receiver holding either secret verifies the delivery.
"""

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

SECRET_PREFIX = "whsec_"
# As long as apikeys' rotation promises: "the previous secret keeps signing for a day".
ROTATION_OVERLAP = timedelta(days=1)


def signature(secret: str, *, webhook_id: str, timestamp: int, body: str) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signing_secrets(api_key, *, now: datetime) -> list[str]:
    """The key's current secret, and the previous one within a day of a rotation."""
    secrets = [api_key.webhook_secret]
    rotated_at = api_key.webhook_secret_rotated_at
    if api_key.previous_webhook_secret and rotated_at and now - rotated_at < ROTATION_OVERLAP:
        secrets.append(api_key.previous_webhook_secret)
    return secrets


def headers(secrets: list[str], *, webhook_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret, webhook_id=webhook_id, timestamp=timestamp, body=body) for secret in secrets
        ),
    }
