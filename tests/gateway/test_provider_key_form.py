"""The provider keys page's form: a mistake shows beside its field in words, the provider chosen is
kept, and the key typed is never sent back to the browser."""

import re

import pytest

from gateway.models import OrganizationProviderKey

from .test_pages import signed_in
from .test_provider_keys import acme  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db


def field(page: str, name: str) -> str:
    return next(
        b for b in re.findall(r'<div class="field[^"]*">.*?</div>', page, re.S) if f'name="{name}"' in b
    )


def test_a_refused_key_shows_beside_its_field_and_is_not_echoed(alice, acme):  # noqa: F811
    typed = "sk-with a space-and-secret-bits"

    page = (
        signed_in(alice, acme)
        .post("/requests/provider-keys/", {"provider": "east", "api_key": typed})
        .content.decode()
    )

    key_field = field(page, "api_key")
    assert "has-error" in key_field and "Paste the whole key" in key_field
    assert typed not in page and "secret-bits" not in page
    assert '<option value="east" selected>' in field(page, "provider")
    assert '<ul class="errorlist nonfield">' not in page
    assert not OrganizationProviderKey.objects.exists()


def test_a_missing_key_says_what_to_paste(alice, acme):  # noqa: F811
    page = (
        signed_in(alice, acme)
        .post("/requests/provider-keys/", {"provider": "east", "api_key": ""})
        .content.decode()
    )

    assert "Paste the key the provider gave you." in field(page, "api_key")
    assert '<option value="east" selected>' in field(page, "provider")


def test_an_unknown_provider_shows_beside_the_provider(alice, acme):  # noqa: F811
    page = (
        signed_in(alice, acme)
        .post("/requests/provider-keys/", {"provider": "nobody", "api_key": "sk-good-key-123456"})
        .content.decode()
    )

    assert "Choose one of the providers in the list." in field(page, "provider")
    assert "sk-good-key-123456" not in page
