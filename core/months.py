"""Calendar months (UTC): where a month starts, and how a key's month-to-date spend moves.

A key keeps one month's spend (``ApiKey.spend_month``, ``spend_month_to_date_usd``). A cost of that
month is added; a cost of a later month starts that month afresh; a cost of an earlier month (a
journaled request written after the month turned) leaves it as it is: it was the earlier month's.
``spend_add`` is that rule; billing.charges' statement applies it in SQL (``SPEND_MONTH_SQL`` and
``SPEND_AMOUNT_SQL`` below; tests/core/test_months.py checks that the two agree).
"""

import datetime
from decimal import Decimal
from typing import TypeVar

Amount = TypeVar("Amount", int, Decimal)  # micro-dollars as stored, or dollars


def month_start(moment: datetime.datetime | datetime.date) -> datetime.date:
    """The first day of the UTC calendar month ``moment`` falls in (a date is taken as it is)."""
    if isinstance(moment, datetime.datetime):
        moment = moment.astimezone(datetime.UTC).date()
    return moment.replace(day=1)


def month_began(moment: datetime.datetime) -> datetime.datetime:
    """The instant the UTC calendar month of ``moment`` began."""
    month = month_start(moment)
    return datetime.datetime(month.year, month.month, 1, tzinfo=datetime.UTC)


def previous_month(month: datetime.date) -> datetime.date:
    """The first day of the month before ``month``'s."""
    return month_start(month.replace(day=1) - datetime.timedelta(days=1))


def spend_add(
    *, month: datetime.date | None, amount: Amount, cost: Amount, cost_month: datetime.date
) -> tuple[datetime.date, Amount]:
    """A key's (month, month-to-date spend) after a cost of ``cost_month`` is added."""
    if month == cost_month:
        return month, amount + cost
    if month is None or month < cost_month:
        return cost_month, cost
    return month, amount  # a late cost of an earlier month: the current month's spend stays


def month_spend(*, month: datetime.date | None, amount: Decimal, now: datetime.datetime) -> Decimal:
    """The spend of ``now``'s month: the amount kept, or zero when it is an older month's."""
    return amount if month == month_start(now) else Decimal(0)


# ``spend_add`` in SQL (PostgreSQL: GREATEST passes over NULL), on columns or parameters named by
# ``{month}``, ``{amount}``, ``{cost}`` and ``{cost_month}``. Over a batch of costs it is applied once, with
# the batch's latest month and the sum of that month's costs: the same as the costs one by one.
SPEND_MONTH_SQL = "GREATEST({month}, {cost_month})"
SPEND_AMOUNT_SQL = (
    "CASE WHEN {month} = {cost_month} THEN {amount} + {cost}"
    " WHEN {month} > {cost_month} THEN {amount} ELSE {cost} END"
)
