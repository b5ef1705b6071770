"""The conversations API: containers with a title and metadata, and their messages."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from conversations.models import Conversation, Message
from tests.conftest import make_user, new_key


@pytest.fixture
def client(api_as, alice_key):
    return api_as(alice_key[1])


def create(client, **body):
    return client.post("/v1/conversations", body, format="json")


def test_create_get_update_delete(client):
    created = create(client, title="My Session", metadata={"user_id": "u_123", "topic": "billing"})
    assert created.status_code == 201
    conversation = created.json()
    assert conversation["conversation_id"].startswith("conv_") and conversation["message_count"] == 0
    conversation_id = conversation["conversation_id"]
    updated = client.patch(f"/v1/conversations/{conversation_id}", {"title": "Renamed"}, format="json").json()
    assert updated["title"] == "Renamed" and updated["metadata"] == {"user_id": "u_123", "topic": "billing"}
    assert client.delete(f"/v1/conversations/{conversation_id}").status_code == 204
    assert client.get(f"/v1/conversations/{conversation_id}").status_code == 404


def test_appending_persists_in_order_and_updates_the_conversation(client):
    conversation_id = create(client, title="t").json()["conversation_id"]
    before = Conversation.objects.get(pk=conversation_id).updated_at
    for role, content in [
        ("system", "Be brief."),
        ("user", "Hello!"),
        ("assistant", "Hi."),
        ("tool", '{"ok": true}'),
    ]:
        response = client.post(
            f"/v1/conversations/{conversation_id}/messages",
            {"role": role, "content": content, "tool_call_id": "call_1" if role == "tool" else None},
            format="json",
        )
        assert response.status_code == 201, response.content
    message = response.json()
    assert (
        message["message_id"].startswith("msg_")
        and message["seq"] == 4
        and message["tool_call_id"] == "call_1"
    )
    detail = client.get(f"/v1/conversations/{conversation_id}?message_limit=2").json()
    assert [m["content"] for m in detail["messages"]] == ["Hi.", '{"ok": true}'] and detail[
        "messages_has_more"
    ]
    assert detail["message_count"] == 4
    assert Conversation.objects.get(pk=conversation_id).updated_at > before


def test_an_append_retried_with_the_same_idempotency_key_creates_one_message(client):
    conversation_id = create(client).json()["conversation_id"]
    url = f"/v1/conversations/{conversation_id}/messages"
    first = client.post(url, {"role": "user", "content": "Hi"}, format="json", HTTP_IDEMPOTENCY_KEY="m-1")
    again = client.post(url, {"role": "user", "content": "Hi"}, format="json", HTTP_IDEMPOTENCY_KEY="m-1")
    assert first.json() == again.json()
    assert Message.objects.filter(conversation_id=conversation_id).count() == 1


def test_messages_page_in_either_order(client):
    conversation_id = create(client).json()["conversation_id"]
    for index in range(25):
        client.post(
            f"/v1/conversations/{conversation_id}/messages",
            {"role": "user", "content": str(index)},
            format="json",
        )
    seen, cursor = [], ""
    while True:
        page = client.get(f"/v1/conversations/{conversation_id}/messages?limit=10&cursor={cursor}").json()
        seen += [m["seq"] for m in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert seen == list(range(1, 26))
    newest = client.get(f"/v1/conversations/{conversation_id}/messages?order=desc&limit=3").json()
    assert [m["seq"] for m in newest["data"]] == [25, 24, 23]


def test_list_newest_activity_first_and_filter_on_metadata(client):
    first = create(client, title="a", metadata={"user_id": "u_1", "tier": 3}).json()["conversation_id"]
    create(client, title="b", metadata={"user_id": "u_2"})
    client.post(f"/v1/conversations/{first}/messages", {"role": "user", "content": "bump"}, format="json")
    listed = client.get("/v1/conversations?limit=20").json()
    assert [c["title"] for c in listed["data"]] == ["a", "b"]
    assert [c["title"] for c in client.get("/v1/conversations?metadata[user_id]=u_2").json()["data"]] == ["b"]
    assert [c["title"] for c in client.get("/v1/conversations?metadata[tier]=3").json()["data"]] == ["a"]
    assert client.get("/v1/conversations?metadata[a__b]=x").status_code == 400


BAD_CREATES = [
    ({"metadata": {"blob": "x" * 4100}}, 400, "metadata_too_large"),
    ({"metadata": ["not", "an", "object"]}, 400, "invalid_metadata"),
    ({"metadata": "text"}, 400, "invalid_metadata"),
    ({"title": "t" * 201}, 400, "title_too_long"),
    ({"title": 5}, 400, "invalid_title"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_CREATES)
def test_bad_conversations_are_refused_and_nothing_is_created(client, body, status, code):
    response = create(client, **body)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert not Conversation.objects.exists()


def test_metadata_of_exactly_4_kb_is_fine(client):
    value = "x" * (4096 - len('{"k":""}'))
    assert create(client, metadata={"k": value}).status_code == 201
    assert create(client, metadata={"k": value + "y"}).status_code == 400


BAD_MESSAGES = [
    ({"role": "robot", "content": "x"}, 400, "invalid_role"),
    ({"role": "user"}, 400, "content_required"),
    ({"role": "user", "content": 42}, 400, "invalid_content"),
    ({"role": "user", "content": "x" * 100_001}, 413, "content_too_large"),
    ({"role": "user", "content": "x", "name": "n" * 65}, 400, "invalid_name"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_MESSAGES)
def test_bad_messages_are_refused_and_nothing_is_appended(client, body, status, code):
    conversation_id = create(client).json()["conversation_id"]
    response = client.post(f"/v1/conversations/{conversation_id}/messages", body, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert not Message.objects.exists() and Conversation.objects.get().message_count == 0


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "cursor=garbage", "order=sideways"])
def test_bad_list_parameters_are_a_400(client, query):
    conversation_id = create(client).json()["conversation_id"]
    assert client.get(f"/v1/conversations/{conversation_id}/messages?{query}").status_code == 400
    if not query.startswith("order"):
        assert client.get(f"/v1/conversations?{query}").status_code == 400


def test_an_outsider_gets_404_everywhere_and_changes_nothing(client, api_as, charlie):
    conversation_id = create(client, title="private").json()["conversation_id"]
    client.post(
        f"/v1/conversations/{conversation_id}/messages", {"role": "user", "content": "hi"}, format="json"
    )
    outsider = api_as(new_key(charlie)[1])
    base = f"/v1/conversations/{conversation_id}"
    for method, path, body in [
        ("get", base, None),
        ("patch", base, {"title": "x"}),
        ("delete", base, None),
        ("get", f"{base}/messages", None),
        ("post", f"{base}/messages", {"role": "user", "content": "x"}),
    ]:
        response = getattr(outsider, method)(path, body, format="json")
        assert response.status_code == 404, (method, path)
    assert outsider.get("/v1/conversations").json()["data"] == []
    conversation = Conversation.objects.get(pk=conversation_id)
    assert (conversation.title, conversation.message_count) == ("private", 1)


def test_any_key_of_the_organization_sees_its_conversations(client, api_as, alice):
    conversation_id = create(client).json()["conversation_id"]
    other = api_as(new_key(alice, name="second")[1])
    assert other.get(f"/v1/conversations/{conversation_id}").status_code == 200


def test_lists_run_the_same_queries_whatever_the_page_holds(client, django_assert_num_queries):
    from django.test.utils import CaptureQueriesContext

    conversation_id = create(client).json()["conversation_id"]
    client.get("/v1/conversations")
    # Counted at once: every request clears Django's query log.
    with CaptureQueriesContext(connection) as captured:
        client.get("/v1/conversations?limit=100")
    few_conversations = len(captured.captured_queries)
    with CaptureQueriesContext(connection) as captured:
        client.get(f"/v1/conversations/{conversation_id}/messages?limit=100")
    few_messages = len(captured.captured_queries)
    for index in range(60):
        create(client, title=str(index))
        client.post(
            f"/v1/conversations/{conversation_id}/messages", {"role": "user", "content": "x"}, format="json"
        )
    assert few_conversations and few_messages
    with django_assert_num_queries(few_conversations):
        assert len(client.get("/v1/conversations?limit=100").json()["data"]) == 61
    with django_assert_num_queries(few_messages):
        assert len(client.get(f"/v1/conversations/{conversation_id}/messages?limit=100").json()["data"]) == 60


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL's row locks")
def test_20_threads_appending_50_messages_each_number_them_1_to_1000(transactional_db):
    from conversations.services import conversation_create, message_append

    user = make_user("chatty@example.com")
    organization = user.memberships.get().organization
    conversation = conversation_create(organization=organization, user=user)

    def append_50(thread):
        for index in range(50):
            try:
                message_append(
                    organization=organization,
                    conversation_id=conversation.id,
                    role="user",
                    content=json.dumps([thread, index]),
                )
            finally:
                # Back to the pool after each append, as a request gives it back: 20 threads and the
                # test's own connection are more than the pool holds at once.
                connections.close_all()

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(append_50, range(20)))
    assert sorted(Message.objects.filter(conversation=conversation).values_list("seq", flat=True)) == list(
        range(1, 1001)
    )
    assert Conversation.objects.get(pk=conversation.pk).message_count == 1000
