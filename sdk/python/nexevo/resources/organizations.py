from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote


def _id(value: str) -> str:
    """An id as one URL path segment, whatever it contains."""
    return quote(str(value), safe="")


if TYPE_CHECKING:
    from .._client import Nexevo


class Organizations:
    """Organizations, their members and invitations: `client.organizations`."""

    def __init__(self, client: Nexevo) -> None:
        self._client = client

    def create(self, name: str) -> dict[str, Any]:
        """Create an organization owned by the caller: `{"organization": {...}, "membership": {...}}`."""
        return self._client._request("POST", "/v1/organizations", json={"name": name}, idempotent=True)

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> dict[str, Any]:
        """The caller's organizations, each with the caller's `role`."""
        return self._client._request("GET", "/v1/organizations", params={"limit": limit, "cursor": cursor})

    def get(self, org_id: str) -> dict[str, Any]:
        return self._client._request("GET", f"/v1/organizations/{_id(org_id)}")

    def invite_member(self, org_id: str, *, email: str, role: str) -> dict[str, Any]:
        """E-mail an invitation; returns `{"invitation": {...}}`."""
        return self._client._request(
            "POST",
            f"/v1/organizations/{_id(org_id)}/invitations",
            json={"email": email, "role": role},
            idempotent=True,
        )

    def list_invitations(
        self, org_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        return self._client._request(
            "GET", f"/v1/organizations/{_id(org_id)}/invitations", params={"limit": limit, "cursor": cursor}
        )

    def revoke_invitation(self, org_id: str, invitation_id: str) -> dict[str, Any]:
        return self._client._request(
            "DELETE", f"/v1/organizations/{_id(org_id)}/invitations/{_id(invitation_id)}"
        )

    def list_members(
        self, org_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        return self._client._request(
            "GET", f"/v1/organizations/{_id(org_id)}/members", params={"limit": limit, "cursor": cursor}
        )

    def update_member(self, org_id: str, user_id: str, *, role: str) -> dict[str, Any]:
        return self._client._request(
            "PATCH", f"/v1/organizations/{_id(org_id)}/members/{_id(user_id)}", json={"role": role}
        )

    def remove_member(self, org_id: str, user_id: str) -> None:
        """Remove a member; the keys they created in the organization are revoked."""
        return self._client._request("DELETE", f"/v1/organizations/{_id(org_id)}/members/{_id(user_id)}")

    def transfer_owner(self, org_id: str, *, new_owner_user_id: str) -> dict[str, Any]:
        """Make an existing member the owner; the caller becomes an admin."""
        return self._client._request(
            "POST",
            f"/v1/organizations/{_id(org_id)}/transfer-owner",
            json={"new_owner_user_id": new_owner_user_id},
        )
