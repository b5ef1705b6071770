"""One input policy for every text field, API and pages (core.text): a lone surrogate ("\\ud800",
which JSON can spell) or a NUL ("\\u0000", which PostgreSQL's text cannot hold) is a 400
``invalid_text`` naming the field, before anything is written. Runs on SQLite and on PostgreSQL."""

import json

import pytest
from django.contrib.auth import get_user_model

from apikeys.models import ApiKey
from billing.models import TopUp
from conversations.models import Conversation, Message
from conversations.services import conversation_create, conversation_update, message_append
from core.errors import ServiceError
from core.models import IdempotencyRecord
from feedback.models import Feedback
from feedback.services import feedback_submit
from orgs.models import Organization
from orgs.selectors import personal_organization_of_user
from tests.billing.helpers import use

BAD_TEXTS = {"lone surrogate": "a\ud800b", "NUL": "a\x00b"}


@pytest.fixture(params=list(BAD_TEXTS))
def bad(request):
    return BAD_TEXTS[request.param]


@pytest.fixture
def alice_api(api_as, alice_key):
    return api_as(alice_key[1])


@pytest.fixture
def conversation(alice):
    return conversation_create(
        organization=personal_organization_of_user(user=alice), user=alice, title="Kept"
    )


def send(client, method: str, path: str, body) -> object:
    """``body`` as JSON text, escapes and all: json.dumps writes "\\ud800" and "\\u0000"."""
    return getattr(client, method)(path, json.dumps(body), content_type="application/json")


def assert_refused(response, param: str | None) -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "invalid_text", param)


# --- The fields the attack run found -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"title": "{bad}"}, "title"),
        ({"metadata": {"topic": "{bad}"}}, "metadata.topic"),
        ({"metadata": {"nested": {"list": ["ok", "{bad}"]}}}, "metadata.nested.list[1]"),
        ({"metadata": {"{bad}": "a key"}}, "metadata"),
    ],
)
def test_it_refuses_bad_text_in_a_new_conversation(alice_api, bad, body, param):
    body = json.loads(json.dumps(body).replace("{bad}", json.dumps(bad)[1:-1]))

    assert_refused(send(alice_api, "post", "/v1/conversations", body), param)
    assert not Conversation.objects.exists()


@pytest.mark.parametrize(
    ("body", "param"), [({"title": "{bad}"}, "title"), ({"metadata": {"k": "{bad}"}}, "metadata.k")]
)
def test_it_refuses_bad_text_in_a_conversation_update(alice_api, conversation, bad, body, param):
    body = json.loads(json.dumps(body).replace("{bad}", json.dumps(bad)[1:-1]))

    assert_refused(send(alice_api, "patch", f"/v1/conversations/{conversation.id}", body), param)
    conversation.refresh_from_db()
    assert (conversation.title, conversation.metadata) == ("Kept", {})


@pytest.mark.parametrize("field", ["content", "name", "tool_call_id"])
def test_it_refuses_bad_text_in_a_message(alice_api, conversation, bad, field):
    body = {"role": "user", "content": "hello", field: bad}

    assert_refused(send(alice_api, "post", f"/v1/conversations/{conversation.id}/messages", body), field)
    assert not Message.objects.exists()


def test_it_refuses_a_bad_checkout_idempotency_key(alice_api, stripe, bad):
    body = {"amount_usd": "20.00", "idempotency_key": bad}

    assert_refused(send(alice_api, "post", "/v1/billing/checkout", body), "idempotency_key")
    assert not TopUp.objects.exists()
    assert not stripe.requests


@pytest.mark.parametrize("field", ["generation_id", "comment"])
def test_it_refuses_bad_text_in_feedback(alice_api, alice_key, bad, field):
    generation = use(alice_key[0], "nexevo/balanced", served="openai/gpt-4o")
    body = {"generation_id": generation.id, "rating": 1, field: bad}

    assert_refused(send(alice_api, "post", "/v1/feedback", body), field)
    assert not Feedback.objects.exists()


def test_it_refuses_bad_text_in_feedback_tags(alice_api, alice_key, bad):
    generation = use(alice_key[0], "nexevo/balanced", served="openai/gpt-4o")
    body = {"generation_id": generation.id, "rating": 1, "tags": ["fine", bad]}

    assert_refused(send(alice_api, "post", "/v1/feedback", body), "tags[1]")
    assert not Feedback.objects.exists()


# --- Every other body, query string and header of the API ---------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "param"),
    [
        ("post", "/v1/organizations", {"name": "{bad}"}, "name"),
        ("post", "/v1/keys", {"name": "{bad}"}, "name"),
        ("patch", "/v1/auth/profile", {"full_name": "{bad}"}, "full_name"),
        ("post", "/v1/billing/plan", {"plan_id": "{bad}"}, "plan_id"),
        ("post", "/v1/conversations", {"unknown": {"deep": "{bad}"}}, "unknown.deep"),
    ],
)
def test_it_refuses_bad_text_anywhere_in_a_json_body(alice_api, alice, bad, method, path, body, param):
    body = json.loads(json.dumps(body).replace("{bad}", json.dumps(bad)[1:-1]))
    organizations, keys = Organization.objects.count(), ApiKey.objects.count()

    assert_refused(send(alice_api, method, path, body), param)
    assert (Organization.objects.count(), ApiKey.objects.count()) == (organizations, keys)
    alice.refresh_from_db()
    assert alice.full_name == "Alice Archer"


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("metadata[topic]=a%00b", "metadata[topic]"),
        ("metadata[a%00b]=x", None),
        ("cursor=%00", "cursor"),
        ("limit=1%00", "limit"),
    ],
)
def test_it_refuses_a_nul_in_an_api_query_string(alice_api, conversation, query, param):
    assert_refused(alice_api.get(f"/v1/conversations?{query}"), param)


def test_it_refuses_a_nul_in_an_idempotency_key_header(alice_api):
    response = alice_api.post(
        "/v1/conversations", {"title": "x"}, format="json", headers={"Idempotency-Key": "a\x00b"}
    )

    assert_refused(response, "Idempotency-Key")
    assert not Conversation.objects.exists() and not IdempotencyRecord.objects.exists()


def test_it_names_no_field_for_a_bad_top_level_key(alice_api, bad):
    response = alice_api.post("/v1/conversations", json.dumps({bad: 1}), content_type="application/json")

    assert_refused(response, None)


def test_it_still_takes_text_that_is_merely_unusual(alice_api):
    title = "emoji 🦜, Cyrillic Жж, a tab\there, U+FFFD \ufffd"

    response = send(alice_api, "post", "/v1/conversations", {"title": title, "metadata": {"ключ": "值"}})

    assert response.status_code == 201
    assert Conversation.objects.get().title == title


# --- The services refuse it too, whoever calls them ---------------------------------------------


def test_it_refuses_bad_text_in_the_conversation_services(alice, conversation, bad):
    organization = personal_organization_of_user(user=alice)
    for call in (
        lambda: conversation_create(organization=organization, user=alice, title=bad),
        lambda: conversation_create(organization=organization, user=alice, metadata={"k": [bad]}),
        lambda: conversation_update(organization=organization, conversation_id=conversation.id, title=bad),
        lambda: message_append(
            organization=organization, conversation_id=conversation.id, role="user", content=bad
        ),
        lambda: message_append(
            organization=organization, conversation_id=conversation.id, role="tool", content="x", name=bad
        ),
    ):
        with pytest.raises(ServiceError) as refused:
            call()
        assert refused.value.code == "invalid_text"
    assert Conversation.objects.count() == 1 and not Message.objects.exists()


def test_it_refuses_bad_text_in_the_feedback_service(alice, alice_key, bad):
    generation = use(alice_key[0], "nexevo/balanced", served="openai/gpt-4o")
    organization = personal_organization_of_user(user=alice)
    for values in ({"generation_id": bad}, {"generation_id": generation.id, "comment": bad}):
        with pytest.raises(ServiceError) as refused:
            feedback_submit(organization=organization, user=alice, **{"rating": 1, **values})
        assert refused.value.code == "invalid_text"
    assert not Feedback.objects.exists()


def test_it_refuses_a_bad_idempotency_key_in_the_checkout_service(alice, stripe, bad):
    from billing.services import checkout_create
    from orgs.selectors import membership_get

    membership = membership_get(user=alice, organization_id=personal_organization_of_user(user=alice).id)
    with pytest.raises(ServiceError) as refused:
        checkout_create(membership=membership, amount_usd="20.00", idempotency_key=bad)

    assert refused.value.code == "invalid_text"
    assert not TopUp.objects.exists()


# --- Pages ---------------------------------------------------------------------------------------


def assert_refused_page(response) -> None:
    assert response.status_code == 400
    assert 'data-testid="error-invalid-text"' in response.content.decode()


def test_it_refuses_a_page_form_with_a_nul_before_the_view(client, alice, conversation):
    client.force_login(alice)

    response = client.post(f"/conversations/{conversation.id}/rename/", {"title": "a\x00b"})

    assert_refused_page(response)
    assert "title contains a NUL character" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.title == "Kept"


def test_it_refuses_a_page_query_string_with_a_nul(client, alice, conversation):
    client.force_login(alice)

    assert_refused_page(client.get("/conversations/", {"q": "a\x00b"}))
    assert_refused_page(client.get("/requests/", {"model": "\x00"}))
    assert client.get("/conversations/", {"q": "Kept"}).status_code == 200


def test_it_refuses_a_nul_in_the_sign_up_form_and_makes_no_account(db, client):
    password = "a long passphrase 42"

    response = client.post(
        "/accounts/signup/", {"email": "new\x00@example.com", "password1": password, "password2": password}
    )

    assert_refused_page(response)
    assert not get_user_model().objects.filter(email__startswith="new").exists()
