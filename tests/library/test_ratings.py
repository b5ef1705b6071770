"""Ratings (gateway.ratings): each model's positive rate from feedback and its latency, error rate and
speed from the request log, over all organizations together, refreshed by the hourly job into a table
that GET /v1/models and the library pages read. A figure is published only with at least 20 rows
behind it, from at least 3 organizations that gave at least 5 each, with at least 30% of them left once
the two organizations that gave the most are taken away; rates are rounded to a whole percent and
counts published as buckets (20+, 100+, ...). The attacks are played here: an organization that owns
two others, one with a tiny partner, and one that dwarfs the rest."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apikeys.services import key_create
from gateway.models import ModelRating, RequestStatus
from gateway.ratings import bucket, ratings_refresh
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
    assert (rating.positive_rate, rating.ratings) == (Decimal("0.75"), 20)  # 18 of 24; 24 is "20+"
    ratings = listed_ratings(api_as, three[0])
    assert ratings["positive_rate"] == "0.75" and ratings["ratings"] == "20+"
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

    assert (rating_of().positive_rate, rating_of().ratings) == (Decimal("1.00"), 20)


def test_it_reads_latency_errors_and_speed_from_the_request_log(three, api_as):
    logged(three[0], MODEL, count=8, latency_ms=1000, completion_tokens=100)
    logged(three[1], MODEL, count=8, latency_ms=3000, completion_tokens=300)
    logged(three[2], MODEL, count=8, latency_ms=2000, completion_tokens=50)
    for api_key in three:
        logged(api_key, MODEL, count=2, status=RequestStatus.FAILED, latency_ms=500)
    logged(three[0], MODEL, count=50, status=RequestStatus.REFUSED)  # the caller's, not the model's
    logged(three[1], MODEL, count=50, days_ago=40, latency_ms=90_000)

    ratings_refresh()

    rating = rating_of()
    assert rating.requests == 20  # 30, published as "20+"
    assert rating.error_rate == Decimal("0.20")  # 6 of 30
    assert rating.p50_latency_ms == 2000  # the median of 8 × 1000, 8 × 2000, 8 × 3000
    # (800 + 2400 + 400) tokens over (8 + 24 + 16) seconds
    assert rating.output_tokens_per_second == Decimal("75.0")
    ratings = listed_ratings(api_as, three[0])
    assert ratings["p50_latency_ms"] == 2000 and ratings["error_rate"] == "0.20"
    assert ratings["requests"] == "20+"
    assert ratings["output_tokens_per_second"] == "75.0" and ratings["positive_rate"] is None


def test_the_request_log_figures_need_three_organizations_too(catalog):
    alice = organization_key("alice")
    logged(alice, MODEL, count=40, latency_ms=1234)

    ratings_refresh()

    assert rating_of().p50_latency_ms is None and rating_of().requests is None


def test_a_page_view_reads_the_table_and_computes_nothing(three, api_as):
    for api_key in three:
        rate(api_key, MODEL, up=7)
    ratings_refresh()
    for api_key in three:
        rate(api_key, MODEL, down=3)

    assert listed_ratings(api_as, three[0])["positive_rate"] == "1.00"  # until the job runs again

    ratings_refresh()
    assert listed_ratings(api_as, three[0])["positive_rate"] == "0.70"  # 21 of 30


def test_the_hourly_job_refreshes_them_and_runjobs_runs_it(three):
    for api_key in three:
        rate(api_key, MODEL, up=7)

    out = StringIO()
    call_command("runjobs", "refresh-model-ratings", stdout=out)

    assert out.getvalue().strip() == "refresh-model-ratings: 1"
    assert rating_of().ratings == 20
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


# --- The attacks: what one party can read of another organization's numbers -------------------------


def test_two_organizations_of_ones_own_cannot_subtract_themselves_from_a_third(catalog):
    # One party owns a1 and a2 and knows their 10 ratings; without the rule the published 0.65 of 20
    # would give the victim's 3 up of 10 exactly (0.65 × 20 − 10).
    victim, a1, a2 = (organization_key(name) for name in ("victim", "a1", "a2"))
    rate(victim, MODEL, up=3, down=7)
    rate(a1, MODEL, up=5)
    rate(a2, MODEL, up=5)

    ratings_refresh()

    assert (rating_of().positive_rate, rating_of().ratings) == (None, None)  # 5 of 20 beyond a1 and v


@pytest.mark.parametrize(("victim_up", "victim_down"), [(3, 6), (4, 7), (5, 8)])
def test_what_two_organizations_of_ones_own_see_does_not_tell_the_third(
    catalog, api_as, victim_up, victim_down
):
    # Once the victim gives enough to be published, the attacker's two organizations (5 up, 5 down
    # each) see the same figures whether the victim gave 3 up of 9, 4 of 11 or 5 of 13.
    victim, a1, a2 = (organization_key(name) for name in ("victim", "a1", "a2"))
    rate(victim, MODEL, up=victim_up, down=victim_down)
    rate(a1, MODEL, up=5, down=5)
    rate(a2, MODEL, up=5, down=5)

    ratings_refresh()

    ratings = listed_ratings(api_as, a1)
    assert (ratings["positive_rate"], ratings["ratings"]) == ("0.45", "20+")


@pytest.mark.parametrize("tiny", [1, 4])
def test_a_tiny_third_organization_does_not_make_two_publishable(catalog, tiny):
    # The attacker's 9 and a partner's handful would leave the victim's 10 readable to within the
    # partner's few; an organization that gave fewer than 5 is not counted, so two remain.
    attacker, partner, victim = (organization_key(name) for name in ("attacker", "partner", "victim"))
    rate(attacker, MODEL, up=9)
    rate(partner, MODEL, up=tiny)
    rate(victim, MODEL, up=2, down=8)
    rate(attacker, MODEL, up=1)  # 10 from the attacker, so 20 or more in all

    ratings_refresh()

    assert rating_of().positive_rate is None and rating_of().ratings is None


def test_an_organization_that_dwarfs_the_others_is_not_published_even_with_enough_of_them(three):
    rate(three[0], MODEL, up=3, down=27)  # 30
    rate(three[1], MODEL, up=6)
    rate(three[2], MODEL, up=6)  # 6 of 42 beyond the two largest: 14%

    ratings_refresh()

    assert rating_of().positive_rate is None


def test_latency_and_speed_obey_the_rule_on_the_rows_they_are_read_from(catalog, api_as):
    # a1 and a2 make the requests publishable, but every completed one is the victim's: its median
    # latency and speed would be its own.
    victim, a1, a2 = (organization_key(name) for name in ("victim", "a1", "a2"))
    logged(victim, MODEL, count=10, latency_ms=4321, completion_tokens=77)
    logged(a1, MODEL, count=10, status=RequestStatus.FAILED)
    logged(a2, MODEL, count=10, status=RequestStatus.FAILED)

    ratings_refresh()

    rating = rating_of()
    assert (rating.error_rate, rating.requests) == (Decimal("0.67"), 20)  # 20 of 30, for all of them
    assert rating.p50_latency_ms is None and rating.output_tokens_per_second is None
    ratings = listed_ratings(api_as, a1)
    assert ratings["p50_latency_ms"] is None and ratings["output_tokens_per_second"] is None


def test_latency_is_published_to_two_significant_digits(three):
    for api_key, latency in zip(three, (1234, 1250, 1299), strict=True):
        logged(api_key, MODEL, count=7, latency_ms=latency)

    ratings_refresh()

    assert rating_of().p50_latency_ms == 1300  # the median, 1250, to two significant digits


def test_a_model_that_fails_every_request_shows_its_error_rate(three, api_as, client):
    for api_key in three:
        logged(api_key, MODEL, count=7, status=RequestStatus.FAILED)

    ratings_refresh()

    rating = rating_of()
    assert (rating.error_rate, rating.requests, rating.p50_latency_ms) == (Decimal("1.00"), 20, None)
    assert rating.has_requests and rating.published
    ratings = listed_ratings(api_as, three[0])
    assert (ratings["error_rate"], ratings["requests"], ratings["p50_latency_ms"]) == ("1.00", "20+", None)
    page = client.get(f"/models/{MODEL}/").content.decode()
    assert "100%" in page[page.index('data-testid="ratings"') :]


def test_counts_are_published_as_buckets(catalog, api_as):
    organizations = [organization_key(name) for name in ("a", "b", "c")]
    for api_key in organizations:
        logged(api_key, MODEL, count=40)

    ratings_refresh()

    assert listed_ratings(api_as, organizations[0])["requests"] == "100+"  # 120
    assert [bucket(n) for n in (20, 99, 100, 999, 1_000, 9_999, 10_000, 123_456)] == [
        20,
        20,
        100,
        100,
        1_000,
        1_000,
        10_000,
        10_000,
    ]
