"""The product docs' "Conversation history" snippet and the feedback part of "RLHF Feedback",
verbatim, through the client, live. The feedback is on a generation recorded through the billing
service (the chat endpoint that makes them comes later)."""

from nexevo import Nexevo

from conversations.models import Message
from feedback.models import Feedback
from tests.billing.helpers import use
from tests.conftest import make_user, new_key


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


def test_the_feedback_snippet_runs_verbatim(live_server, transactional_db):
    api_key, full_key = new_key(make_user("rater@example.com"))
    client = Nexevo(api_key=full_key, base_url=live_server.url)
    gen_id = use(api_key, "nexevo/balanced", served="openai/gpt-4o").id

    # --- from the product docs (after the chat call) ---
    client.feedback.submit(
        generation_id=gen_id,
        rating=1,
        comment="Helpful!",
        tags=["accurate"],
    )
    summary = client.feedback.summary(days=7)
    # --- end ---

    assert (summary["total"], summary["positive"], summary["positive_rate"]) == (1, 1, "1.0000")
    assert summary["by_tag"] == {"accurate": 1}
    assert Feedback.objects.get().comment == "Helpful!"
