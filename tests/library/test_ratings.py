"""Ratings (gateway.ratings): each model's positive rate from feedback and its latency, error rate and
speed from the request log, over all organizations together, refreshed by the hourly job into a table
that GET /v1/models and the library pages read. A figure is published only with at least 20 rows
behind it, from at least 3 organizations, none of which gave more than half of them."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apikeys.services import key_create
from gateway.models import ModelRating, RequestStatus
from gateway.ratings import ratings_refresh
from gateway.services import providers_load
from tests.library.helpers import load_catalog, logged, organization_key, rate, small_catalog

MODEL = "acme/model-0"


@pytest.fixture
def catalog(db):
    load_catalog()


@pytest.fixture
def three(catalog):
    return [organization_key(name) for name in ("alice", "bob", "charlie")]


def rating_of(model=MODEL) -> ModelRating:
    return ModelRating.objects.get(model__public_id=model)


def listed_ratings(api_as, api_key, model=MODEL):
    full_key = key_create(organization=api_key.organization, created_by=api_key.created_by, name="read")[1]
    models = {entry["id"]: entry for entry in api_as(full_key).get("/v1/models").json()["data"]}
    return models[model]["ratings"]


def test_it_publishes_the_positive_rate_of_all_organizations_together(three, api_as):
    rate(three[0], MODEL, up=8)
    rate(three[1], MODEL, up=6, down=2)
    rate(three[2], MODEL, up=4, down=4)

    assert ratings_refresh() == 1

    rating = rating_of()
    assert (rating.positive_rate, rating.ratings) == (Decimal("0.750"), 24)  # 18 of 24
    ratings = listed_ratings(api_as, three[0])
    assert ratings["positive_rate"] == "0.750" and ratings["ratings"] == 24
    assert ratings["window_days"] == 30


def test_it_hides_the_rate_below_20_ratings(three, api_as):
    rate(three[0], MODEL, up=7)
    rate(three[1], MODEL, up=6)
    rate(three[2], MODEL, down=6)  # 19 in all

    ratings_refresh()

    assert (rating_of().positive_rate, rating_of().ratings) == (None, None)
    assert listed_ratings(api_as, three[0]) is None


def test_one_organizations_own_ratings_cannot_be_read(catalog, api_as):
    alice = organization_key("alice")
    rate(alice, MODEL, up=20, down=5)  # 25 ratings, all hers

    ratings_refresh()

    assert rating_of().positive_rate is None and rating_of().ratings is None
    assert listed_ratings(api_as, alice) is None


def test_two_organizations_are_not_enough(catalog):
    alice, bob = organization_key("alice"), organization_key("bob")
    rate(alice, MODEL, up=15)
    rate(bob, MODEL, down=15)  # Bob could subtract his own 15 from the total to get Alice's

    ratings_refresh()

    assert rating_of().positive_rate is None


def test_an_organization_that_gave_most_of_them_cannot_be_read_through_the_others(three):
    rate(three[0], MODEL, up=1, down=29)
    rate(three[1], MODEL, up=1)
    rate(three[2], MODEL, up=1)

    ratings_refresh()

    assert rating_of().positive_rate is None


def test_ratings_older_than_30_days_are_not_counted(three):
    for api_key in three:
        rate(api_key, MODEL, up=7)
    rate(three[0], MODEL, down=10, days_ago=31)

    ratings_refresh()

    assert (rating_of().positive_rate, rating_of().ratings) == (Decimal("1.000"), 21)


def test_it_reads_latency_errors_and_speed_from_the_request_log(three, api_as):
    logged(three[0], MODEL, count=8, latency_ms=1000, completion_tokens=100)
    logged(three[1], MODEL, count=8, latency_ms=3000, completion_tokens=300)
    logged(three[2], MODEL, count=4, latency_ms=2000, completion_tokens=50)
    logged(three[2], MODEL, count=5, status=RequestStatus.FAILED, latency_ms=500)
    logged(three[0], MODEL, count=50, status=RequestStatus.REFUSED)  # the caller's, not the model's
    logged(three[1], MODEL, count=50, days_ago=40, latency_ms=90_000)

    ratings_refresh()

    rating = rating_of()
    assert rating.requests == 25
    assert rating.error_rate == Decimal("0.200")  # 5 of 25
    assert rating.p50_latency_ms == 2000  # the median of 8 × 1000, 4 × 2000, 8 × 3000
    # (800 + 2400 + 200) tokens over (8 + 24 + 8) seconds
    assert rating.output_tokens_per_second == Decimal("85.0")
    ratings = listed_ratings(api_as, three[0])
    assert ratings["p50_latency_ms"] == 2000 and ratings["error_rate"] == "0.200"
    assert ratings["output_tokens_per_second"] == "85.0" and ratings["positive_rate"] is None


def test_the_request_log_figures_need_three_organizations_too(catalog):
    alice = organization_key("alice")
    logged(alice, MODEL, count=40, latency_ms=1234)

    ratings_refresh()

    assert rating_of().p50_latency_ms is None and rating_of().requests is None


def test_a_page_view_reads_the_table_and_computes_nothing(three, api_as):
    for api_key in three:
        rate(api_key, MODEL, up=7)
    ratings_refresh()
    rate(three[0], MODEL, down=3)

    assert listed_ratings(api_as, three[0])["ratings"] == 21  # until the job runs again

    ratings_refresh()
    assert listed_ratings(api_as, three[0])["ratings"] == 24


def test_the_hourly_job_refreshes_them_and_runjobs_runs_it(three):
    for api_key in three:
        rate(api_key, MODEL, up=7)

    out = StringIO()
    call_command("runjobs", "refresh-model-ratings", stdout=out)

    assert out.getvalue().strip() == "refresh-model-ratings: 1"
    assert rating_of().ratings == 21
    assert ModelRating.objects.count() == 3  # one row per model in the catalog


def test_running_the_job_twice_changes_nothing(three):
    for api_key in three:
        rate(api_key, MODEL, up=7)
    ratings_refresh()
    before = list(ModelRating.objects.order_by("pk").values("pk", "positive_rate", "ratings"))

    ratings_refresh()

    assert list(ModelRating.objects.order_by("pk").values("pk", "positive_rate", "ratings")) == before


def test_a_pool_has_no_ratings_of_its_own(three, api_as):
    for api_key in three:
        rate(api_key, MODEL, up=7)
    ratings_refresh()

    assert listed_ratings(api_as, three[0], model="nexevo/fast") is None


def test_models_api_runs_as_many_queries_with_ratings_for_200_models_as_for_10(db, api_as):
    api_key = organization_key("alice")
    full_key = key_create(organization=api_key.organization, created_by=api_key.created_by, name="r")[1]
    api_as(full_key).get("/v1/models")  # the first use of a key writes a little more
    counts = []
    for size in (10, 200):
        providers_load(small_catalog(size))
        ratings_refresh()
        ModelRating.objects.update(p50_latency_ms=900, requests=40)  # every one published
        client = api_as(full_key)
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/v1/models")
        data = response.json()["data"]
        assert len(data) == size + 2 and all(m["ratings"] for m in data if m["provider"])
        counts.append(len(queries))

    assert counts[0] == counts[1]
