"""Cursors that were never given out: a cursor that fails to decode, or that decodes to a value its
column cannot hold (a date that leaves the years 1 to 9999 once moved to UTC, a date without an
offset, a number past the column's range, text PostgreSQL cannot hold), is a 400 ``invalid_cursor``
on every list of the API; pages show the first page with a message, or go back with one. Never a 500.
"""

import base64
import json

import pytest

from conversations.services import conversation_create, message_append
from orgs.models import Invitation
from orgs.selectors import personal_organization_of_user
from tests.orgs.helpers import acme_with


def cursor_of(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


FORGED_DATE_CURSORS = {
    "year 1 east of UTC": ["0001-01-01T00:00:00+01:00", "x"],
    "year 9999 west of UTC": ["9999-12-31T23:59:59-01:00", "x"],
    "no offset": ["2026-01-01T00:00:00", "x"],
    "offset out of range": ["2026-01-01T00:00:00+25:00", "x"],
    "a huge number for the date": [10**30, "x"],
    "a lone surrogate in the id": ["2026-01-01T00:00:00+00:00", "x\ud800"],
    "a NUL in the id": ["2026-01-01T00:00:00+00:00", "x\x00"],
    "a number for the id": ["2026-01-01T00:00:00+00:00", 10**30],
    "too few values": ["2026-01-01T00:00:00+00:00"],
    "not JSON": "not base64 JSON at all",
}
FORGED_SEQ_CURSORS = {
    "huge": [10**30],
    "past a 64-bit integer": [2**63],
    "negative": [-1],
    "text": ["1"],
    "a fraction": [1.5],
    "true": [True],
}


def encoded(values) -> str:
    return values if isinstance(values, str) else cursor_of(values)


@pytest.fixture
def acme(alice, bob):
    organization = acme_with(alice, developer=bob)
    Invitation.objects.create(
        organization=organization,
        email="dana@example.com",
        role="developer",
        invited_by=alice,
        sent_at="2026-01-01T00:00:00Z",
        expires_at="2099-01-01T00:00:00Z",
    )
    return organization


@pytest.fixture
def conversation(alice):
    organization = personal_organization_of_user(user=alice)
    conversation = conversation_create(organization=organization, user=alice, title="Kept")
    for number in range(3):
        message_append(
            organization=organization, conversation_id=conversation.id, role="user", content=f"m{number}"
        )
    return conversation


DATE_KEYED_API_LISTS = [
    "/v1/keys",
    "/v1/conversations",
    "/v1/billing/transactions",
    "/v1/organizations",
    "/v1/organizations/{org}/invitations",
    "/v1/organizations/{org}/members",
]


@pytest.mark.parametrize("path", DATE_KEYED_API_LISTS)
@pytest.mark.parametrize("forged", list(FORGED_DATE_CURSORS))
def test_it_refuses_a_forged_cursor_on_every_date_keyed_api_list(
    api_as, alice_key, acme, conversation, path, forged
):
    client = api_as(alice_key[1])

    response = client.get(path.format(org=acme.id), {"cursor": encoded(FORGED_DATE_CURSORS[forged])})

    assert response.status_code == 400, response.content
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "code": "invalid_cursor",
        "message": "The cursor is not one this endpoint gave out.",
        "param": "cursor",
    }


@pytest.mark.parametrize("forged", list(FORGED_SEQ_CURSORS))
def test_it_refuses_a_forged_cursor_on_the_messages_list(api_as, alice_key, conversation, forged):
    client = api_as(alice_key[1])

    for order in ("asc", "desc"):
        response = client.get(
            f"/v1/conversations/{conversation.id}/messages",
            {"cursor": encoded(FORGED_SEQ_CURSORS[forged]), "order": order},
        )

        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize("path", DATE_KEYED_API_LISTS)
def test_it_takes_a_cursor_at_the_edges_of_the_years_it_can_hold(api_as, alice_key, acme, conversation, path):
    client = api_as(alice_key[1])

    last_id = 1 if path.endswith("/members") else "x"  # memberships are numbered; the rest have ids
    for values in (["9999-12-31T23:59:59.999999+00:00", last_id], ["0001-01-01T00:00:00+00:00", last_id]):
        response = client.get(path.format(org=acme.id), {"cursor": cursor_of(values)})

        assert response.status_code == 200, (values, response.content)
        assert set(response.json()) == {"data", "has_more", "next_cursor"}


def test_it_still_walks_a_list_with_the_cursors_it_gave_out(api_as, alice_key, conversation):
    client = api_as(alice_key[1])
    seen, cursor = [], None
    while True:
        page = client.get(
            f"/v1/conversations/{conversation.id}/messages",
            {"limit": 1, **({"cursor": cursor} if cursor else {})},
        ).json()
        seen += [message["content"] for message in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]

    assert seen == ["m0", "m1", "m2"]


# --- Pages --------------------------------------------------------------------------------------


PAGES = [
    # (address, the cursor's parameter, what the page does with a cursor it did not give out)
    ("/requests/", "cursor", 200),  # the newest requests, with a message
    ("/conversations/", "cursor", 302),  # back to the list, with a message
    ("/organizations/{org}/activity/", "cursor", 302),  # back to the members, with a message
    ("/billing/", "payments_cursor", 302),  # back to Billing, with a message
]


@pytest.mark.parametrize(("path", "param", "status"), PAGES)
@pytest.mark.parametrize("forged", list(FORGED_DATE_CURSORS))
def test_it_answers_a_forged_cursor_on_every_date_keyed_page(
    client, alice, acme, conversation, path, param, status, forged
):
    client.force_login(alice)

    response = client.get(path.format(org=acme.id), {param: encoded(FORGED_DATE_CURSORS[forged])})

    assert response.status_code == status
    if status == 302:
        response = client.get(response["Location"])
    assert "not valid" in response.content.decode() or "not one" in response.content.decode()


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "x", "2026-01-01\x00"])
def test_it_answers_any_usage_day_cursor_on_the_billing_page_without_a_500(client, alice, day):
    client.force_login(alice)

    response = client.get("/billing/", {"usage_cursor": day})

    assert response.status_code in (200, 302, 400)


@pytest.mark.parametrize("forged", list(FORGED_SEQ_CURSORS))
def test_it_answers_a_forged_cursor_on_a_conversation_page_without_a_500(client, alice, conversation, forged):
    client.force_login(alice)

    response = client.get(
        f"/conversations/{conversation.id}/", {"cursor": encoded(FORGED_SEQ_CURSORS[forged])}
    )

    assert response.status_code == 404
