import json
import random
from collections import Counter
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from billing.models import ModelPrice
from gateway.models import GatewayModel, PoolCandidate, Provider
from gateway.router import choose

PROVIDERS = {
    "providers": [
        {
            "id": "openai",
            "name": "OpenAI",
            "base_url": "https://api.openai.example/v1",
            "region": "overseas",
            "api_key_env": "TEST_OPENAI_KEY",
        },
        {
            "id": "deepseek",
            "name": "DeepSeek",
            "base_url": "https://api.deepseek.example/v1",
            "region": "cn",
            "api_key": "sk-deepseek-secret",
        },
    ],
    "models": [
        {
            "id": "openai/gpt-4o-mini",
            "provider": "openai",
            "upstream_name": "gpt-4o-mini",
            "input_per_million_usd": "0.15",
            "output_per_million_usd": "0.60",
            "context_length": 128000,
        },
        {
            "id": "deepseek/deepseek-chat",
            "provider": "deepseek",
            "input_per_million_usd": "0.27",
            "output_per_million_usd": "1.10",
        },
    ],
    "pools": {
        "fast": ["openai/gpt-4o-mini", "deepseek/deepseek-chat"],
        "balanced": ["deepseek/deepseek-chat"],
    },
}


@pytest.fixture
def provider_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-openai-secret")
    path = tmp_path / "providers.json"
    path.write_text(json.dumps(PROVIDERS))
    return path


def test_loading_twice_gives_the_same_state(db, provider_file):
    out = StringIO()
    call_command("loadproviders", str(provider_file), stdout=out)
    assert "2 provider(s), 2 model(s), 3 pool candidate(s)" in out.getvalue()
    first = (
        list(Provider.objects.values()),
        list(GatewayModel.objects.values()),
        list(PoolCandidate.objects.values()),
    )
    call_command("loadproviders", str(provider_file), stdout=StringIO())
    assert (
        list(Provider.objects.values()),
        list(GatewayModel.objects.values()),
        list(PoolCandidate.objects.values()),
    ) == first
    assert GatewayModel.objects.get(public_id="deepseek/deepseek-chat").upstream_name == "deepseek-chat"
    price = ModelPrice.objects.get(model="openai/gpt-4o-mini")
    assert (str(price.input_per_million_usd), price.region) == ("0.150000", "overseas")


def test_provider_keys_are_encrypted_at_rest(db, provider_file):
    call_command("loadproviders", str(provider_file), stdout=StringIO())
    assert Provider.objects.get(id="openai").api_key == "sk-openai-secret"
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key_encrypted FROM gateway_provider")
        stored = " ".join(row[0] for row in cursor.fetchall())
    assert "sk-openai-secret" not in stored and "sk-deepseek-secret" not in stored


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["providers"][0].update(region="mars"), "region must be one of"),
        (lambda d: d["models"][0].update(provider="nope"), "no provider 'nope'"),
        (lambda d: d["models"][0].update(input_per_million_usd="abc"), "decimal number"),
        (lambda d: d["pools"].update(fast=["acme/unknown"]), "unknown models acme/unknown"),
        (lambda d: d["models"][0].update(context_length="many"), "context_length"),
    ],
)
def test_a_bad_file_is_refused_whole(db, provider_file, change, message):
    data = json.loads(json.dumps(PROVIDERS))
    change(data)
    provider_file.write_text(json.dumps(data))
    with pytest.raises(CommandError, match=message):
        call_command("loadproviders", str(provider_file), stdout=StringIO())
    assert not Provider.objects.exists() and not GatewayModel.objects.exists()


def test_a_provider_whose_key_variable_is_unset_is_loaded_switched_off(db, provider_file, monkeypatch):
    monkeypatch.delenv("TEST_OPENAI_KEY")

    out = StringIO()
    call_command("loadproviders", str(provider_file), stdout=out)

    openai = Provider.objects.get(id="openai")
    assert not openai.enabled and openai.api_key == ""
    assert Provider.objects.get(id="deepseek").enabled
    assert "Switched off for want of an API key: openai" in out.getvalue()


def test_the_router_moves_traffic_away_from_a_model_rated_down():
    candidates = ["a/good", "b/bad", "c/new"]
    rng = random.Random(42)
    before = Counter(choose(candidates, {}, rng)[0] for _ in range(3000))
    assert all(800 < count < 1200 for count in before.values())  # no ratings: an even split
    ratings = {"a/good": (40, 10), "b/bad": (5, 45), "c/new": (0, 0)}
    rng = random.Random(42)
    after = Counter(choose(candidates, ratings, rng)[0] for _ in range(3000))
    assert after["b/bad"] < 30  # under 1% of the traffic once it is rated mostly down
    assert after["a/good"] > 2000 and after["c/new"] > 100  # the unrated one is still tried


def test_the_router_is_reproducible_under_a_seed_and_orders_fall_backs():
    ratings = {"a": (3, 1), "b": (1, 3)}
    assert choose(["a", "b"], ratings, random.Random(7)) == choose(["a", "b"], ratings, random.Random(7))
    assert sorted(choose(["a", "b", "c"], ratings, random.Random(1))) == ["a", "b", "c"]
