"""Why admission stops a request before its provider is called (gateway.admission): the key's cap
(402 ``spend_cap_exceeded``), a cap that cannot be checked (503), and a key changed since it was read
(not an answer: the endpoint reads the key again)."""

from decimal import Decimal

from django.utils.translation import gettext as _

from core.errors import ServiceError
from core.money import format_usd, format_usd_exact


class SpendCapExceeded(ServiceError):
    """402 ``spend_cap_exceeded`` (the code is the API's contract, whatever the reason). The message
    says which of three things happened: the month's spend has reached the cap; the cap has something
    left but less than this request's worst case (``max_cost``), which is held before the provider is
    called; or what is left is held by requests still in progress. A key with a $0.05 cap and no
    spend refuses a request without ``max_tokens`` whose worst case is $0.09, and only the message can
    tell its owner why; then ``param`` is ``max_tokens``, the one thing in the request that lowers
    the worst case. ``spent`` is known only to the database counter (Redis counts spend and holds as
    one number), and ``left`` is None when the counter could not be read after the refusal: the
    message then names every reason it cannot rule out."""

    status = 402

    def __init__(
        self,
        cap: Decimal,
        *,
        worst_case: Decimal | None = None,
        left: Decimal | None = None,
        spent: Decimal | None = None,
    ):
        amounts = {"cap": f"${format_usd(cap)}"}
        param = None
        if spent is not None and spent >= cap:
            message = _(
                "This key has reached its monthly spend cap of %(cap)s. Raise the cap, or wait for "
                "next month: the cap resets on the 1st at 00:00 UTC."
            )
        elif left is not None and left > 0 and worst_case is not None and worst_case > left:
            amounts.update(worst_case=f"${format_usd_exact(worst_case)}", left=f"${format_usd_exact(left)}")
            message = _(
                "This request's worst-case cost (%(worst_case)s) is more than the %(left)s left of this "
                "key's monthly spend cap of %(cap)s. Before a request runs, the most it could cost is "
                "held against the cap; without max_tokens that assumes an answer as long as the model's "
                "context. Set max_tokens to lower the worst case, or raise the cap."
            )
            param = "max_tokens"
        elif left is not None:
            message = _(
                "Nothing is left of this key's monthly spend cap of %(cap)s for this request: the "
                "month's spend has used it up, or requests still in progress hold the rest. Raise the "
                "cap, try again once those requests finish, or wait for the 1st (00:00 UTC)."
            )
        else:
            message = _(
                "This request could take this key past its monthly spend cap of %(cap)s, counting the "
                "requests still in progress. Try again once they finish, set max_tokens to lower this "
                "request's worst-case cost, or raise the cap."
            )
        super().__init__(message % amounts, code="spend_cap_exceeded", param=param)


class CounterUnavailable(ServiceError):
    status = 503

    def __init__(self):
        super().__init__(
            "Spend caps cannot be checked right now, so requests of keys with a cap are paused. "
            "Try again in a moment.",
            code="service_unavailable",
        )


class KeyChanged(Exception):
    """Some process revoked or changed the key since this one read it (gateway.key_changes): nothing
    was held; read the key afresh."""
