"""A key revoked through one web process is refused by another at once (gateway.key_changes): real
uvicorn processes on the test database and the test's own Redis server, the second holding the key in
its snapshots and a lease on its cap, with snapshots that would outlive the test."""

from decimal import Decimal

import httpx

from apikeys.models import ApiKey
from gateway.services import providers_load
from tests.billing.helpers import credit
from tests.conftest import new_key
from tests.gateway.conftest import catalog_for

from .processes import start_web

CHAT = {"model": "west/chat-a", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}


def test_a_key_revoked_in_one_web_process_is_refused_by_another_at_once(stack, fake_upstream, alice):
    providers_load(catalog_for(fake_upstream))
    api_key, full_key = new_key(alice, name="revoked")
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=Decimal("5.00"))
    _owner_key, owner_full_key = new_key(alice, name="owner")
    credit(api_key.organization, "10.00")
    # Only a message can make the second process drop the key: its snapshots last a minute.
    stack.env.update(NEXEVO_HOT_CACHE_SECONDS="60")
    first = stack.start_web()
    second_process, second = start_web(env=stack.env, log_dir=stack.log_dir)
    stack.processes.append(second_process)

    with httpx.Client(timeout=30) as client:
        served = [
            client.post(
                f"{second}/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {full_key}"}
            )
            for _ in range(2)
        ]
        revoked = client.post(
            f"{first}/v1/keys/{api_key.pk}/revoke", headers={"Authorization": f"Bearer {owner_full_key}"}
        )
        refused = client.post(
            f"{second}/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {full_key}"}
        )

    assert [answer.status_code for answer in served] == [200, 200]
    assert revoked.status_code == 200, revoked.text
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
