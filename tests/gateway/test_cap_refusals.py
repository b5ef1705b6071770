"""A refusal by the key's monthly spend cap says why (402 ``spend_cap_exceeded`` either way): the cap
is reached, or this request's worst case, held before it runs, is more than what the cap has left;
then it suggests ``max_tokens`` and names it as the ``param``."""

import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from apikeys.models import ApiKey
from core.money import format_usd_exact
from gateway import leases, snapshots
from gateway.admission_errors import SpendCapExceeded
from gateway.models import KeyReservation, RequestLog

from .conftest import chat_request, hello, run_async, worst_case_of
from .test_leases import Door, capped, counter_of  # noqa: F401 - capped is a fixture

WORST_CASE = re.compile(r"worst-case cost \(\$([0-9.]+)\) is more than the \$([0-9.]+) left")


def set_cap(api_key, cap: str, *, spent: str = "0") -> None:
    ApiKey.objects.filter(pk=api_key.pk).update(
        monthly_spend_cap_usd=Decimal(cap),
        spend_month=timezone.now().date().replace(day=1),
        spend_month_to_date_usd=Decimal(spent),
    )
    snapshots.clear()


def test_it_says_when_the_worst_case_is_more_than_the_cap_has_left_and_suggests_max_tokens(funded, upstream):
    api_key, full_key = funded
    set_cap(api_key, "0.01")
    worst = worst_case_of(api_key, hello("west/chat-a"))
    assert worst > Decimal("0.01")  # 8,192 tokens of context at $2.00/M (+5%): about $0.017

    response = chat_request(full_key, hello("west/chat-a"))

    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "billing_error",
        "spend_cap_exceeded",
        "max_tokens",
    )
    assert WORST_CASE.search(error["message"]).groups() == (format_usd_exact(worst), "0.01")
    assert "monthly spend cap of $0.01" in error["message"]
    assert "Set max_tokens" in error["message"]
    assert "reached" not in error["message"]
    assert upstream.requests == []
    logged = RequestLog.objects.get()
    assert (logged.status, logged.error_code) == ("refused", "spend_cap_exceeded")


def test_what_is_left_counts_the_spend_of_the_month(funded, upstream):
    api_key, full_key = funded
    set_cap(api_key, "0.02", spent="0.004")

    error = chat_request(full_key, hello("west/chat-a")).json()["error"]

    assert WORST_CASE.search(error["message"]).group(2) == "0.016"
    assert error["param"] == "max_tokens"


def test_it_says_when_the_cap_is_reached_without_pointing_at_max_tokens(funded, upstream):
    api_key, full_key = funded
    set_cap(api_key, "1.00", spent="1.00")

    response = chat_request(full_key, hello(max_tokens=5))

    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "spend_cap_exceeded" and error["param"] is None
    if settings.REDIS_URL:
        # Redis counts the spend and the holds of requests in progress as one number: the message
        # cannot tell them apart, and names both.
        assert error["message"].startswith("Nothing is left of this key's monthly spend cap of $1.00")
    else:
        assert error["message"].startswith("This key has reached its monthly spend cap of $1.00.")
    assert "worst-case" not in error["message"]
    assert upstream.requests == []


@pytest.mark.skipif(bool(settings.REDIS_URL), reason="the database counter's holds (with Redis: its counter)")
def test_a_cap_held_by_requests_in_progress_is_not_called_reached(funded, upstream):
    api_key, full_key = funded
    set_cap(api_key, "1.00")
    KeyReservation.objects.create(api_key=api_key, amount_usd=Decimal("1.00"))

    error = chat_request(full_key, hello(max_tokens=5)).json()["error"]

    assert "reached" not in error["message"]
    assert "requests still in progress hold the rest" in error["message"]
    assert error["param"] is None


def test_a_request_with_max_tokens_that_fits_is_served(funded, upstream):
    api_key, full_key = funded
    set_cap(api_key, "0.01")

    assert chat_request(full_key, hello("west/chat-a")).status_code == 402
    assert chat_request(full_key, hello("west/chat-a", max_tokens=100)).status_code == 200


def test_without_what_is_left_the_message_names_both_reasons():
    """The counter could not be read after the refusal (Redis went away): no amount is made up."""
    error = SpendCapExceeded(Decimal("5.00"), worst_case=Decimal("0.017"), left=None)

    assert error.code == "spend_cap_exceeded" and error.status == 402 and error.param is None
    assert "past its monthly spend cap of $5.00" in error.message
    assert "max_tokens" in error.message


@pytest.mark.skipif(not settings.REDIS_URL, reason="leases need Redis")
def test_what_this_process_holds_in_its_lease_counts_as_left(capped):  # noqa: F811
    """Under the ASGI door a process holds a lease on the cap; the counter in Redis counts it in full,
    but this process's requests may still hold from it, so the message counts it as left."""
    api_key, full_key = capped
    set_cap(api_key, "0.01")
    assert worst_case_of(api_key, hello("west/chat-a")) > Decimal("0.01")
    counter = counter_of(api_key)

    async def scenario():
        async with Door() as door:
            served_status, served = await door.post(full_key, hello("west/chat-a", max_tokens=5))
            held = leases.held().get(counter, 0)
            refused_status, refused = await door.post(full_key, hello("west/chat-a"))
            return served_status, served, held, refused_status, refused

    served_status, served, held, refused_status, refused = run_async(scenario)

    assert served_status == 200 and held > 0
    assert refused_status == 402 and refused["error"]["param"] == "max_tokens"
    spent = Decimal(served["nexevo"]["cost_usd"])
    assert WORST_CASE.search(refused["error"]["message"]).group(2) == format_usd_exact(
        Decimal("0.01") - spent
    )
