"""The official ``openai`` package pointed at our /v1, live (pytest-django's live server), with the
model provider on loopback: what most developers will call us with. Chat, streaming with the usage,
tools with a round trip, the model list, and the package's typed errors for our refusals."""

import openai
import pytest
from openai import OpenAI

from apikeys.services import key_create
from gateway.services import providers_load
from orgs.selectors import personal_organization_of_user
from tests.billing.helpers import credit
from tests.conftest import make_user
from tests.gateway.conftest import catalog_for

HELLO = [{"role": "user", "content": "Hello there"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def served(live_server, transactional_db, fake_upstream):
    fake_upstream.requests.clear()
    providers_load(catalog_for(fake_upstream))
    return fake_upstream


def client_for(live_server, *, balance="5.00", **key_options) -> OpenAI:
    user = make_user(f"dev{len(key_options)}{balance}@example.com")
    organization = personal_organization_of_user(user=user)
    _, full_key = key_create(organization=organization, created_by=user, name="openai", **key_options)
    if balance:
        credit(organization, balance)
    return OpenAI(api_key=full_key, base_url=f"{live_server.url}/v1", max_retries=0, timeout=20)


def test_it_completes_a_chat(served, live_server):
    client = client_for(live_server)

    raw = client.chat.completions.with_raw_response.create(model="nexevo/balanced", messages=HELLO)
    completion = raw.parse()

    assert completion.choices[0].message.content == "word0 word1 word2 word3 word4"
    assert completion.usage.prompt_tokens == 2 and completion.usage.completion_tokens == 5
    nexevo = completion.model_extra["nexevo"]
    assert nexevo["tier"] == "balanced" and nexevo["generation_id"].startswith("gen_")
    assert raw.headers["X-Nexevo-Generation-Id"] == nexevo["generation_id"]


def test_it_streams_with_the_usage(served, live_server):
    client = client_for(live_server)

    chunks = list(
        client.chat.completions.create(
            model="west/chat-a", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )

    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "word0 word1 word2 word3 word4"
    usage = next(chunk.usage for chunk in chunks if chunk.usage is not None)
    assert (usage.prompt_tokens, usage.completion_tokens) == (2, 5)
    assert chunks[-1].model_extra["nexevo"]["model"] == "west/chat-a"
    assert served.requests[-1]["body"]["stream_options"] == {"include_usage": True}


def test_it_passes_tools_and_their_results_through(served, live_server):
    client = client_for(live_server)

    first = client.chat.completions.create(
        model="west/chat-a", messages=HELLO, tools=[WEATHER_TOOL], tool_choice="auto"
    )
    second = client.chat.completions.create(
        model="west/chat-a",
        tools=[WEATHER_TOOL],
        messages=[
            *HELLO,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21°C"},
        ],
    )

    assert first.choices[0].finish_reason == "stop" and second.choices[0].message.content
    sent = [request["body"] for request in served.requests]
    assert sent[0]["tools"] == [WEATHER_TOOL] and sent[0]["tool_choice"] == "auto"
    assert sent[1]["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21°C"}


def test_it_lists_and_retrieves_models(served, live_server):
    client = client_for(live_server)

    listed = {model.id: model for model in client.models.list()}
    retrieved = client.models.retrieve("west/chat-a")

    assert {"nexevo/fast", "nexevo/balanced", "west/chat-a", "east/chat-c"} <= set(listed)
    assert (retrieved.id, retrieved.object, retrieved.owned_by) == ("west/chat-a", "model", "west")
    assert retrieved.model_extra["pricing"]["input_per_million_usd"] == "1.05"  # 1.00 + 5%
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("acme/nothing")


def test_it_answers_a_bad_key_with_an_authentication_error(served, live_server):
    client = OpenAI(api_key="nx_not-a-key", base_url=f"{live_server.url}/v1", max_retries=0)

    with pytest.raises(openai.AuthenticationError) as refused:
        client.chat.completions.create(model="nexevo/fast", messages=HELLO)

    assert refused.value.status_code == 401 and refused.value.code == "invalid_api_key"


def test_it_answers_an_unknown_model_with_a_bad_request_error(served, live_server):
    client = client_for(live_server)

    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="acme/nothing", messages=HELLO)

    assert refused.value.code == "unknown_model" and refused.value.param == "model"


def test_it_answers_an_empty_balance_with_a_402(served, live_server):
    client = client_for(live_server, balance=None)

    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model="nexevo/fast", messages=HELLO)

    assert refused.value.status_code == 402 and refused.value.code == "insufficient_balance"
    assert refused.value.type == "billing_error"


def test_it_answers_a_key_over_its_rate_limit_with_a_rate_limit_error(served, live_server):
    client = client_for(live_server, requests_per_minute=1)
    client.chat.completions.create(model="nexevo/fast", messages=HELLO)

    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="nexevo/fast", messages=HELLO)

    assert refused.value.code == "rate_limit_exceeded"
    assert int(refused.value.response.headers["Retry-After"]) >= 1
