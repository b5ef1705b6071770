"""One module per API namespace; each class is attached to `Nexevo` as an attribute."""

from .auth import Auth

__all__ = ["Auth"]
