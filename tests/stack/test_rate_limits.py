"""A key's per-minute limit shared by two web processes (gateway.ratelimits): real uvicorn processes on
loopback, on the test database and the test's own Redis server, each holding leases of the key's
minute. Together they serve exactly the limit, then answer 429 with OpenAI's headers."""

import httpx

from apikeys.models import ApiKey
from gateway.services import providers_load
from tests.billing.helpers import credit
from tests.conftest import new_key
from tests.gateway.conftest import catalog_for

from .processes import start_web

LIMIT = 10


def test_two_web_processes_share_a_keys_requests_per_minute(stack, fake_upstream, alice):
    providers_load(catalog_for(fake_upstream))
    api_key, full_key = new_key(alice)
    ApiKey.objects.filter(pk=api_key.pk).update(requests_per_minute=LIMIT)
    credit(api_key.organization, "10.00")
    first = stack.start_web()
    second_process, second = start_web(env=stack.env, log_dir=stack.log_dir)
    stack.processes.append(second_process)

    answers = []
    with httpx.Client(timeout=30) as client:
        for index in range(3 * LIMIT):
            base = (first, second)[index % 2]
            answers.append(
                client.post(
                    f"{base}/v1/chat/completions",
                    json={
                        "model": "west/chat-a",
                        "messages": [{"role": "user", "content": "Hi"}],
                        "max_tokens": 8,
                    },
                    headers={"Authorization": f"Bearer {full_key}"},
                )
            )

    served = [answer for answer in answers if answer.status_code == 200]
    refused = [answer for answer in answers if answer.status_code != 200]
    # A request comes back every 6 s at 10 a minute; the 30 requests take far less than that.
    assert len(served) == LIMIT, [answer.status_code for answer in answers]
    assert {answer.url.port for answer in served} == {httpx.URL(first).port, httpx.URL(second).port}
    assert all(answer.status_code == 429 for answer in refused)
    assert {answer.url.port for answer in refused} == {httpx.URL(first).port, httpx.URL(second).port}
    for answer in refused:
        assert answer.json()["error"]["type"] == "rate_limit_error"
        assert answer.json()["error"]["code"] == "rate_limit_exceeded"
        assert 1 <= int(answer.headers["retry-after"]) <= 6
        assert answer.headers["x-ratelimit-limit-requests"] == str(LIMIT)
        assert answer.headers["x-ratelimit-remaining-requests"] == "0"
        assert answer.headers["x-ratelimit-reset-requests"].endswith("s")
        assert answer.headers["x-ratelimit-limit-tokens"] == "1000000"
        assert "x-ratelimit-remaining-tokens" in answer.headers
        assert "x-ratelimit-reset-tokens" in answer.headers
    for answer in served:
        assert answer.headers["x-ratelimit-limit-requests"] == str(LIMIT)
        assert 0 <= int(answer.headers["x-ratelimit-remaining-requests"]) < LIMIT
