"""Region policies and the feedback-driven router, through the endpoint."""

from collections import Counter

import pytest

from apikeys.models import ApiKey, RoutingPolicy
from feedback.services import feedback_submit
from gateway import routing
from tests.billing.helpers import credit
from tests.conftest import new_key

from .conftest import chat_request, hello

pytestmark = pytest.mark.django_db

REGION_OF_PROVIDER = {"Bearer sk-west": "overseas", "Bearer sk-east": "cn"}
ALLOWED = {"any": {"cn", "overseas"}, "cn-only": {"cn"}, "overseas-only": {"overseas"}}
MODELS = ["nexevo/fast", "nexevo/balanced", "west/chat-a", "west/chat-b", "east/chat-c"]
MODEL_REGION = {"west/chat-a": "overseas", "west/chat-b": "overseas", "east/chat-c": "cn"}


@pytest.mark.parametrize("policy", RoutingPolicy.values)
def test_a_key_never_reaches_a_provider_outside_its_policy(alice, catalog, policy):
    api_key, full_key = new_key(alice, name=policy)
    ApiKey.objects.filter(pk=api_key.pk).update(routing_policy=policy)
    credit(api_key.organization, "10.00")
    routing.reseed(7)

    for model in MODELS:
        for _ in range(4):
            response = chat_request(full_key, hello(model))
            if model in MODEL_REGION and MODEL_REGION[model] not in ALLOWED[policy]:
                assert response.status_code == 400
                assert response.json()["error"]["code"] == "model_not_allowed_by_routing_policy"
            else:
                assert response.status_code == 200, response.content
                served = response.json()["nexevo"]["model"]
                assert MODEL_REGION[served] in ALLOWED[policy]

    regions = {REGION_OF_PROVIDER[call["authorization"]] for call in catalog.requests}
    assert regions <= ALLOWED[policy]
    assert regions == ALLOWED[policy]  # and every allowed region was used at least once


def test_a_pool_with_nothing_eligible_is_a_503_with_its_own_code(alice, catalog):
    from gateway.models import Provider

    api_key, full_key = new_key(alice)
    ApiKey.objects.filter(pk=api_key.pk).update(routing_policy=RoutingPolicy.CN_ONLY)
    credit(api_key.organization, "10.00")
    Provider.objects.filter(pk="east").update(enabled=False)

    response = chat_request(full_key, hello("nexevo/balanced"))

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "no_eligible_model"
    assert catalog.requests == []


def test_traffic_moves_away_from_a_model_rated_down(alice, catalog, settings):
    """Seeded. Without ratings, 30 requests spread over the three candidates. Then users rate every
    answer of west/chat-b down and every other answer up: within 20 rated requests chat-b's share
    falls, and of the 40 requests after those it serves fewer than 10%."""
    settings.NEXEVO_ROUTER_RATINGS_SECONDS = 0
    routing.reseed(2026)
    api_key, full_key = new_key(alice)
    credit(api_key.organization, "10.00")

    def ask() -> dict:
        return chat_request(full_key, hello("nexevo/balanced")).json()["nexevo"]

    unrated = Counter(ask()["model"] for _ in range(30))
    rated = []
    for _ in range(60):
        answer = ask()
        rated.append(answer["model"])
        feedback_submit(
            organization=api_key.organization,
            user=alice,
            generation_id=answer["generation_id"],
            rating=-1 if answer["model"] == "west/chat-b" else 1,
        )

    assert all(unrated[model] >= 5 for model in ("west/chat-a", "west/chat-b", "east/chat-c")), unrated
    late = Counter(rated[20:])
    assert late["west/chat-b"] < 4, late
    assert late["west/chat-a"] + late["east/chat-c"] > 36
