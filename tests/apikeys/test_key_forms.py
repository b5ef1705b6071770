"""The key forms (create, and settings on a key's page): every mistake shows beside its field, in the
page's words rather than the API's, with what was typed kept; nothing is created or changed."""

import datetime
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from apikeys.models import ApiKey
from tests.conftest import new_key

pytestmark = pytest.mark.django_db

API_WORDS = (
    "monthly_spend_cap_usd",
    "alert_webhook_url",
    "alert_thresholds_pct",
    "expires_at",
    "routing_policy",
)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def field(page: str, name: str) -> str:
    """The markup of the form field ``name`` (templates/includes/field.html): label, input, errors."""
    blocks = re.findall(r'<div class="field[^"]*">.*?</div>', page, re.S)
    return next(block for block in blocks if f'name="{name}"' in block)


def errors_of(block: str) -> list[str]:
    return re.findall(r"<li>(.*?)</li>", block.split('class="errorlist"')[1]) if "errorlist" in block else []


def non_field_errors(page: str) -> list[str]:
    return re.findall(r'<ul class="errorlist nonfield">(.*?)</ul>', page, re.S)


def yesterday() -> str:
    return (timezone.now().astimezone(datetime.UTC).date() - datetime.timedelta(days=1)).isoformat()


def test_it_shows_each_mistake_beside_its_field_and_keeps_what_was_typed(alice):
    typed = {
        "name": "prod-2026",
        "monthly_spend_cap_usd": "12.345",
        "alert_webhook_url": "http://hooks.example.com/nexevo",
        "alert_thresholds_pct": "80, 150",
        "routing_policy": "cn-only",
        "expires_on": yesterday(),
    }

    response = signed_in(alice).post("/keys/", typed)

    assert response.status_code == 400
    page = response.content.decode()
    assert not ApiKey.objects.exists()
    assert non_field_errors(page) == []
    expected = {
        "monthly_spend_cap_usd": "Enter an amount in dollars above zero with at most 2 decimals",
        "alert_webhook_url": "Use an https:// address",
        "alert_thresholds_pct": "whole percentages from 1 to 100",
        "expires_on": "Choose today or a later day",
    }
    for name, words in expected.items():
        block = field(page, name)
        assert 'class="field has-error"' in block and 'aria-invalid="true"' in block, name
        assert len(errors_of(block)) == 1 and words in errors_of(block)[0], name
        assert f'value="{typed[name]}"' in block, name
    assert 'value="prod-2026"' in field(page, "name") and not errors_of(field(page, "name"))
    assert '<option value="cn-only" selected>' in field(page, "routing_policy")
    for api_word in API_WORDS:
        assert f"{api_word} must" not in page


def test_a_refusal_of_the_service_goes_beside_its_field_too(alice, dns):
    """The webhook's host is resolved by the service, which refuses a private address: the refusal
    shows beside the webhook field, not as a banner."""
    dns["hooks.internal.example"] = ["10.0.0.5"]

    page = (
        signed_in(alice)
        .post("/keys/", {"name": "prod", "alert_webhook_url": "https://hooks.internal.example/x"})
        .content.decode()
    )

    block = field(page, "alert_webhook_url")
    assert errors_of(block) and 'value="https://hooks.internal.example/x"' in block
    assert non_field_errors(page) == []
    assert not ApiKey.objects.exists()


def test_a_name_over_100_characters_is_refused_beside_the_name(alice):
    page = signed_in(alice).post("/keys/", {"name": "k" * 101}).content.decode()

    assert errors_of(field(page, "name")) == ["Use at most 100 characters (this name has 101)."]
    assert not ApiKey.objects.exists()


def test_it_accepts_a_cap_typed_with_a_dollar_sign(alice):
    signed_in(alice).post(
        "/keys/", {"name": "prod", "monthly_spend_cap_usd": "$50", "alert_thresholds_pct": "100, 80%"}
    )

    api_key = ApiKey.objects.get()
    assert api_key.monthly_spend_cap_usd == Decimal("50.00")
    assert api_key.alert_thresholds_pct == [80, 100]


def test_the_settings_form_shows_mistakes_beside_their_fields_and_changes_nothing(alice):
    api_key, _full = new_key(alice, name="prod")
    client = signed_in(alice)

    response = client.post(
        f"/keys/{api_key.id}/",
        {
            "name": "renamed",
            "monthly_spend_cap_usd": "-5",
            "alert_thresholds_pct": "eighty",
            "routing_policy": "any",
            "expires_on": "2026-02-31",
        },
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert errors_of(field(page, "monthly_spend_cap_usd"))
    assert 'value="-5"' in field(page, "monthly_spend_cap_usd")
    assert errors_of(field(page, "alert_thresholds_pct")) and 'value="eighty"' in field(
        page, "alert_thresholds_pct"
    )
    assert errors_of(field(page, "expires_on")) == ["Enter a day as YYYY-MM-DD, like 2026-12-31."]
    assert 'value="renamed"' in field(page, "name")
    api_key.refresh_from_db()
    assert (api_key.name, api_key.monthly_spend_cap_usd) == ("prod", None)


def test_the_settings_form_saves_good_values(alice):
    api_key, _full = new_key(alice, name="prod")
    tomorrow = timezone.now().astimezone(datetime.UTC).date() + datetime.timedelta(days=1)

    response = signed_in(alice).post(
        f"/keys/{api_key.id}/",
        {
            "name": "prod",
            "monthly_spend_cap_usd": "0.05",
            "alert_thresholds_pct": "50, 80",
            "expires_on": tomorrow,
        },
    )

    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.monthly_spend_cap_usd == Decimal("0.05")
    assert api_key.alert_thresholds_pct == [50, 80]
    assert api_key.expires_at == datetime.datetime.combine(
        tomorrow + datetime.timedelta(days=1), datetime.time(), tzinfo=datetime.UTC
    )


def test_a_long_name_is_cut_with_the_full_name_on_hover(alice):
    name = "a-very-long-key-name-" * 4 + "x" * 16
    assert len(name) == 100
    api_key, _full = new_key(alice, name=name)
    client = signed_in(alice)

    for page in (client.get("/keys/").content.decode(), client.get(f"/keys/{api_key.id}/").content.decode()):
        assert re.search(rf'class="truncate"[^>]*title="{name}"|title="{name}"[^>]*class="truncate"', page)


@pytest.mark.parametrize("day", ["9999-12-31", "2200-01-01"])
def test_an_expiry_past_a_hundred_years_is_refused_beside_the_field_not_a_500(alice, day):
    response = signed_in(alice).post("/keys/", {"name": "far", "expires_on": day})

    assert response.status_code == 400
    assert errors_of(field(response.content.decode(), "expires_on")) == [
        "Choose a day within the next 100 years, or leave it empty for a key that does not expire."
    ]
    assert not ApiKey.objects.filter(name="far").exists()
