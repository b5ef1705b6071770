"""Feedback on generations: submit (replacing a user's earlier rating), the summary, the router's counts."""

import pytest

from feedback.models import Feedback
from feedback.selectors import model_feedback_counts
from tests.billing.helpers import use
from tests.conftest import new_key


@pytest.fixture
def generation(alice_key):
    return use(alice_key[0], "nexevo/balanced", served="openai/gpt-4o")


def submit(client, **body):
    return client.post("/v1/feedback", body, format="json")


def test_submit_and_replace(api_as, alice_key, generation):
    client = api_as(alice_key[1])
    first = submit(client, generation_id=generation.id, rating=1, comment="Helpful!", tags=["accurate"])
    assert first.status_code == 201
    body = first.json()
    assert body["feedback_id"].startswith("fb_") and body["model"] == "openai/gpt-4o"
    second = submit(client, generation_id=generation.id, rating=-1, tags=["too_verbose", "incorrect"])
    assert second.status_code == 200 and second.json()["feedback_id"] == body["feedback_id"]
    feedback = Feedback.objects.get()
    assert (feedback.rating, feedback.comment, feedback.tags) == (-1, "", ["incorrect", "too_verbose"])


def test_each_member_rates_separately(api_as, alice, alice_key, generation):
    from orgs.models import Membership

    submit(api_as(alice_key[1]), generation_id=generation.id, rating=1)
    assert Feedback.objects.count() == 1
    assert Membership.objects.filter(user=alice).exists()


BAD = [
    ({"rating": 0}, "invalid_rating"),
    ({"rating": 2}, "invalid_rating"),
    ({"rating": True}, "invalid_rating"),
    ({"rating": "1"}, "invalid_rating"),
    ({"rating": 1, "comment": "x" * 2001}, "comment_too_long"),
    ({"rating": 1, "tags": ["Accurate"]}, "invalid_tags"),
    ({"rating": 1, "tags": "accurate"}, "invalid_tags"),
    ({"rating": 1, "tags": [f"t{i}" for i in range(11)]}, "invalid_tags"),
    ({"rating": 1, "tags": ["has space"]}, "invalid_tags"),
]


@pytest.mark.parametrize(("body", "code"), BAD)
def test_bad_feedback_is_a_400_and_nothing_is_stored(api_as, alice_key, generation, body, code):
    response = submit(api_as(alice_key[1]), generation_id=generation.id, **body)
    assert response.status_code == 400 and response.json()["error"]["code"] == code
    assert not Feedback.objects.exists()


def test_a_comment_of_2000_characters_is_fine(api_as, alice_key, generation):
    assert (
        submit(api_as(alice_key[1]), generation_id=generation.id, rating=1, comment="x" * 2000).status_code
        == 201
    )


def test_another_organizations_generation_is_a_404_like_a_missing_one(api_as, charlie, generation):
    outsider = api_as(new_key(charlie)[1])
    theirs = submit(outsider, generation_id=generation.id, rating=-1)
    missing = submit(outsider, generation_id="gen_doesnotexist", rating=-1)
    assert theirs.status_code == missing.status_code == 404 and theirs.json() == missing.json()
    assert not Feedback.objects.exists()
    assert outsider.get("/v1/feedback/summary?days=7").json()["total"] == 0


def test_the_summary(api_as, alice_key):
    client = api_as(alice_key[1])
    ratings = [
        ("openai/gpt-4o", 1, ["accurate"]),
        ("openai/gpt-4o", 1, []),
        ("openai/gpt-4o", -1, ["incorrect"]),
        ("openai/gpt-4o-mini", -1, ["too_verbose", "incorrect"]),
    ]
    for served, rating, tags in ratings:
        generation = use(alice_key[0], "nexevo/balanced", served=served)
        submit(client, generation_id=generation.id, rating=rating, tags=tags)
    summary = client.get("/v1/feedback/summary?days=7").json()
    assert (summary["total"], summary["positive"], summary["negative"], summary["positive_rate"]) == (
        4,
        2,
        2,
        "0.5000",
    )
    assert summary["by_tag"] == {"incorrect": 2, "accurate": 1, "too_verbose": 1}
    assert summary["by_model"] == [
        {"model": "openai/gpt-4o", "positive": 2, "negative": 1, "positive_rate": "0.6667"},
        {"model": "openai/gpt-4o-mini", "positive": 0, "negative": 1, "positive_rate": "0.0000"},
    ]
    assert len(summary["by_day"]) == 7 and summary["by_day"][-1]["positive"] == 2
    assert client.get("/v1/feedback/summary?days=0").status_code == 400
    assert model_feedback_counts(window_days=30) == {"openai/gpt-4o": (2, 1), "openai/gpt-4o-mini": (0, 1)}
