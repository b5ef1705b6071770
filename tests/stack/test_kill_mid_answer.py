"""A web process killed outright (``kill -9``) while answering leaves no charge without its answer.

The full stack as bin/stack runs it: the web server with the usage journal on, and the recorder
beside it (gateway.journal). A journaled completion is answered first and charged after (its journal
entry is sent once the whole answer is sent), so the kill can cost a charge, never an answer.

The policy this test holds the stack to:

- every request charged (in the database, once the recorder has written what the journal holds) was
  answered to its client, at the price its answer stated;
- every request answered before the kill is charged exactly once (one usage record, one ledger debit,
  the balance and the key's spend moved by it once);
- a request answered at the kill may go uncharged (its journal call had not reached Redis): we lose
  that charge, never the customer's answer.

16 requests are answered before the kill, then 16 are sent at once to the fake provider's ``slow``
behaviour (all answered by it 0.3 s later, within milliseconds of each other) and the web process is
killed the moment the first of them is answered: the others are in every step of being answered. The
steps are microseconds apart, so which request is caught where changes from run to run; every run
checks the policy for what it caught."""

import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import redis

from apikeys.models import ApiKey
from billing.models import BillingAccount, LedgerEntry, UsageRecord
from gateway import journal, routing
from gateway.models import RequestLog, RequestStatus
from gateway.services import providers_load
from tests.billing.helpers import credit
from tests.conftest import new_key
from tests.gateway.conftest import catalog_for, hello

from .processes import wait_until
from .test_usage_journal import start_recorder

IN_FLIGHT = 16


def test_a_web_process_killed_mid_answer_leaves_no_charge_without_its_answer(stack, fake_upstream, alice):
    providers_load(catalog_for(fake_upstream))
    routing.reseed(1234)
    api_key, full_key = new_key(alice)
    credit(api_key.organization, "10.00")
    stack.env["NEXEVO_USAGE_JOURNAL"] = "1"
    stack.start_web()
    start_recorder(stack)
    url, headers = f"{stack.url}/v1/chat/completions", {"Authorization": f"Bearer {full_key}"}
    answered: dict[str, Decimal] = {}  # generation id → the cost its answer stated
    lock = threading.Lock()
    first_answer = threading.Event()

    def ask(model: str) -> str | None:
        try:
            answer = httpx.post(url, json=hello(model, max_tokens=16), headers=headers, timeout=10)
        except httpx.HTTPError:  # the web process is gone
            return None
        assert answer.status_code == 200, answer.text
        nexevo = answer.json()["nexevo"]
        with lock:
            answered[nexevo["generation_id"]] = Decimal(nexevo["cost_usd"])
        first_answer.set()
        return nexevo["generation_id"]

    with ThreadPoolExecutor(IN_FLIGHT) as clients:
        before = set(clients.map(ask, ["west/chat-a"] * IN_FLIGHT))
        assert None not in before
        first_answer.clear()
        at_the_kill = [clients.submit(ask, "slowpoke/chat") for _ in range(IN_FLIGHT)]
        assert first_answer.wait(timeout=10), "no answer came"
        os.killpg(stack.web.process.pid, signal.SIGKILL)
        caught = {future.result() for future in at_the_kill} - {None}
    stack.web.process.wait(timeout=10)
    assert len(caught) < IN_FLIGHT, "the kill came after every answer: nothing was in flight"

    # The recorder writes what the journal holds.
    journaled = redis.Redis.from_url(stack.redis.url())
    wait_until(lambda: journaled.xlen(journal.STREAM) == 0, timeout=15, interval=0.05, message="the recorder")
    journaled.close()

    charged = dict(UsageRecord.objects.filter(api_key=api_key).values_list("pk", "cost_usd"))
    assert set(charged) <= set(answered), "charged without an answer"
    assert before <= set(charged), "answered before the kill, not charged"
    assert all(charged[generation] == answered[generation] for generation in charged)
    debits = LedgerEntry.objects.filter(organization=api_key.organization, kind="usage")
    assert sorted(debits.values_list("reference", flat=True)) == sorted(charged)  # once each
    total = sum(charged.values(), Decimal(0))
    assert (
        BillingAccount.objects.get(organization=api_key.organization).balance_usd == Decimal("10.00") - total
    )
    assert ApiKey.objects.get(pk=api_key.pk).month_to_date_spend() == total
    logged = RequestLog.objects.filter(pk__in=charged)
    assert {(log.status, log.http_status) for log in logged} == {(RequestStatus.COMPLETED, 200)}
    print(
        f"At the kill: {len(caught)} of {IN_FLIGHT} answered, {len(caught & set(charged))} of them charged."
    )
