"""One module per API namespace; each class is attached to `Nexevo` as an attribute."""

from .auth import Auth
from .billing import Billing
from .conversations import Conversations
from .feedback import Feedback
from .keys import Keys
from .models import Models
from .organizations import Organizations

__all__ = ["Auth", "Billing", "Conversations", "Feedback", "Keys", "Models", "Organizations"]
