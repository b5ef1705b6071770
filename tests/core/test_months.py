"""Months (core.months): where a month starts, and how a key's month-to-date spend moves, in Python
and in the SQL that billing.charges runs on PostgreSQL."""

import datetime
import itertools
from decimal import Decimal

import pytest
from django.db import connection

from core.months import (
    SPEND_AMOUNT_SQL,
    SPEND_MONTH_SQL,
    month_began,
    month_spend,
    month_start,
    previous_month,
    spend_add,
)

JANUARY, FEBRUARY, MARCH = datetime.date(2026, 1, 1), datetime.date(2026, 2, 1), datetime.date(2026, 3, 1)


def test_it_starts_the_month_in_utc():
    late_in_new_york = datetime.datetime(
        2026, 1, 31, 23, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))
    )
    assert month_start(late_in_new_york) == FEBRUARY  # 04:30 on February 1st in UTC
    assert month_start(datetime.date(2026, 2, 17)) == FEBRUARY
    assert month_began(late_in_new_york) == datetime.datetime(2026, 2, 1, tzinfo=datetime.UTC)
    assert previous_month(JANUARY) == datetime.date(2025, 12, 1)
    assert previous_month(datetime.date(2026, 3, 31)) == FEBRUARY


def test_it_adds_a_cost_of_the_keys_month_and_starts_a_later_month_afresh():
    assert spend_add(month=FEBRUARY, amount=5, cost=3, cost_month=FEBRUARY) == (FEBRUARY, 8)
    assert spend_add(month=JANUARY, amount=5, cost=3, cost_month=FEBRUARY) == (FEBRUARY, 3)
    assert spend_add(month=None, amount=0, cost=3, cost_month=FEBRUARY) == (FEBRUARY, 3)


def test_it_never_lets_a_late_cost_of_an_earlier_month_overwrite_the_current_month():
    assert spend_add(month=FEBRUARY, amount=Decimal("5.5"), cost=Decimal(3), cost_month=JANUARY) == (
        FEBRUARY,
        Decimal("5.5"),
    )


def test_it_counts_only_the_current_months_spend():
    now = datetime.datetime(2026, 2, 10, tzinfo=datetime.UTC)
    assert month_spend(month=FEBRUARY, amount=Decimal(7), now=now) == Decimal(7)
    assert month_spend(month=JANUARY, amount=Decimal(7), now=now) == Decimal(0)
    assert month_spend(month=None, amount=Decimal(0), now=now) == Decimal(0)


@pytest.mark.django_db
def test_the_sql_twin_folds_a_batch_as_the_rule_does_one_cost_at_a_time():
    """The SQL is applied once per key and batch, with the batch's latest month and the sum of that
    month's costs; every order of every small batch ends where ``spend_add`` one by one ends."""
    if connection.vendor != "postgresql":
        pytest.skip("billing.charges' statement, and so the SQL twin, runs on PostgreSQL only")
    month_sql = SPEND_MONTH_SQL.format(month="%(month)s::date", cost_month="%(cost_month)s::date")
    amount_sql = SPEND_AMOUNT_SQL.format(
        month="%(month)s::date",
        amount="%(amount)s::bigint",
        cost="%(cost)s::bigint",
        cost_month="%(cost_month)s::date",
    )
    costs = [(JANUARY, 1), (FEBRUARY, 10), (MARCH, 100), (FEBRUARY, 1000)]
    checked = 0
    with connection.cursor() as cursor:
        for start in (None, JANUARY, FEBRUARY, MARCH):
            for size in range(1, 4):
                for batch in itertools.permutations(costs, size):
                    month, amount = start, 7 if start else 0
                    for cost_month, cost in batch:
                        month, amount = spend_add(
                            month=month, amount=amount, cost=cost, cost_month=cost_month
                        )
                    latest = max(cost_month for cost_month, _cost in batch)
                    latest_costs = sum(cost for cost_month, cost in batch if cost_month == latest)
                    parameters = {
                        "month": start,
                        "amount": 7 if start else 0,
                        "cost": latest_costs,
                        "cost_month": latest,
                    }
                    cursor.execute(f"SELECT {month_sql}, {amount_sql}", parameters)  # noqa: S608
                    assert cursor.fetchone() == (month, amount), (start, batch)
                    checked += 1
    assert checked == 4 * (4 + 12 + 24)
