from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote


def _id(value: str) -> str:
    """An id as one URL path segment, whatever it contains."""
    return quote(str(value), safe="")


if TYPE_CHECKING:
    from .._client import Nexevo

_UNSET: Any = object()


class Keys:
    """API keys of the organization the calling key belongs to: `client.keys`."""

    def __init__(self, client: Nexevo) -> None:
        self._client = client

    def create(
        self,
        *,
        name: str,
        monthly_spend_cap_usd: str | None = None,
        alert_webhook_url: str | None = None,
        routing_policy: str = "any",
        alert_thresholds_pct: list[int] | None = None,
        expires_at: str | None = None,
    ) -> dict[str, Any]:
        """Create a key: `{"full_key": ..., "key": {...}}`. The full key is never shown again."""
        body: dict[str, Any] = {"name": name, "routing_policy": routing_policy}
        optional = {
            "monthly_spend_cap_usd": monthly_spend_cap_usd,
            "alert_webhook_url": alert_webhook_url,
            "alert_thresholds_pct": alert_thresholds_pct,
            "expires_at": expires_at,
        }
        body.update({field: value for field, value in optional.items() if value is not None})
        return self._client._request("POST", "/v1/keys", json=body, idempotent=True)

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> dict[str, Any]:
        return self._client._request("GET", "/v1/keys", params={"limit": limit, "cursor": cursor})

    def get(self, key_id: str) -> dict[str, Any]:
        return self._client._request("GET", f"/v1/keys/{_id(key_id)}")

    def update(
        self,
        key_id: str,
        *,
        name: str = _UNSET,
        alert_thresholds_pct: list[int] = _UNSET,
        expires_at: str | None = _UNSET,
    ) -> dict[str, Any]:
        """Rename, or change the alert thresholds or expiry; only the arguments given change."""
        given = {"name": name, "alert_thresholds_pct": alert_thresholds_pct, "expires_at": expires_at}
        body = {field: value for field, value in given.items() if value is not _UNSET}
        return self._client._request("PATCH", f"/v1/keys/{_id(key_id)}", json=body)

    def revoke(self, key_id: str) -> dict[str, Any]:
        """Revoke a key; it stops working at once."""
        return self._client._request("POST", f"/v1/keys/{_id(key_id)}/revoke")

    def update_spend_cap(
        self, key_id: str, monthly_spend_cap_usd: str | None = None, clear: bool = False
    ) -> dict[str, Any]:
        """Set the monthly cap as a decimal string (`"100"` → `"100.00"`), or `clear=True` to remove it."""
        body: dict[str, Any] = {"clear": clear}
        if monthly_spend_cap_usd is not None:
            body["monthly_spend_cap_usd"] = monthly_spend_cap_usd
        return self._client._request("POST", f"/v1/keys/{_id(key_id)}/spend-cap", json=body)

    def update_alert_webhook(self, key_id: str, url: str | None = None) -> dict[str, Any]:
        """Set the HTTPS alert webhook (`None` clears it); the answer includes `webhook_secret`."""
        return self._client._request("POST", f"/v1/keys/{_id(key_id)}/alert-webhook", json={"url": url})

    def rotate_webhook_secret(self, key_id: str) -> dict[str, Any]:
        return self._client._request("POST", f"/v1/keys/{_id(key_id)}/webhook-secret/rotate")

    def update_routing_policy(self, key_id: str, routing_policy: str) -> dict[str, Any]:
        """`"cn-only"`, `"overseas-only"` or `"any"`."""
        return self._client._request(
            "POST", f"/v1/keys/{_id(key_id)}/routing-policy", json={"routing_policy": routing_policy}
        )
