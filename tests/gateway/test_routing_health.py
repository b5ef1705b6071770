"""The router's health signal (gateway.router): provider faults only, never the caller's input or our
own failures, and no organization weighing more than ``ORGANIZATION_WEIGHT`` ratings of a model,
whether by rating answers down or by sending requests that make a provider fail."""

import datetime

import pytest
from django.utils import timezone

from feedback.services import feedback_submit
from gateway import routing
from gateway.models import Provider, RequestLog, RequestStatus
from gateway.router import ORGANIZATION_WEIGHT
from tests.billing.helpers import credit, use
from tests.conftest import make_user, new_key

from .conftest import chat_request, hello

pytestmark = pytest.mark.django_db

POOL = ["west/chat-a", "west/chat-b", "east/chat-c"]


@pytest.fixture
def mallory(db):
    return make_user("mallory@example.com", full_name="Mallory Moss")


def funded_key(user):
    api_key, full_key = new_key(user)
    credit(api_key.organization, "10.00")
    return api_key, full_key


def served_models(full_key: str, count: int, *, seed: int) -> list[str]:
    routing.reseed(seed)
    models = []
    for _ in range(count):
        response = chat_request(full_key, hello("nexevo/balanced"))
        assert response.status_code == 200, response.content
        models.append(response.json()["nexevo"]["model"])
    return models


def test_it_leaves_another_organizations_routing_unchanged_after_40_caller_caused_failures(
    charlie, mallory, catalog, settings
):
    """The issue's attack: 40 requests with a lone surrogate in ``user`` (a 502 ``upstream_error``
    counted against the model before: another organization's traffic moved from 65% to 5%)."""
    settings.NEXEVO_ROUTER_RATINGS_SECONDS = 0
    _charlies, charlies_full = funded_key(charlie)
    _mallorys, mallorys_full = funded_key(mallory)
    before = served_models(charlies_full, 40, seed=2026)

    for _ in range(40):
        response = chat_request(
            mallorys_full,
            b'{"model": "nexevo/balanced", "user": "\\ud800", '
            + b'"messages": [{"role": "user", "content": "hi"}]}',
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_text"

    assert served_models(charlies_full, 40, seed=2026) == before
    assert len(set(before)) == 3  # the comparison means something: all three candidates served


def test_it_counts_provider_faults_and_nothing_the_caller_or_the_gateway_caused(charlie, catalog, settings):
    settings.NEXEVO_ROUTER_RATINGS_SECONDS = 0
    api_key, _full = funded_key(charlie)
    caller_or_ours = [
        "upstream_rejected",  # the provider refused the caller's request as invalid (a 4xx)
        "invalid_text",
        "invalid_type",
        "json_too_deep",
        "spend_cap_exceeded",
        "client_disconnected",
        "internal_error",
    ]
    for code in caller_or_ours:
        for _ in range(5):
            logged(api_key, "west/chat-b", code)
    assert routing.ratings(POOL)["west/chat-b"] == (0, 0)

    for code in routing.PROVIDER_FAULTS:
        logged(api_key, "west/chat-b", code)
    assert routing.ratings(POOL)["west/chat-b"] == (0, len(routing.PROVIDER_FAULTS))


def logged(api_key, model: str, code: str, *, minutes_ago: int = 1) -> RequestLog:
    return RequestLog.objects.create(
        organization_id=api_key.organization_id,
        api_key=api_key,
        created_at=timezone.now() - datetime.timedelta(minutes=minutes_ago),
        requested_model="nexevo/balanced",
        model=model,
        provider=model.split("/")[0],
        tier="balanced",
        status=RequestStatus.FAILED,
        http_status=502,
        error_code=code,
    )


def test_one_organization_moves_a_model_by_at_most_its_weight_of_ratings(
    alice, charlie, mallory, catalog, settings
):
    """Alice and Charlie rate west/chat-b up. Mallory then rates 60 of its answers down and sends 30
    requests to it while its provider fails: all of that weighs as 20 thumbs-down, no more."""
    settings.NEXEVO_ROUTER_RATINGS_SECONDS = 0
    for user, count in ((alice, 12), (charlie, 8)):
        api_key, _full = funded_key(user)
        for _ in range(count):
            rate(user, api_key, "west/chat-b", 1)
    before = routing.ratings(POOL)
    assert before["west/chat-b"] == (20, 0)

    mallorys, mallorys_full = funded_key(mallory)
    for _ in range(3 * ORGANIZATION_WEIGHT):
        rate(mallory, mallorys, "west/chat-b", -1)
    Provider.objects.filter(pk="west").update(base_url=catalog.url("fail"))
    for _ in range(30):
        assert chat_request(mallorys_full, hello("west/chat-b")).status_code == 502

    after = routing.ratings(POOL)
    assert after["west/chat-b"] == pytest.approx((20, ORGANIZATION_WEIGHT))
    assert after["west/chat-a"] == after["east/chat-c"] == (0, 0)
    # Mallory's faults were counted (they are the provider's): scaled with its thumbs to its weight.
    assert (
        RequestLog.objects.filter(
            organization_id=mallorys.organization_id, error_code="upstream_error"
        ).count()
        == 30
    )


def test_one_organizations_own_mix_is_kept_when_it_is_scaled_down(alice, catalog, settings):
    settings.NEXEVO_ROUTER_RATINGS_SECONDS = 0
    api_key, _full = funded_key(alice)
    for rating in [1] * 30 + [-1] * 10:
        rate(alice, api_key, "east/chat-c", rating)

    assert routing.ratings(POOL)["east/chat-c"] == pytest.approx((15, 5))


def rate(user, api_key, model: str, rating: int) -> None:
    generation = use(api_key, "nexevo/balanced", served=model, prompt=3, completion=5)
    feedback_submit(organization=api_key.organization, user=user, generation_id=generation.id, rating=rating)
