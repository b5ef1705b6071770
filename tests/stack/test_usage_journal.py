"""The usage journal as bin/stack runs it (gateway.journal): the web server answers a completion
before its usage is written, and the recorder, a process of its own, writes it; feedback sent right
after the answer waits for it, as the product docs' flow needs; what is answered while no recorder
runs is written once one starts."""

from decimal import Decimal

import httpx

from apikeys.models import ApiKey
from billing.models import BillingAccount, LedgerEntry, UsageRecord
from gateway import routing
from gateway.models import RequestLog
from gateway.services import providers_load
from tests.billing.helpers import credit
from tests.conftest import new_key
from tests.gateway.conftest import catalog_for

from .processes import VENV_BIN, StackProcess, wait_until


def start_recorder(stack) -> StackProcess:
    recorder = StackProcess(
        "recorder",
        [str(VENV_BIN / "python"), "manage.py", "recordusage"],
        env=stack.env,
        log_dir=stack.log_dir,
    )
    stack.processes.append(recorder)
    wait_until(lambda: "Recording the usage journal" in recorder.output(), timeout=60, message="the recorder")
    return recorder


def complete(stack, full_key: str) -> dict:
    answer = httpx.post(
        f"{stack.url}/v1/chat/completions",
        json={
            "model": "nexevo/balanced",
            "messages": [{"role": "user", "content": "Hello"}],
            "max_tokens": 16,
        },
        headers={"Authorization": f"Bearer {full_key}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["nexevo"]


def test_the_recorder_writes_what_the_web_server_answered(stack, fake_upstream, alice):
    providers_load(catalog_for(fake_upstream))
    routing.reseed(1234)
    api_key, full_key = new_key(alice)
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=Decimal("5.00"))
    credit(api_key.organization, "10.00")
    stack.env["NEXEVO_USAGE_JOURNAL"] = "1"
    stack.start_web()
    start_recorder(stack)

    nexevo = complete(stack, full_key)
    # Rated at once, as in the product docs: the feedback waits for the recorder if it must.
    feedback = httpx.post(
        f"{stack.url}/v1/feedback",
        json={"generation_id": nexevo["generation_id"], "rating": 1},
        headers={"Authorization": f"Bearer {full_key}"},
        timeout=30,
    )
    assert feedback.status_code in (200, 201), feedback.text

    usage = UsageRecord.objects.get(pk=nexevo["generation_id"])
    assert usage.cost_usd == Decimal(nexevo["cost_usd"]) > 0
    assert RequestLog.objects.get(pk=nexevo["generation_id"]).cost_usd == usage.cost_usd
    assert LedgerEntry.objects.get(reference=nexevo["generation_id"]).amount_usd == -usage.cost_usd
    assert (
        BillingAccount.objects.get(organization=api_key.organization).balance_usd
        == Decimal("10.00") - usage.cost_usd
    )


def test_what_is_answered_while_no_recorder_runs_is_written_once_one_starts(stack, fake_upstream, alice):
    providers_load(catalog_for(fake_upstream))
    routing.reseed(1234)
    api_key, full_key = new_key(alice)
    credit(api_key.organization, "10.00")
    stack.env["NEXEVO_USAGE_JOURNAL"] = "1"
    stack.start_web()

    answered = [complete(stack, full_key)["generation_id"] for _ in range(5)]
    assert not UsageRecord.objects.filter(pk__in=answered).exists()  # journaled, not written

    start_recorder(stack)
    wait_until(
        lambda: UsageRecord.objects.filter(pk__in=answered).count() == 5, timeout=30, message="the recorder"
    )
    spent = sum(UsageRecord.objects.filter(pk__in=answered).values_list("cost_usd", flat=True), Decimal(0))
    assert ApiKey.objects.get(pk=api_key.pk).month_to_date_spend() == spent
