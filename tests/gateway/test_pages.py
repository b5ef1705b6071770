"""The Requests page and a request's detail: what the chat endpoint logged, per organization."""

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apikeys.services import key_create
from billing.services import usage_record
from feedback.services import feedback_submit
from gateway.models import RequestLog
from tests.accounts.helpers import enable_two_factor
from tests.admin_urls import admin_url
from tests.billing.helpers import credit
from tests.conftest import PASSWORD, new_key
from tests.orgs.helpers import acme_with

from .conftest import chat_request, hello

pytestmark = pytest.mark.django_db


def signed_in(user, organization=None) -> Client:
    client = Client()
    client.force_login(user)
    if organization is not None:
        client.post("/organizations/switch/", {"organization_id": organization.id})
    return client


def log(api_key, *, minutes_ago=0, **fields) -> RequestLog:
    """A request as the chat endpoint logs it: by default a served nexevo/balanced call."""
    values = {
        "requested_model": "nexevo/balanced",
        "model": "west/chat-a",
        "provider": "west",
        "tier": "balanced",
        "status": "completed",
        "http_status": 200,
        "attempts": 1,
        "prompt_tokens": 12,
        "completion_tokens": 5,
        "cost_usd": Decimal("0.000025"),
        "latency_ms": 321,
        **fields,
    }
    return RequestLog.objects.create(
        organization=api_key.organization,
        api_key=api_key,
        created_at=timezone.now() - datetime.timedelta(minutes=minutes_ago),
        **values,
    )


def generation_ids(response) -> list[str]:
    return re.findall(r'data-generation-id="(gen_\w+)"', response.content.decode())


@pytest.fixture
def alice_requests(alice):
    """Two keys of Alice's workspace and four requests between them, oldest last."""
    prod, _full = new_key(alice, name="prod")
    batch, _full = new_key(alice, name="batch-jobs")
    return {
        "served": log(prod, minutes_ago=1),
        "passthrough": log(
            batch,
            minutes_ago=2,
            requested_model="east/chat-c",
            model="east/chat-c",
            provider="east",
            tier="passthrough",
            cost_usd=Decimal("0.0042"),
        ),
        "failed": log(
            prod,
            minutes_ago=3,
            status="failed",
            http_status=502,
            error_code="upstream_error",
            model="broken/chat",
            provider="broken",
            tier="passthrough",
            requested_model="broken/chat",
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd=Decimal("0"),
        ),
        "refused": log(
            batch,
            minutes_ago=4,
            status="refused",
            http_status=402,
            error_code="insufficient_balance",
            model="",
            provider="",
            tier="",
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd=Decimal("0"),
        ),
    }


def test_it_lists_every_request_newest_first_with_key_models_tokens_cost_latency_and_status(
    alice, alice_requests
):
    response = signed_in(alice).get("/requests/")

    assert response.status_code == 200
    assert generation_ids(response) == [
        alice_requests[name].id for name in ("served", "passthrough", "failed", "refused")
    ]
    page = response.content.decode()
    served_row = page.split(f'data-generation-id="{alice_requests["served"].id}"')[1].split("</tr>")[0]
    assert ">prod<" in served_row
    assert "nexevo/balanced" in served_row and "→ west/chat-a" in served_row
    assert "12 / 5" in served_row and "$0.000025" in served_row and "321 ms" in served_row
    assert 'class="badge status-completed"' in served_row
    failed_row = page.split(f'data-generation-id="{alice_requests["failed"].id}"')[1].split("</tr>")[0]
    assert 'class="badge status-failed"' in failed_row and "upstream_error" in failed_row
    refused_row = page.split(f'data-generation-id="{alice_requests["refused"].id}"')[1].split("</tr>")[0]
    assert ">batch-jobs<" in refused_row and "insufficient_balance" in refused_row
    assert f'href="/requests/{alice_requests["served"].id}/"' in page


def test_it_filters_by_key_model_tier_and_status(alice, alice_requests):
    client = signed_in(alice)
    prod = alice_requests["served"].api_key_id

    assert generation_ids(client.get("/requests/", {"key": prod})) == [
        alice_requests["served"].id,
        alice_requests["failed"].id,
    ]
    # The model filter matches the model asked for or the one that served it.
    assert generation_ids(client.get("/requests/", {"model": "west/chat-a"})) == [alice_requests["served"].id]
    assert generation_ids(client.get("/requests/", {"model": "nexevo/balanced"})) == [
        alice_requests["served"].id,
        alice_requests["refused"].id,
    ]
    assert generation_ids(client.get("/requests/", {"tier": "passthrough"})) == [
        alice_requests["passthrough"].id,
        alice_requests["failed"].id,
    ]
    assert generation_ids(client.get("/requests/", {"status": "refused"})) == [alice_requests["refused"].id]
    assert generation_ids(client.get("/requests/", {"key": prod, "status": "failed"})) == [
        alice_requests["failed"].id
    ]
    nothing = client.get("/requests/", {"model": "nobody/asked-for-this"})
    assert generation_ids(nothing) == [] and "No requests match these filters." in nothing.content.decode()


def test_it_shows_bad_filter_values_as_form_errors_and_applies_the_good_ones(alice, bob, alice_requests):
    bobs_key, _full = new_key(bob)
    client = signed_in(alice)

    response = client.get(
        "/requests/",
        {"status": "exploded", "tier": "turbo", "key": bobs_key.id, "model": "x" * 500, "cursor": "%%%"},
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"status", "tier", "key", "model"}
    assert len(generation_ids(response)) == 4
    assert "That page link is not valid any more." in response.content.decode()

    mixed = client.get("/requests/", {"status": "failed", "tier": "nonsense"})
    assert generation_ids(mixed) == [alice_requests["failed"].id]


def test_it_pages_by_keyset_without_repeating_or_skipping_rows(alice):
    api_key, _full = new_key(alice)
    made = [log(api_key, minutes_ago=index) for index in range(60)]
    client = signed_in(alice)

    first = client.get("/requests/", {"status": "completed"})
    assert generation_ids(first) == [row.id for row in made[:50]]
    assert 'data-testid="pager-first"' not in first.content.decode()
    older = re.search(r'href="\?([^"]+)" data-testid="pager-next"', first.content.decode()).group(1)
    assert "status=completed" in older

    second = client.get(f"/requests/?{older.replace('&amp;', '&')}")
    assert generation_ids(second) == [row.id for row in made[50:]]
    assert 'data-testid="pager-next"' not in second.content.decode()
    assert 'data-testid="pager-first"' in second.content.decode()


def test_the_list_runs_the_same_queries_for_3_and_60_rows(alice, django_assert_num_queries):
    api_key, _full = new_key(alice)
    other_key, _full = new_key(alice, name="other")
    for index in range(3):
        log(api_key if index % 2 else other_key, minutes_ago=index)
    client = signed_in(alice)
    client.get("/requests/")
    with CaptureQueriesContext(connection) as captured:
        assert len(generation_ids(client.get("/requests/"))) == 3
    few = len(captured.captured_queries)
    assert not any("OFFSET" in query["sql"].upper() for query in captured.captured_queries)

    for index in range(3, 60):
        log(api_key if index % 2 else other_key, minutes_ago=index)
    with django_assert_num_queries(few):
        assert len(generation_ids(client.get("/requests/"))) == 50


def test_a_new_organization_is_told_how_to_make_its_first_request(alice):
    page = signed_in(alice).get("/requests/").content.decode()

    assert 'data-testid="requests-empty"' in page
    assert "curl http://testserver/v1/chat/completions" in page
    assert "Authorization: Bearer $NEXEVO_API_KEY" in page and "nexevo/balanced" in page


def test_the_nav_links_to_the_requests_page(alice):
    page = signed_in(alice).get("/billing/usage/").content.decode()
    assert '<a href="/requests/"' in page


def test_the_detail_shows_every_field_and_links_a_served_generation_and_its_feedback(alice, bob):
    acme = acme_with(alice, developer=bob)
    api_key, _full = key_create(organization=acme, created_by=alice, name="prod")
    credit(acme, "1.00")
    generation = usage_record(
        api_key=api_key,
        requested_model="nexevo/balanced",
        model="west/chat-a",
        prompt_tokens=12,
        completion_tokens=5,
    )
    logged = log(api_key, id=generation.id, cost_usd=generation.cost_usd, stream=True, attempts=2)
    feedback_submit(
        organization=acme,
        user=alice,
        generation_id=generation.id,
        rating=-1,
        comment="Too chatty",
        tags=["verbose"],
    )

    # Bob, a developer of Acme, sees the organization's requests too.
    response = signed_in(bob, acme).get(f"/requests/{logged.id}/")

    assert response.status_code == 200
    page = response.content.decode()
    for expected in [
        logged.id,
        "nexevo/balanced",
        "west/chat-a",
        "prod",
        api_key.display,
        "12 / 5",
        "321 ms",
        "Upstream attempts</th><td>2<",
        "Streamed</th><td>yes<",
        "HTTP status</th><td>200<",
        'class="badge status-completed"',
    ]:
        assert expected in page, expected
    assert f'href="/billing/generations/{logged.id}/"' in page
    assert "👎 Too chatty" in page and ">verbose<" in page and "Alice Archer" in page
    assert signed_in(bob, acme).get(f"/billing/generations/{logged.id}/").status_code == 200


def test_the_detail_of_a_failed_request_shows_its_error_and_no_generation(alice, alice_requests):
    failed = alice_requests["failed"]

    page = signed_in(alice).get(f"/requests/{failed.id}/").content.decode()

    assert "upstream_error" in page and "HTTP status</th><td>502<" in page
    assert "/billing/generations/" not in page
    assert "was not served" in page


def test_charlie_sees_none_of_alices_requests(alice, charlie, alice_requests):
    client = signed_in(charlie)

    assert generation_ids(client.get("/requests/")) == []
    for logged in alice_requests.values():
        assert client.get(f"/requests/{logged.id}/").status_code == 404
    assert client.get("/requests/gen_doesNotExist000000000000/").status_code == 404
    # Filtering by Alice's key is no way in either: it is not one of Charlie's choices.
    response = client.get("/requests/", {"key": alice_requests["served"].api_key_id})
    assert "key" in response.context["form"].errors and generation_ids(response) == []


def test_a_member_sees_the_organization_they_act_in_not_their_other_ones(alice, bob):
    acme = acme_with(alice, developer=bob)
    acme_key, _full = key_create(organization=acme, created_by=alice, name="acme")
    in_acme = log(acme_key)
    bobs_own, _full = new_key(bob)
    in_bobs_workspace = log(bobs_own)

    assert generation_ids(signed_in(bob).get("/requests/")) == [in_bobs_workspace.id]
    client = signed_in(bob, acme)
    assert generation_ids(client.get("/requests/")) == [in_acme.id]
    assert client.get(f"/requests/{in_bobs_workspace.id}/").status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(alice_requests):
    for path in ["/requests/", f"/requests/{alice_requests['served'].id}/"]:
        response = Client().get(path)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], path


def test_requests_made_through_the_endpoint_appear_on_the_page(alice, funded):
    _api_key, full_key = funded
    served = chat_request(full_key, hello("west/chat-a"))
    failed = chat_request(full_key, hello("broken/chat"))
    assert (served.status_code, failed.status_code) == (200, 502)
    served_id = served["X-Nexevo-Generation-Id"]

    client = signed_in(alice)
    listed = client.get("/requests/")
    assert generation_ids(listed)[1] == served_id and len(generation_ids(listed)) == 2
    failed_id = generation_ids(listed)[0]
    assert generation_ids(client.get("/requests/", {"status": "failed"})) == [failed_id]

    detail = client.get(f"/requests/{served_id}/").content.decode()
    assert f'href="/billing/generations/{served_id}/"' in detail and "west/chat-a" in detail
    assert "upstream" in client.get(f"/requests/{failed_id}/").content.decode()


# --- Django admin ---------------------------------------------------------------------------------


@pytest.fixture
def staff_client(charlie):
    charlie.is_staff = charlie.is_superuser = True
    charlie.save()
    _device, codes = enable_two_factor(charlie)
    client = Client()
    client.post("/accounts/login/", {"login": charlie.email, "password": PASSWORD})
    client.post("/accounts/2fa/verify/", {"code": codes[0]})
    return client


def test_staff_read_the_request_log_in_admin_with_search_filters_and_dates(staff_client, alice_requests):
    failed = alice_requests["failed"]

    listing = staff_client.get("/admin/gateway/requestlog/", {"q": "broken/chat", "status__exact": "failed"})
    assert listing.status_code == 200
    body = listing.content.decode()
    assert failed.id in body and alice_requests["served"].id not in body
    assert staff_client.get("/admin/gateway/requestlog/", {"q": failed.id}).status_code == 200
    today = timezone.now()
    by_day = staff_client.get(
        "/admin/gateway/requestlog/",
        {"created_at__year": today.year, "created_at__month": today.month, "tier__exact": "balanced"},
    )
    assert alice_requests["served"].id in by_day.content.decode()

    change = staff_client.get(admin_url(failed))
    assert change.status_code == 200 and "upstream_error" in change.content.decode()
    assert 'name="_save"' not in change.content.decode()
    assert staff_client.get("/admin/gateway/requestlog/add/").status_code == 403
    staff_client.post(admin_url(failed), {"status": "completed"})
    staff_client.post(admin_url(failed, "delete"), {"post": "yes"})
    failed.refresh_from_db()
    assert failed.status == "failed"
