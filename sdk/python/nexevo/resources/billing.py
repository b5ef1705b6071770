from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._client import Nexevo


class Billing:
    """Balance, usage, plan and top-ups of the calling key's organization: `client.billing`.

    Amounts come back as decimal strings (`"12.34"`); parse them with `decimal.Decimal`, never `float`.
    """

    def __init__(self, client: Nexevo) -> None:
        self._client = client

    def balance(self) -> dict[str, Any]:
        return self._client._request("GET", "/v1/billing/balance")

    def usage(self, days: int = 7) -> dict[str, Any]:
        """Per day (UTC) for the last `days` days, with `by_tier` (fast, balanced, passthrough, byok)."""
        return self._client._request("GET", "/v1/billing/usage", params={"days": days})

    def get_plan(self) -> dict[str, Any]:
        return self._client._request("GET", "/v1/billing/plan")

    def change_plan(self, plan_id: str) -> dict[str, Any]:
        return self._client._request("POST", "/v1/billing/plan", json={"plan_id": plan_id})

    def upgrade_hint(self) -> dict[str, Any]:
        """`{"hint": None}` or a cheaper plan with `savings_pct` for the last 30 days of usage."""
        return self._client._request("GET", "/v1/billing/upgrade-hint")

    def checkout(self, amount_usd: str | int | Decimal, idempotency_key: str) -> dict[str, Any]:
        """A Stripe Checkout Session: `{"checkout_url", "session_id", "amount_usd"}`. Retrying with the
        same key and amount returns the same session, so it is safe to repeat."""
        amount = str(amount_usd) if isinstance(amount_usd, Decimal) else amount_usd
        return self._client._request(
            "POST",
            "/v1/billing/checkout",
            json={"amount_usd": amount, "idempotency_key": idempotency_key},
            idempotent=True,
        )

    def transactions(self, *, limit: int | None = None, cursor: str | None = None) -> dict[str, Any]:
        """The ledger, newest first."""
        return self._client._request(
            "GET", "/v1/billing/transactions", params={"limit": limit, "cursor": cursor}
        )
