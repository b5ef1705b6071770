"""The Usage page: cost, requests or tokens by day and tier, narrowed to one key or one model."""

import csv
import io
import json
import re

import pytest

from apikeys.services import key_create
from orgs.selectors import personal_organization_of_user
from tests.billing.helpers import credit, use
from tests.conftest import new_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_usage(alice):
    """Two keys of Alice's: "prod" used twice on nexevo/fast, "batch" once on a passthrough model."""
    organization = personal_organization_of_user(user=alice)
    credit(organization, "20.00")
    prod, _ = key_create(organization=organization, created_by=alice, name="prod")
    batch, _ = key_create(organization=organization, created_by=alice, name="batch")
    use(prod, prompt=1000, completion=500)
    use(prod, prompt=3000, completion=0)
    use(batch, model="openai/gpt-4o-mini", prompt=100, completion=100)
    return {"prod": prod, "batch": batch}


def tooltips(page: str) -> list[dict]:
    return [json.loads(tip.replace("&quot;", '"')) for tip in re.findall(r'data-tip="([^"]*)"', page)]


def test_it_narrows_to_one_key(client, alice, alices_usage):
    client.force_login(alice)

    totals = client.get(f"/billing/usage/?key={alices_usage['batch'].id}").context["usage"]["totals"]

    assert totals["requests"] == 1
    assert totals["by_tier"]["passthrough"]["requests"] == 1
    assert totals["by_tier"]["fast"]["requests"] == 0


def test_it_narrows_to_one_model_and_keeps_the_filters_in_every_link(client, alice, alices_usage):
    client.force_login(alice)

    response = client.get("/billing/usage/?days=7&metric=tokens&model=openai/gpt-4o-mini")

    assert response.context["usage"]["totals"]["requests"] == 1
    page = response.content.decode()
    assert 'href="?days=90&amp;metric=tokens&amp;model=openai%2Fgpt-4o-mini"' in page
    assert 'href="?days=7&amp;metric=cost&amp;model=openai%2Fgpt-4o-mini"' in page


def test_it_charts_requests_and_tokens_as_well_as_cost(client, alice, alices_usage):
    client.force_login(alice)

    today = {
        metric: tooltips(client.get(f"/billing/usage/?days=7&metric={metric}").content.decode())[-1]
        for metric in ("cost", "requests", "tokens")
    }

    assert today["requests"]["total"] == ["Total", "3"]
    assert today["tokens"]["total"] == ["Total", "4,700"]  # 1,500 + 3,000 + 200
    fast_cost = dict((label, value) for label, value, _css in today["cost"]["rows"])["Fast"]
    assert fast_cost.startswith("$") and fast_cost != "$0.00"


def test_it_draws_3_to_5_gridlines_and_at_most_8_date_labels_for_90_days(client, alice, alices_usage):
    client.force_login(alice)

    chart = client.get("/billing/usage/?days=90").context["chart"]

    assert 3 <= len(chart["gridlines"]) <= 5
    assert len(chart["x_labels"]) <= 8
    assert len(chart["columns"]) == 90


def test_it_answers_unknown_filters_with_the_defaults_not_an_error(client, alice, charlie, alices_usage):
    charlies_key, _ = new_key(charlie)
    client.force_login(alice)

    response = client.get(
        "/billing/usage/", {"days": "9999", "metric": "<script>", "key": charlies_key.id, "model": "x" * 500}
    )

    assert response.status_code == 200
    view = response.context["view"]
    assert (view.days, view.metric, view.key_id) == (30, "cost", None)
    assert "<script>" not in response.content.decode()
    # "²" is a digit to str.isdigit(), not to int().
    for query in ({"days": "²"}, {"days": "٣"}):
        assert client.get("/billing/usage/", query).status_code == 200, query
        assert client.get("/billing/usage.csv", query).status_code == 200, query
    # PostgreSQL's text cannot hold NUL: the input policy refuses it before the view (core.text).
    for query in ({"model": "gpt\x00"}, {"key": "\x00"}):
        assert client.get("/billing/usage/", query).status_code == 400, query
        assert client.get("/billing/usage.csv", query).status_code == 400, query
    assert client.get("/feedback/", {"days": "²"}).status_code == 200


def test_charlie_sees_nothing_of_alices_usage_even_naming_her_key(client, charlie, alices_usage):
    client.force_login(charlie)

    response = client.get(f"/billing/usage/?key={alices_usage['prod'].id}")

    assert response.status_code == 200
    assert response.context["usage"]["totals"]["requests"] == 0
    assert "prod" not in response.context["keys"].values()
    csv_body = b"".join(client.get(f"/billing/usage.csv?key={alices_usage['prod'].id}").streaming_content)
    assert all(row["requests"] == "0" for row in csv.DictReader(io.StringIO(csv_body.decode())))


def test_the_csv_follows_the_filters(client, alice, alices_usage):
    client.force_login(alice)

    body = b"".join(client.get(f"/billing/usage.csv?days=7&key={alices_usage['prod'].id}").streaming_content)

    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert sum(int(row["requests"]) for row in rows) == 2
    assert {row["tier"] for row in rows if row["requests"] != "0"} == {"fast"}
