"""GET /v1/models and /v1/models/{id}: the shipped catalog as a key sees it, priced at its plan."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apikeys.models import RoutingPolicy
from apikeys.services import key_create
from billing.models import BillingAccount, Plan
from gateway.models import GatewayModel, OrganizationProviderKey, Provider
from gateway.services import providers_load
from orgs.selectors import personal_organization_of_user
from tests.billing.helpers import credit
from tests.conftest import new_key
from tests.gateway.conftest import chat_request, hello

CATALOG = Path(__file__).resolve().parents[2] / "gateway" / "catalog" / "catalog.json"


@pytest.fixture
def shipped(db):
    call_command("loadproviders", str(CATALOG), stdout=StringIO())


def key_of(user, policy=RoutingPolicy.ANY) -> str:
    organization = personal_organization_of_user(user=user)
    return key_create(organization=organization, created_by=user, name="k", routing_policy=policy)[1]


def listed(api_as, full_key) -> dict:
    response = api_as(full_key).get("/v1/models")
    assert response.status_code == 200, response.content
    return {model["id"]: model for model in response.json()["data"]}


def test_it_ships_sixty_models_from_eight_providers_in_both_regions(shipped, alice, api_as):
    models = listed(api_as, key_of(alice))
    real = {id_: model for id_, model in models.items() if model["provider"] is not None}

    assert len(real) >= 60
    assert len({model["provider"] for model in real.values()}) >= 8
    assert {model["region"] for model in real.values()} == {"cn", "overseas"}
    assert all(model["context_length"] > 0 for model in real.values())
    assert any(model["capabilities"]["vision"] for model in real.values())
    assert any(model["capabilities"]["reasoning"] for model in real.values())
    assert list(models)[:2] == ["nexevo/fast", "nexevo/balanced"]


def test_it_answers_as_openai_does(shipped, alice, api_as):
    body = api_as(key_of(alice)).get("/v1/models").json()

    assert body["object"] == "list" and body["has_more"] is False and body["next_cursor"] is None
    model = next(model for model in body["data"] if model["id"] == "openai/gpt-4o-mini")
    assert {"id", "object", "created", "owned_by"} <= set(model)
    assert (model["object"], model["owned_by"], type(model["created"])) == ("model", "openai", int)
    assert model["ratings"] is None


def test_it_prices_real_models_at_list_plus_the_plans_markup_and_pools_at_its_flat_rates(
    shipped, alice, api_as
):
    models = listed(api_as, key_of(alice))  # pay as you go: 5% markup, fast 0.20/0.60

    assert models["openai/gpt-4o-mini"]["pricing"] == {
        "tier": "passthrough",
        "input_per_million_usd": "0.1575",  # 0.15 + 5%
        "output_per_million_usd": "0.63",
    }
    assert models["nexevo/fast"]["pricing"] == {
        "tier": "fast",
        "input_per_million_usd": "0.20",
        "output_per_million_usd": "0.60",
    }


def test_it_prices_at_the_organizations_own_plan(shipped, alice, api_as):
    full_key = key_of(alice)
    BillingAccount.objects.filter(organization=personal_organization_of_user(user=alice)).update(
        plan=Plan.objects.get(id="scale")
    )

    models = listed(api_as, full_key)

    assert models["openai/gpt-4o-mini"]["pricing"]["input_per_million_usd"] == "0.153"  # 0.15 + 2%
    assert models["nexevo/balanced"]["pricing"]["output_per_million_usd"] == "1.80"


def test_it_prices_a_provider_the_organization_keeps_its_own_key_for_as_byok(shipped, alice, api_as):
    full_key = key_of(alice)
    own = OrganizationProviderKey(
        organization=personal_organization_of_user(user=alice), provider_id="deepseek"
    )
    own.set_api_key("sk-alice-own")
    own.save()

    models = listed(api_as, full_key)

    assert models["deepseek/deepseek-chat"]["pricing"]["tier"] == "byok"
    assert models["openai/gpt-4o"]["pricing"]["tier"] == "passthrough"


def test_a_cn_only_key_sees_only_what_its_policy_allows(shipped, alice, api_as):
    full_key = key_of(alice, RoutingPolicy.CN_ONLY)

    models = listed(api_as, full_key)

    assert {model["region"] for model in models.values()} == {"cn", None}
    assert "deepseek/deepseek-chat" in models and "openai/gpt-4o" not in models
    assert set(models["nexevo/fast"]["candidates"]) == {"deepseek/deepseek-chat", "qwen/qwen-turbo"}
    response = api_as(full_key).get("/v1/models/openai/gpt-4o")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize("path", ["/v1/models/openai/gpt-4o-mini", "/v1/models/openai%2Fgpt-4o-mini"])
def test_it_retrieves_a_model_whose_id_holds_a_slash(shipped, alice, api_as, path):
    response = api_as(key_of(alice)).get(path)

    assert response.status_code == 200
    assert response.json()["id"] == "openai/gpt-4o-mini"
    assert response.json()["pools"] == ["nexevo/fast"]


def test_it_retrieves_a_pool(shipped, alice, api_as):
    response = api_as(key_of(alice)).get("/v1/models/nexevo/balanced")

    assert response.status_code == 200
    pool = response.json()
    assert pool["owned_by"] == "nexevo" and pool["provider"] is None and pool["pools"] == []
    assert "anthropic/claude-sonnet-4-5" in pool["candidates"]


def test_an_unknown_model_is_a_404(shipped, alice, api_as):
    response = api_as(key_of(alice)).get("/v1/models/acme/nothing")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/openai/gpt-4o-mini"])
def test_it_needs_a_key(shipped, api, path):
    response = api.get(path)

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_a_provider_without_a_key_is_listed_switched_off_and_not_routed_to(shipped, alice, api_as):
    api_key, full_key = new_key(alice)
    credit(api_key.organization, "5.00")

    assert not Provider.objects.get(id="deepseek").enabled
    assert listed(api_as, full_key)["deepseek/deepseek-chat"]["available"] is False
    response = chat_request(full_key, hello("deepseek/deepseek-chat"))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "model_unavailable"


def test_a_key_in_the_environment_switches_its_provider_on(db, monkeypatch, alice, api_as):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-from-the-environment")
    call_command("loadproviders", str(CATALOG), stdout=StringIO())

    deepseek = Provider.objects.get(id="deepseek")
    assert deepseek.enabled and deepseek.api_key == "sk-from-the-environment"
    assert not Provider.objects.get(id="openai").enabled
    models = listed(api_as, key_of(alice))
    assert models["deepseek/deepseek-chat"]["available"] is True
    assert models["nexevo/fast"]["available"] is True  # deepseek-chat is one of its candidates


def test_loading_the_catalog_again_changes_nothing(shipped):
    before = list(GatewayModel.objects.values()), list(Provider.objects.values())

    out = StringIO()
    call_command("loadproviders", str(CATALOG), stdout=out)

    assert (list(GatewayModel.objects.values()), list(Provider.objects.values())) == before
    assert "Switched off for want of an API key: openai" in out.getvalue()


def test_the_catalog_file_holds_decimal_strings_only():
    catalog = json.loads(CATALOG.read_text())

    for model in catalog["models"]:
        for field in ("input_per_million_usd", "output_per_million_usd"):
            assert isinstance(model[field], str), (model["id"], field)
    assert all("api_key" not in provider for provider in catalog["providers"])


def many_models(count: int) -> dict:
    price = {"input_per_million_usd": "1.00", "output_per_million_usd": "2.00"}
    return {
        "providers": [
            {"id": f"p{n}", "base_url": "https://p.example/v1", "region": region, "api_key": "sk"}
            for n, region in enumerate(["cn", "overseas", "overseas"])
        ],
        "models": [
            {"id": f"m/model-{n}", "provider": f"p{n % 3}", "capabilities": {"tools": True}, **price}
            for n in range(count)
        ],
        "pools": {"fast": [f"m/model-{n}" for n in range(0, count, 3)], "balanced": ["m/model-1"]},
    }


def test_it_runs_as_many_queries_for_200_models_as_for_10(db, alice, api_as):
    full_key = key_of(alice)
    api_as(full_key).get("/v1/models")  # the first use of a key and an account writes a little more
    counts = []
    for size in (10, 200):
        providers_load(many_models(size))
        client = api_as(full_key)
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/v1/models")
        assert response.status_code == 200 and len(response.json()["data"]) == size + 2
        counts.append(len(queries))

    assert counts[0] == counts[1]
