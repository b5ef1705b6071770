"""One module per API namespace; each class is attached to `Nexevo` as an attribute."""

from .auth import Auth
from .keys import Keys
from .organizations import Organizations

__all__ = ["Auth", "Keys", "Organizations"]
