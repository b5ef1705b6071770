from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._client import Nexevo


class Auth:
    """The signed-in user's own account: `client.auth`."""

    def __init__(self, client: Nexevo) -> None:
        self._client = client

    def me(self) -> dict[str, Any]:
        """The user the API key acts as, with their organizations and roles."""
        return self._client._request("GET", "/v1/auth/me")

    def update_profile(self, *, full_name: str) -> dict[str, Any]:
        """Change the profile; returns the updated `me` object."""
        return self._client._request("PATCH", "/v1/auth/profile", json={"full_name": full_name})

    def change_password(self, *, current_password: str, new_password: str) -> Any:
        """Change the password; the user's other sessions end.

        Never retried: a repeat after a lost response would fail on the now-stale current password.
        """
        return self._client._request(
            "POST",
            "/v1/auth/change-password",
            json={"current_password": current_password, "new_password": new_password},
        )

    def two_fa_status(self) -> dict[str, Any]:
        """Whether two-factor authentication is on, its methods, and recovery codes left."""
        return self._client._request("GET", "/v1/auth/2fa")
