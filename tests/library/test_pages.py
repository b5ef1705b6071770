"""The Model library's pages: public (no sign-in), the list with its search, filters, order and pages,
one model, and two to four compared side by side, priced at the caller's plan or, signed out, at the
list price plus the standard markup; a constant number of queries whatever the size of the catalog."""

import re
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import BillingAccount, ModelPrice, Plan
from gateway.models import GatewayModel, ModelRating, OrganizationProviderKey
from gateway.services import providers_load
from orgs.selectors import personal_organization_of_user
from tests.library.helpers import small_catalog

CATALOG = Path(__file__).resolve().parents[2] / "gateway" / "catalog" / "catalog.json"


@pytest.fixture
def shipped(db):
    call_command("loadproviders", str(CATALOG), stdout=StringIO())


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def listed(response) -> list[str]:
    return re.findall(r'data-model-id="([^"]+)"', response.content.decode())


def publish(model_id: str, *, positive_rate: str, ratings: int, p50_latency_ms=None):
    ModelRating.objects.update_or_create(
        model=GatewayModel.objects.get(public_id=model_id),
        defaults={
            "positive_rate": Decimal(positive_rate),
            "ratings": ratings,
            "p50_latency_ms": p50_latency_ms,
            "computed_at": timezone.now(),
        },
    )


# --- The list ----------------------------------------------------------------------------------------


def test_it_lists_the_whole_catalog_to_a_visitor_who_is_not_signed_in(shipped, client):
    response = client.get("/models/")

    assert response.status_code == 200
    ids = listed(response)
    assert len(ids) == 50  # the first page
    assert "71 models" in response.content.decode()
    assert ids == sorted(ids)
    assert "Not served now" in response.content.decode()  # providers without a key: listed, marked


def test_the_second_page_holds_the_rest(shipped, client):
    first, second = listed(client.get("/models/")), listed(client.get("/models/?page=2"))

    assert len(second) == 21 and not set(first) & set(second)


def test_it_searches_names_ids_and_providers(shipped, client):
    by_name = listed(client.get("/models/", {"q": "sonnet"}))
    by_provider = listed(client.get("/models/", {"q": "moonshot"}))
    two_words = listed(client.get("/models/", {"q": "claude opus"}))

    assert by_name and all("sonnet" in model_id for model_id in by_name)
    assert by_provider and all(model_id.startswith("moonshot") for model_id in by_provider)
    assert two_words and all("opus" in model_id for model_id in two_words)


def test_it_filters_by_provider_region_capability_and_context(shipped, client):
    deepseek = listed(client.get("/models/", {"provider": "deepseek"}))
    china = listed(client.get("/models/", {"region": "cn"}))
    seeing_and_reasoning = listed(client.get("/models/", {"capability": ["vision", "reasoning"]}))
    long_context = listed(client.get("/models/", {"min_context": "1000000"}))

    assert deepseek and all(model_id.startswith("deepseek/") for model_id in deepseek)
    assert "deepseek/deepseek-chat" in china and not any(m.startswith("openai/") for m in china)
    models = {model.public_id: model for model in GatewayModel.objects.all()}
    assert seeing_and_reasoning and all(
        models[m].supports_vision and models[m].supports_reasoning for m in seeing_and_reasoning
    )
    assert long_context and all(models[m].context_length >= 1_000_000 for m in long_context)


def test_served_now_shows_only_models_whose_provider_is_switched_on(shipped, client, monkeypatch):
    assert listed(client.get("/models/", {"available": "on"})) == []

    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-deepseek")
    call_command("loadproviders", str(CATALOG), stdout=StringIO())

    served = listed(client.get("/models/", {"available": "on"}))
    assert served and all(model_id.startswith("deepseek/") for model_id in served)


def test_it_sorts_by_price_context_and_rating(shipped, client):
    publish("openai/gpt-4o", positive_rate="0.700", ratings=40)
    publish("deepseek/deepseek-chat", positive_rate="0.950", ratings=25)

    by_price = listed(client.get("/models/", {"sort": "price", "provider": "openai"}))
    by_price_high = listed(client.get("/models/", {"sort": "price_high", "provider": "openai"}))
    by_context = listed(client.get("/models/", {"sort": "context"}))
    by_rating = listed(client.get("/models/", {"sort": "rating"}))

    models = {model.public_id: model for model in GatewayModel.objects.all()}
    prices = {price.model: price.input_per_million_usd for price in ModelPrice.objects.all()}
    assert [prices[m] for m in by_price] == sorted(prices[m] for m in by_price)
    assert by_price_high[0] == by_price[-1]
    contexts = [models[m].context_length for m in by_context]
    assert contexts == sorted(contexts, reverse=True)
    assert by_rating[:2] == ["deepseek/deepseek-chat", "openai/gpt-4o"]  # rated first, best first


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"region": "mars"}, "“mars” is not one of the choices"),
        ({"provider": "acme-unknown"}, "“acme-unknown” is not one of the choices"),
        ({"min_context": "lots"}, "“lots” is not one of the choices"),
        ({"capability": "telepathy"}, "“telepathy” is not one of the choices"),
        ({"sort": "random"}, "“random” is not a way to sort"),
        ({"q": "x" * 101}, "at most 100 characters"),
    ],
)
def test_a_bad_filter_value_is_said_beside_its_field_and_the_others_still_apply(
    shipped, client, query, message
):
    response = client.get("/models/", {**query, "provider": query.get("provider", "openai")})

    assert response.status_code == 200
    assert message in response.content.decode()
    ids = listed(response)
    if "provider" not in query:
        assert ids and all(model_id.startswith("openai/") for model_id in ids)


def test_no_match_and_an_empty_catalog_each_say_so(db, client):
    empty = client.get("/models/")
    assert empty.status_code == 200 and "The library is empty" in empty.content.decode()

    call_command("loadproviders", str(CATALOG), stdout=StringIO())
    nothing = client.get("/models/", {"q": "no such model anywhere"})
    assert nothing.status_code == 200 and "No model matches these filters." in nothing.content.decode()


def test_a_rating_is_shown_only_once_published(shipped, client):
    publish("openai/gpt-4o", positive_rate="0.875", ratings=24)
    ModelRating.objects.create(  # what the job writes below 20 ratings: no figure
        model=GatewayModel.objects.get(public_id="openai/gpt-4o-mini"), computed_at=timezone.now()
    )

    page = client.get("/models/", {"provider": "openai"}).content.decode()

    row = page[page.index('data-model-id="openai/gpt-4o"') :]
    assert "87.5%" in row[: row.index("</li>")]
    mini = page[page.index('data-model-id="openai/gpt-4o-mini"') :]
    assert "Not enough ratings yet" in mini[: mini.index("</li>")]


# --- Prices: the caller's plan, or the list price plus the standard markup ---------------------------


def test_a_visitor_sees_the_list_price_plus_the_standard_markup(shipped, client):
    page = client.get("/models/openai/gpt-4o-mini/").content.decode()

    assert Plan.objects.get(is_default=True).passthrough_markup_pct == 5
    assert "$0.1575" in page and "$0.63" in page  # 0.15 and 0.60 + 5%
    assert "Log in to see your plan" in page


def test_a_signed_in_caller_sees_the_prices_of_their_plan(shipped, alice):
    BillingAccount.objects.filter(organization=personal_organization_of_user(user=alice)).update(
        plan=Plan.objects.get(id="scale")
    )

    page = signed_in(alice).get("/models/openai/gpt-4o-mini/").content.decode()

    assert "$0.153" in page and "$0.612" in page  # + 2%
    assert "at your plan, Scale" in page


def test_an_organizations_own_key_prices_its_provider_as_byok_for_it_and_nobody_else(shipped, alice, charlie):
    own = OrganizationProviderKey(
        organization=personal_organization_of_user(user=alice), provider_id="deepseek"
    )
    own.set_api_key("sk-alice-own")
    own.save()

    alices = signed_in(alice).get("/models/deepseek/deepseek-chat/").content.decode()
    charlies = signed_in(charlie).get("/models/deepseek/deepseek-chat/").content.decode()

    assert "own key: the plan" in alices
    assert "own key: the plan" not in charlies and "List price plus" in charlies


# --- One model ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/models/anthropic/claude-sonnet-4-5/", "/models/anthropic%2Fclaude-sonnet-4-5/"]
)
def test_a_models_page(shipped, client, path):
    publish("anthropic/claude-sonnet-4-5", positive_rate="0.912", ratings=240, p50_latency_ms=1800)

    response = client.get(path)

    page = response.content.decode()
    assert response.status_code == 200
    assert "Claude Sonnet 4.5" in page and "200,000 tokens" in page and "nexevo/balanced" in page
    assert "91.2%" in page and "1800 ms" in page
    assert '"model": "anthropic/claude-sonnet-4-5"' in page  # the example call
    assert "answered 503 model_unavailable" in page  # its provider has no key here


def test_an_unknown_model_is_a_404(shipped, client):
    assert client.get("/models/acme/nothing/").status_code == 404


# --- Compare -----------------------------------------------------------------------------------------

THREE = "openai/gpt-4o,anthropic/claude-sonnet-4-5,deepseek/deepseek-chat"


def test_it_compares_three_models_with_exact_prices_and_the_cost_of_a_thousand_requests(shipped, client):
    response = client.get("/models/compare/", {"ids": THREE})

    assert response.status_code == 200
    page = response.content.decode()
    cells = dict.fromkeys(["compare-input", "compare-output", "compare-cost"])
    for name in cells:
        cells[name] = re.findall(rf'data-testid="{name}">([^<]+)<', page)
    # List prices (gpt-4o 2.50/10.00, Sonnet 3.00/15.00, DeepSeek's) plus 5%, per million tokens.
    assert cells["compare-input"][:2] == ["$2.625", "$3.15"]
    assert cells["compare-output"][:2] == ["$10.50", "$15.75"]
    # 1,000 × (1,000 × 2.625 + 500 × 10.50) / 1M = 7.875; 1,000 × (1,000 × 3.15 + 500 × 15.75) / 1M = 11.025
    assert cells["compare-cost"][:2] == ["$7.875", "$11.025"]
    assert len(cells["compare-cost"]) == 3


def test_the_cost_of_a_thousand_requests_is_what_they_would_be_charged(shipped, client):
    # One gpt-4o-mini request: (1,000 × 0.1575 + 500 × 0.63) / 1M = 0.0004725, charged 0.000472
    # (micro-dollars, half to even, billing.pricing); a thousand of them 0.472.
    page = client.get("/models/compare/", {"ids": "openai/gpt-4o-mini,openai/gpt-4o"}).content.decode()

    assert re.findall(r'data-testid="compare-cost">([^<]+)<', page)[0] == "$0.472"


def test_the_list_pages_checkboxes_send_ids_one_by_one(shipped, client):
    response = client.get("/models/compare/?ids=openai/gpt-4o&ids=deepseek/deepseek-chat")

    assert response.status_code == 200
    assert len(re.findall(r'data-testid="compare-cost"', response.content.decode())) == 2


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ("", "Pick from 2 to 4 models to compare; 0 were picked."),
        ("openai/gpt-4o", "Pick from 2 to 4 models to compare; 1 were picked."),
        ("openai/gpt-4o,openai/gpt-4o", "Pick from 2 to 4 models to compare; 1 were picked."),
        (THREE + ",openai/gpt-4o-mini,openai/gpt-4.1", "Pick from 2 to 4 models to compare; 5 were picked."),
        ("openai/gpt-4o,acme/nothing", "Not in the library: acme/nothing."),
    ],
)
def test_a_bad_choice_of_models_to_compare_is_a_400_that_says_why(shipped, client, ids, message):
    response = client.get("/models/compare/", {"ids": ids})

    assert response.status_code == 400
    assert message in response.content.decode()


# --- Navigation, and the page's own resources -------------------------------------------------------


def test_both_navigations_link_to_the_library(shipped, client, alice):
    assert 'href="/models/"' in client.get("/accounts/login/").content.decode()
    dashboard = signed_in(alice).get("/dashboard/").content.decode()
    assert re.search(r'<a href="/models/"[^>]*>.*Model library', dashboard)
    library = signed_in(alice).get("/models/").content.decode()
    assert re.search(r'<a href="/models/" aria-current="page">', library)


@pytest.mark.parametrize("path", ["/models/", "/models/openai/gpt-4o/", f"/models/compare/?ids={THREE}"])
def test_the_pages_carry_no_inline_script_or_style(shipped, client, path):
    page = client.get(path).content.decode()

    assert "<style" not in page and " style=" not in page
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", page))


# --- Queries -----------------------------------------------------------------------------------------


def query_counts(client, path_of) -> list[int]:
    counts = []
    for size in (10, 200):
        providers_load(small_catalog(size))
        for model in GatewayModel.objects.all():  # every one rated, so the ratings are read too
            ModelRating.objects.update_or_create(
                model=model,
                defaults={"positive_rate": Decimal("0.9"), "ratings": 30, "computed_at": timezone.now()},
            )
        client.get(path_of(size))  # a first request may write a session or an account
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path_of(size))
        assert response.status_code == 200, response.content
        counts.append(len(queries))
    return counts


@pytest.mark.parametrize("who", ["visitor", "alice"])
def test_the_list_runs_as_many_queries_for_200_models_as_for_10(db, who, request):
    client = signed_in(request.getfixturevalue("alice")) if who == "alice" else Client()

    counts = query_counts(client, lambda size: "/models/?sort=rating")

    assert counts[0] == counts[1]


@pytest.mark.parametrize("who", ["visitor", "alice"])
def test_compare_runs_as_many_queries_for_200_models_as_for_10(db, who, request):
    client = signed_in(request.getfixturevalue("alice")) if who == "alice" else Client()

    counts = query_counts(
        client, lambda size: f"/models/compare/?ids=acme/model-0,lotus/model-{size - 1},acme/model-{size - 2}"
    )

    assert counts[0] == counts[1]
