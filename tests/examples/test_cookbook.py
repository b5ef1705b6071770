"""The cookbook (examples/): every program run as a developer runs it, a subprocess with
NEXEVO_API_KEY and NEXEVO_BASE_URL, against the live console (pytest-django's live server, one for
the whole run) and the model provider on loopback. Each test checks what the program did, in the
database or on the provider, not only that it exited 0."""

import csv
import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from django.db import connection

from alerts import signing
from apikeys.models import ApiKey
from apikeys.services import key_create
from billing.models import LedgerEntry, TopUp
from conversations.models import Conversation
from feedback.models import Feedback
from gateway.models import RequestLog
from gateway.provider_keys import provider_key_set
from gateway.services import providers_load
from orgs.models import Membership
from orgs.selectors import personal_organization_of_user
from tests.billing.helpers import credit
from tests.conftest import make_user
from tests.fakes.stripe_server import event, sign

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLES = PROJECT / "examples"
ALL_EXAMPLES = sorted(path.name for path in EXAMPLES.glob("*.py"))


def cookbook_catalog(upstream) -> dict:
    """Providers on the loopback provider: two that follow tools and JSON mode (one in each region),
    one that fails every other request."""
    capable = {"tools": True, "json_mode": True}
    return {
        "providers": [
            {"id": "acme", "base_url": upstream.url("capable"), "region": "overseas", "api_key": "sk-acme"},
            {"id": "panda", "base_url": upstream.url("capable"), "region": "cn", "api_key": "sk-panda"},
            {"id": "wobbly", "base_url": upstream.url("flaky"), "region": "overseas", "api_key": "sk-wobbly"},
        ],
        "models": [
            {
                "id": "acme/small",
                "provider": "acme",
                "context_length": 16000,
                "capabilities": capable,
                "input_per_million_usd": "0.50",
                "output_per_million_usd": "1.00",
            },
            {
                "id": "acme/large",
                "provider": "acme",
                "context_length": 200000,
                "capabilities": {**capable, "vision": True},
                "input_per_million_usd": "100.00",
                "output_per_million_usd": "200.00",
            },
            {
                "id": "panda/chat",
                "provider": "panda",
                "context_length": 32000,
                "capabilities": capable,
                "input_per_million_usd": "0.20",
                "output_per_million_usd": "0.40",
            },
            {
                "id": "wobbly/chat",
                "provider": "wobbly",
                "input_per_million_usd": "1.00",
                "output_per_million_usd": "2.00",
            },
        ],
        "pools": {"fast": ["acme/small", "panda/chat"], "balanced": ["acme/small", "panda/chat"]},
    }


@dataclass
class Developer:
    user: object
    organization: object
    api_key: ApiKey
    full_key: str
    base_url: str

    def run(
        self, example: str, *arguments: str, timeout: float = 90, **environment
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(EXAMPLES / example), *arguments],
            cwd=PROJECT,
            env=self.environment(**environment),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, example: str, *arguments: str, **environment) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, str(EXAMPLES / example), *arguments],
            cwd=PROJECT,
            env=self.environment(**environment),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def environment(self, **extra) -> dict:
        kept = {key: value for key, value in os.environ.items() if not key.startswith(("NEXEVO_", "DJANGO_"))}
        # The client of this checkout, whichever one the environment has installed.
        python_path = os.pathsep.join(filter(None, [str(PROJECT / "sdk" / "python"), kept.get("PYTHONPATH")]))
        return {
            **kept,
            "PYTHONPATH": python_path,
            "NEXEVO_API_KEY": self.full_key,
            "NEXEVO_BASE_URL": self.base_url,
            **extra,
        }

    def requests(self) -> list[RequestLog]:
        return list(RequestLog.objects.filter(organization=self.organization).order_by("created_at"))


def developer(email: str, base_url: str, *, balance: str | None = "5.00", **key_options) -> Developer:
    user = make_user(email)
    organization = personal_organization_of_user(user=user)
    api_key, full_key = key_create(organization=organization, created_by=user, name="cookbook", **key_options)
    if balance:
        credit(organization, balance)
    return Developer(user, organization, api_key, full_key, base_url)


@pytest.fixture
def upstream(live_server, transactional_db, fake_upstream):
    fake_upstream.requests.clear()
    providers_load(cookbook_catalog(fake_upstream))
    return fake_upstream


@pytest.fixture
def dev(upstream, live_server) -> Developer:
    return developer("dev@example.com", live_server.url)


def succeeded(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_the_cookbook_has_fifteen_examples_each_with_a_one_sentence_title():
    readme = (EXAMPLES / "README.md").read_text()
    assert len(ALL_EXAMPLES) == 15
    for name in ALL_EXAMPLES:
        source = (EXAMPLES / name).read_text()
        assert source.startswith('"""'), name
        title = source[3:].splitlines()[0]
        assert title.endswith(".") and title.count(". ") == 0, f"{name}: {title}"
        assert "NEXEVO_API_KEY" not in source or name == "openai_package.py", name  # the client reads it
        assert f"`{name}`" in readme, f"{name} is missing from examples/README.md"


def test_rag_answers_from_the_passage_it_retrieved(dev, upstream):
    output = succeeded(dev.run("rag.py", "How do I stop a key from spending too much?"))

    assert output.splitlines()[0].startswith("retrieved spend-caps")
    system_prompt = upstream.requests[-1]["body"]["messages"][0]["content"]
    assert "[spend-caps] Each API key can carry a monthly spend cap" in system_prompt
    retrieved = {line.split()[1] for line in output.splitlines() if line.startswith("retrieved ")}
    passages = {"spend-caps", "alerts", "routing", "tiers", "feedback"}
    assert {passage for passage in passages if f"[{passage}]" in system_prompt} == retrieved
    assert len(retrieved) == 2
    assert [log.status for log in dev.requests()] == ["completed"]


def test_streaming_prints_the_tokens_the_usage_and_the_cost(dev, upstream):
    output = succeeded(dev.run("streaming.py"))

    assert "word0 word1 word2 word3 word4" in output and "tokens: 5 in, 5 out" in output
    generation_id = output.split()[1]
    log = RequestLog.objects.get(pk=generation_id)
    assert log.stream and log.status == "completed" and log.completion_tokens == 5
    assert upstream.requests[-1]["body"]["stream_options"] == {"include_usage": True}


def test_tool_calls_runs_the_tool_and_sends_its_result_back(dev, upstream):
    output = succeeded(dev.run("tool_calls.py", "What is the weather in Paris?"))

    assert "tool get_weather({'city': 'Paris'})" in output
    assert 'answer: The tool said: {"city": "Paris", "sky": "sunny", "celsius": 21}' in output
    first, second = (request["body"] for request in upstream.requests)
    assert first["tools"][0]["function"]["name"] == "get_weather"
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_fake_1",
        "content": '{"city": "Paris", "sky": "sunny", "celsius": 21}',
    }
    assert len(dev.requests()) == 2


def test_json_mode_parses_an_answer_that_fits_the_schema(dev, upstream):
    output = succeeded(dev.run("json_mode.py"))

    ticket = json.loads(output.split("ticket: ", 1)[1])
    assert ticket["category"] == "bug" and ticket["urgency"] == 1
    assert upstream.requests[-1]["body"]["response_format"]["type"] == "json_schema"


def test_batch_stops_at_the_cap_without_spending_past_it(dev):
    # The suite's SQLite database is in memory, shared between the live server's threads: concurrent
    # writes there fail at once ("database table is locked"), so on SQLite the batch runs one at a time.
    concurrency = "4" if connection.vendor == "postgresql" else "1"

    output = succeeded(
        dev.run("batch.py", NEXEVO_MODEL="acme/large", BATCH_CAP_USD="0.05", BATCH_CONCURRENCY=concurrency)
    )

    batch_key = ApiKey.objects.exclude(pk=dev.api_key.pk).get(organization=dev.organization)
    assert batch_key.monthly_spend_cap_usd == Decimal("0.05") and batch_key.revoked_at is not None
    logs = list(RequestLog.objects.filter(api_key=batch_key).order_by("created_at", "pk"))
    served = [log for log in logs if log.status == "completed"]
    done = int(re.search(r"(\d+) done", output).group(1))
    assert "stopping: spend_cap_exceeded" in output and 0 < len(served) == done < 40
    spent = sum(log.cost_usd for log in served)
    # Up to the cap: it stopped when one more request's worst case (about $0.02 here) no longer fit.
    assert Decimal("0.03") < spent <= Decimal("0.05"), output
    assert f"the key spent ${spent:.2f}" in output or f"the key spent ${spent}" in output
    assert logs[-1].http_status == 402  # nothing was sent after the refusal that stopped it


def test_conversations_persists_each_turn_beside_the_chat(dev, upstream):
    output = succeeded(dev.run("conversations.py"))

    conversation = Conversation.objects.get(organization=dev.organization)
    assert conversation.title == "Support chat" and conversation.metadata == {"user_id": "user-42"}
    assert f"conversation {conversation.pk}" in output
    messages = list(conversation.messages.order_by("created_at", "pk").values_list("role", "content"))
    assert [role for role, _ in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[1][1] == "word0 word1 word2 word3 word4"
    # The second turn sent the whole history to the model.
    assert [m["role"] for m in upstream.requests[-1]["body"]["messages"]] == ["user", "assistant", "user"]


def test_feedback_rates_the_generation_it_received(dev):
    output = succeeded(dev.run("feedback.py"))

    generation_id = output.split()[1]
    rating = Feedback.objects.get(organization=dev.organization)
    assert rating.generation_id == generation_id and rating.rating == 1
    assert rating.tags == ["accurate"]
    assert "last 7 days: 1 up, 0 down" in output


def test_spend_alert_receiver_accepts_a_signed_delivery_and_refuses_forged_ones(dev):
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    port = free_port()
    receiver = dev.start("spend_alert_receiver.py", NEXEVO_WEBHOOK_SECRET=secret, PORT=str(port))
    try:
        wait_for_port(port, receiver)
        body = json.dumps(
            {
                "type": "key.spend_threshold_crossed",
                "timestamp": "2026-12-06T02:00:00Z",
                "data": {
                    "key_id": "key_abc",
                    "key_name": "prod-2026",
                    "organization_id": "org_abc",
                    "threshold_pct": 80,
                    "cap_usd": "100.00",
                    "spend_month_to_date_usd": "80.125",
                    "month": "2026-12",
                },
            },
            separators=(",", ":"),
        )
        now = int(time.time())
        # Signed the way the console signs its deliveries (alerts.signing), verified by the package.
        signed = signing.headers([secret], webhook_id="wh_1", timestamp=now, body=body)
        other = signing.headers(
            ["whsec_" + "b3RoZXIgc2VjcmV0IG9mIDMyIGJ5dGVzIQ=="], webhook_id="wh_2", timestamp=now, body=body
        )
        stale = signing.headers([secret], webhook_id="wh_3", timestamp=now - 3600, body=body)
        url = f"http://127.0.0.1:{port}/"
        statuses = [
            httpx.post(url, content=body, headers=headers).status_code for headers in (signed, other, stale)
        ]
        tampered = httpx.post(url, content=body.replace("80.125", "1.00"), headers=signed).status_code
    finally:
        receiver.terminate()
        output = receiver.communicate(timeout=10)[0]

    assert statuses == [204, 400, 400] and tampered == 400
    assert "ALERT key prod-2026 (key_abc) reached 80% of its $100.00 cap: $80.125 spent in 2026-12" in output
    assert output.count("accepted") == 1 and output.count("refused a delivery") == 3

    assert "signed delivery: 204, forged delivery: 400" in succeeded(
        dev.run("spend_alert_receiver.py", "--check", NEXEVO_WEBHOOK_SECRET=secret)
    )


def test_usage_csv_writes_the_days_and_their_totals(dev, tmp_path):
    for _ in range(3):
        succeeded(dev.run("error_handling.py"))  # three served requests to export
    path = tmp_path / "usage.csv"

    output = succeeded(dev.run("usage_csv.py", str(path), "7"))

    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 7 and sum(int(row["requests"]) for row in rows) == 3
    served_cost = sum(log.cost_usd for log in dev.requests())
    assert sum(Decimal(row["cost_usd"]) for row in rows) == served_cost > 0
    assert sum(Decimal(row["balanced_cost_usd"]) for row in rows) == served_cost
    assert f"3 requests, ${served_cost}" in output


def test_topup_is_one_payment_however_often_it_is_retried(dev, stripe, settings):
    topup = dev.start("topup.py", "topup-2026-12-06-001", "--wait")
    try:
        # The session id is saved once Stripe answered, a moment after the row is created.
        wait_until(
            lambda: TopUp.objects.filter(organization=dev.organization).exclude(session_id="").exists(), topup
        )
        top_up = TopUp.objects.get(organization=dev.organization)
        payload = completed_checkout(top_up.session_id, 2000)
        webhook = f"{dev.base_url}/v1/billing/stripe/webhook"
        for _ in range(2):  # Stripe delivers an event again when unsure it arrived
            header = sign(payload, settings.STRIPE_WEBHOOK_SECRET)
            answer = httpx.post(webhook, content=payload, headers={"Stripe-Signature": header})
            assert answer.status_code == 200, answer.text
        output = topup.communicate(timeout=30)[0]
    finally:
        topup.kill()
    assert topup.returncode == 0, output
    again = succeeded(dev.run("topup.py", "topup-2026-12-06-001"))

    assert TopUp.objects.filter(organization=dev.organization).count() == 1
    sessions_created = [r for r in stripe.requests if r["path"] == "/v1/checkout/sessions"]
    assert len(sessions_created) == 1
    top_ups = LedgerEntry.objects.filter(organization=dev.organization, kind="top_up")
    assert [(entry.reference, entry.amount_usd) for entry in top_ups] == [
        (top_up.session_id, Decimal("20.00"))
    ]
    assert "balance now $25.00" in output and top_up.session_id in again


def test_cn_only_keeps_the_traffic_in_china(dev, upstream):
    output = succeeded(dev.run("cn_only.py"))

    china_key = ApiKey.objects.exclude(pk=dev.api_key.pk).get(organization=dev.organization)
    assert china_key.routing_policy == "cn-only" and china_key.revoked_at is not None
    logs = list(RequestLog.objects.filter(api_key=china_key).order_by("created_at"))
    assert [(log.status, log.provider) for log in logs[:1]] == [("completed", "panda")]
    assert len(logs) == 2 and logs[1].http_status in (400, 403, 404) and logs[1].provider == ""
    assert [request["authorization"] for request in upstream.requests] == ["Bearer sk-panda"]
    assert "the key sees models in: cn" in output and "nexevo/fast was served by panda/chat (cn)" in output


def test_byok_sends_the_organizations_own_key_and_bills_the_fee(dev, upstream):
    refused = dev.run("byok.py", NEXEVO_BYOK_MODEL="acme/small")
    assert refused.returncode == 1 and "add your provider key" in refused.stdout
    page = refused.stdout.split("provider key at ", 1)[1].split()[0]
    assert page == f"{dev.base_url}/requests/provider-keys/"
    assert httpx.get(page).status_code == 302  # the page, behind the sign-in
    membership = Membership.objects.get(user=dev.user, organization=dev.organization)
    provider_key_set(membership=membership, provider_id="acme", api_key="sk-our-own-acme-key")

    output = succeeded(dev.run("byok.py", NEXEVO_BYOK_MODEL="acme/small"))

    [log] = dev.requests()
    assert log.tier == "byok" and log.model == "acme/small"
    assert [request["authorization"] for request in upstream.requests] == ["Bearer sk-our-own-acme-key"]
    assert "tier byok" in output and "BYOK today: 1 requests" in output


def test_error_handling_retries_a_5xx_and_succeeds(dev, upstream):
    upstream.requests.clear()

    output = succeeded(dev.run("error_handling.py", NEXEVO_MODEL="wobbly/chat"))

    assert "attempt 1 failed: 5" in output and "answer: word0" in output
    assert [(log.http_status, log.status) for log in dev.requests()] == [(502, "failed"), (200, "completed")]
    assert len(upstream.calls("flaky")) >= 2


def test_error_handling_waits_out_a_429(upstream, live_server):
    # Ten a minute: one more every six seconds once the first ten are spent.
    limited = developer("limited@example.com", live_server.url, requests_per_minute=10)
    hello = {"model": "nexevo/fast", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {limited.full_key}"}
    ) as http:
        statuses = []
        while 429 not in statuses and len(statuses) < 15:
            statuses.append(http.post("/v1/chat/completions", json=hello).status_code)
    assert statuses[-1] == 429
    served_before = RequestLog.objects.filter(api_key=limited.api_key, status="completed").count()

    output = succeeded(limited.run("error_handling.py"))

    assert re.search(
        r"attempt 1 failed: 429 rate_limit_error \(rate_limit_exceeded\).*; retrying in [1-6]\.0s", output
    )
    assert "answer: word0" in output
    assert RequestLog.objects.filter(api_key=limited.api_key, status="completed").count() == served_before + 1


def test_error_handling_stops_at_once_on_a_402(upstream, live_server):
    broke = developer("broke@example.com", live_server.url, balance=None)

    result = broke.run("error_handling.py")

    assert result.returncode == 2, result.stdout + result.stderr
    assert "payment required (insufficient_balance)" in result.stdout and "retrying in" not in result.stdout
    assert upstream.requests == [] and [log.http_status for log in broke.requests()] == [402]


def test_openai_package_makes_the_same_calls(dev, upstream):
    output = succeeded(dev.run("openai_package.py"))

    logs = dev.requests()
    assert [(log.stream, log.status) for log in logs[:2]] == [(False, "completed"), (True, "completed")]
    assert logs[2].error_code == "unknown_model"
    assert (
        f"generation {logs[0].pk}" in output
        and "streamed: word0 word1 word2 word3 word4 (5 tokens)" in output
    )
    assert "unknown model refused: 400 unknown_model" in output


def test_compare_models_picks_by_price_and_context_and_asks_both(dev, upstream):
    output = succeeded(dev.run("compare_models.py", CAPABILITY="tools", MIN_CONTEXT="16000"))

    assert [log.model for log in dev.requests()] == ["panda/chat", "acme/large"]
    assert "3 with tools and >= 16000 tokens of context" in output
    assert "panda/chat" in output.splitlines()[2] and "acme/large" in output.splitlines()[3]


# --- Helpers ----------------------------------------------------------------------------------------


def completed_checkout(session_id: str, amount_cents: int) -> bytes:
    number = session_id.rsplit("_", 1)[-1]
    return event(
        "checkout.session.completed",
        {
            "id": session_id,
            "object": "checkout.session",
            "amount_total": amount_cents,
            "currency": "usd",
            "payment_intent": f"pi_test_{number}",
            "payment_status": "paid",
        },
        event_id=f"evt_{number}",
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 20) -> None:
    def listening():
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    wait_until(listening, process, timeout=timeout)


def wait_until(condition, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the example exited early:\n{process.stdout.read()}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the example")
        time.sleep(0.05)
