"""The Conversations pages and the Feedback page."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conversations.models import Conversation
from conversations.services import conversation_create, message_append
from feedback.services import feedback_submit
from tests.billing.helpers import use


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def thread(alice):
    organization = alice.memberships.get().organization
    conversation = conversation_create(
        organization=organization, user=alice, title="Support chat", metadata={"user_id": "u_42"}
    )
    for role, content in [("system", "Be kind."), ("user", "Hello!"), ("assistant", "Hi!"), ("tool", "{}")]:
        message_append(
            organization=organization,
            conversation_id=conversation.id,
            role=role,
            content=content,
            tool_call_id="call_9" if role == "tool" else None,
        )
    return conversation


def test_the_list_searches_and_filters(alice, thread):
    client = signed_in(alice)
    assert "Support chat" in client.get("/conversations/").content.decode()
    assert "Support chat" in client.get("/conversations/?q=support").content.decode()
    assert "Support chat" not in client.get("/conversations/?q=billing").content.decode()
    assert "Support chat" in client.get("/conversations/?key=user_id&value=u_42").content.decode()
    assert "Support chat" not in client.get("/conversations/?key=user_id&value=u_1").content.decode()


def test_the_thread_reads_like_a_chat_with_tool_messages_folded(alice, thread):
    page = signed_in(alice).get(f"/conversations/{thread.id}/").content.decode()
    assert 'class="bubble user"' in page and 'class="bubble assistant"' in page
    assert '<details class="bubble tool"><summary>Tool result · call_9' in page


def test_long_threads_are_paged(alice, thread):
    for index in range(60):
        message_append(
            organization=thread.organization, conversation_id=thread.id, role="user", content=f"m{index}"
        )
    client = signed_in(alice)
    first = client.get(f"/conversations/{thread.id}/")
    assert first.content.decode().count('class="bubble') == 50 and first.context["page"].has_more
    second = client.get(f"/conversations/{thread.id}/?cursor={first.context['page'].next_cursor}")
    assert second.content.decode().count('class="bubble') == 14


def test_rename_and_delete_after_confirmation(alice, thread):
    client = signed_in(alice)
    client.post(f"/conversations/{thread.id}/rename/", {"title": "Renamed"})
    assert Conversation.objects.get(pk=thread.pk).title == "Renamed"
    assert "cannot be undone" in client.get(f"/conversations/{thread.id}/delete/").content.decode()
    assert Conversation.objects.filter(pk=thread.pk).exists()
    client.post(f"/conversations/{thread.id}/delete/")
    assert not Conversation.objects.filter(pk=thread.pk).exists()


def test_an_outsider_gets_404_on_every_page_and_changes_nothing(charlie, thread):
    client = signed_in(charlie)
    for method, path in [
        ("get", f"/conversations/{thread.id}/"),
        ("post", f"/conversations/{thread.id}/rename/"),
        ("get", f"/conversations/{thread.id}/delete/"),
        ("post", f"/conversations/{thread.id}/delete/"),
    ]:
        assert getattr(client, method)(path, {"title": "x"}).status_code == 404, path
    assert "Support chat" not in client.get("/conversations/").content.decode()
    assert Conversation.objects.get(pk=thread.pk).title == "Support chat"


def test_the_conversation_list_page_runs_the_same_queries_for_1_and_25_rows(
    alice, thread, django_assert_num_queries
):
    client = signed_in(alice)
    client.get("/conversations/")
    with CaptureQueriesContext(connection) as captured:
        client.get("/conversations/")
    few = len(captured.captured_queries)
    for index in range(24):
        conversation_create(organization=thread.organization, user=alice, title=f"c{index}")
    with django_assert_num_queries(few):
        client.get("/conversations/")


def test_the_feedback_page_links_comments_to_their_generation(alice, alice_key):
    generation = use(alice_key[0], "nexevo/balanced", served="openai/gpt-4o")
    feedback_submit(
        organization=generation.organization,
        user=alice,
        generation_id=generation.id,
        rating=-1,
        comment="Too long",
        tags=["too_verbose"],
    )
    client = signed_in(alice)
    page = client.get("/feedback/?days=7").content.decode()
    assert "Too long" in page and f'href="/billing/generations/{generation.id}/"' in page and "<rect" in page
    detail = client.get(f"/billing/generations/{generation.id}/").content.decode()
    assert "openai/gpt-4o" in detail and "Too long" in detail


def test_an_outsider_cannot_see_a_generation(charlie, alice_key):
    generation = use(alice_key[0], "nexevo/fast")
    assert signed_in(charlie).get(f"/billing/generations/{generation.id}/").status_code == 404
    assert 'feedback-total">0<' in signed_in(charlie).get("/feedback/").content.decode()


def test_code_keeps_its_indentation_and_metadata_reads_as_json(alice, thread):
    code = "Try this:\n```python\ndef f(rows):\n    for row in rows:\n        yield '<b>'\n```\nDone."
    message_append(
        organization=thread.organization, conversation_id=thread.id, role="assistant", content=code
    )

    page = signed_in(alice).get(f"/conversations/{thread.id}/").content.decode()

    assert (
        '<pre><code data-language="python">def f(rows):\n    for row in rows:\n'
        "        yield &#x27;&lt;b&gt;&#x27;</code></pre>"
    ) in page
    assert "Try this:" in page and "Done." in page
    assert "&quot;user_id&quot;: &quot;u_42&quot;" in page  # JSON, not {'user_id': 'u_42'}
    assert "{&#x27;user_id&#x27;" not in page


def test_a_message_of_unclosed_fences_reads_as_its_text():
    from conversations.templatetags.conversation_format import message_blocks

    fences = "```a\n" * 20_000  # 100,000 characters, the most a message holds, no fence ever closed

    assert message_blocks(fences) == [{"kind": "text", "text": fences.rstrip("\n"), "language": ""}]
    assert message_blocks("```\nx\n```\n```sh\ny") == [
        {"kind": "code", "text": "x", "language": ""},
        {"kind": "text", "text": "```sh\ny", "language": ""},
    ]


def test_a_title_too_long_comes_back_beside_the_field_as_typed(alice, thread):
    response = signed_in(alice).post(f"/conversations/{thread.id}/rename/", {"title": "T" * 201})

    assert response.status_code == 400
    form = response.context["title_form"]
    assert form["title"].value() == "T" * 201
    assert form.errors["title"] and "200" in form.errors["title"][0]
    assert Conversation.objects.get(pk=thread.pk).title == "Support chat"
