"""The product docs' "Conversation history" snippet and the feedback part of "RLHF Feedback",
verbatim, through the client, live, with the chat call going through the gateway to a model provider
on loopback."""

import pytest
from nexevo import Nexevo
from nexevo._errors import APIError

from billing.models import UsageRecord
from conversations.models import Message
from feedback.models import Feedback
from gateway.services import providers_load
from tests.billing.helpers import credit
from tests.conftest import make_user, new_key
from tests.gateway.conftest import catalog_for


def test_the_conversation_snippet_runs_verbatim(live_server, transactional_db):
    _key, full_key = new_key(make_user("chat@example.com"))
    client = Nexevo(api_key=full_key, base_url=live_server.url)

    # --- from the product docs ---
    conv = client.conversations.create(title="My Session")
    client.conversations.append_message(
        conv["conversation_id"],
        role="user",
        content="Hello!",
    )
    all_convs = client.conversations.list(limit=20)
    detail = client.conversations.get(conv["conversation_id"])
    # --- end ---

    assert [c["title"] for c in all_convs["data"]] == ["My Session"]
    assert [(m["seq"], m["role"], m["content"]) for m in detail["messages"]] == [(1, "user", "Hello!")]
    assert detail["messages_has_more"] is False and Message.objects.count() == 1


def test_the_feedback_snippet_runs_verbatim(live_server, transactional_db, fake_upstream):
    """A real chat completion through the gateway to the provider on loopback, then the feedback."""
    providers_load(catalog_for(fake_upstream))
    api_key, full_key = new_key(make_user("rater@example.com"))
    credit(api_key.organization, "5.00")
    client = Nexevo(api_key=full_key, base_url=live_server.url)

    # --- from the product docs ---
    resp = client.chat.completions.create(
        model="nexevo/balanced",
        messages=[{"role": "user", "content": "Hello!"}],
    )
    gen_id = resp["nexevo"]["generation_id"]
    client.feedback.submit(
        generation_id=gen_id,
        rating=1,
        comment="Helpful!",
        tags=["accurate"],
    )
    summary = client.feedback.summary(days=7)
    # --- end ---

    assert resp["choices"][0]["message"]["content"] == "word0 word1 word2 word3 word4"
    assert resp["nexevo"]["tier"] == "balanced"
    assert UsageRecord.objects.get(pk=gen_id).model == resp["nexevo"]["model"]
    assert (summary["total"], summary["positive"], summary["positive_rate"]) == (1, 1, "1.0000")
    assert summary["by_tag"] == {"accurate": 1}
    assert [(row["model"], row["positive"]) for row in summary["by_model"]] == [(resp["nexevo"]["model"], 1)]
    assert Feedback.objects.get().comment == "Helpful!"


def test_a_streamed_completion_through_the_client(live_server, transactional_db, fake_upstream):
    providers_load(catalog_for(fake_upstream))
    api_key, full_key = new_key(make_user("streamer@example.com"))
    credit(api_key.organization, "5.00")
    client = Nexevo(api_key=full_key, base_url=live_server.url)

    stream = client.chat.completions.create(
        model="nexevo/fast", messages=[{"role": "user", "content": "Hello!"}], stream=True, max_tokens=3
    )
    chunks = list(stream)

    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    assert text == "word0 word1 word2"
    assert chunks[-1]["nexevo"]["generation_id"] == stream.generation_id
    assert UsageRecord.objects.get(pk=stream.generation_id).completion_tokens == 3


def test_chat_errors_raise_with_the_envelope(live_server, transactional_db, fake_upstream):
    providers_load(catalog_for(fake_upstream))
    _key, full_key = new_key(make_user("broke@example.com"))
    client = Nexevo(api_key=full_key, base_url=live_server.url)

    with pytest.raises(APIError) as refused:
        client.chat.completions.create(model="nexevo/fast", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(APIError) as refused_stream:
        client.chat.completions.create(
            model="nexevo/fast", messages=[{"role": "user", "content": "hi"}], stream=True
        )

    assert (refused.value.status_code, refused.value.code) == (402, "insufficient_balance")
    assert (refused_stream.value.status_code, refused_stream.value.code) == (402, "insufficient_balance")
