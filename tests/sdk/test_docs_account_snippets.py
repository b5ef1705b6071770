"""The product docs' "Account management" snippet, verbatim, through the client, against a live server."""

import pytest
from nexevo import AuthenticationError, BadRequestError, Nexevo

from accounts.models import User
from tests.conftest import make_user, new_key


@pytest.fixture
def jane(transactional_db):
    user = make_user("jane@example.com", full_name="J. Doe")
    user.set_password("old-pwd")  # the docs' own (weak) password, set past the validators
    user.save()
    return user


def test_the_account_snippet_runs_verbatim(live_server, jane):
    _api_key, full_key = new_key(jane)
    client = Nexevo(api_key=full_key, base_url=live_server.url)

    # --- from the product docs ---
    me = client.auth.me()
    client.auth.update_profile(full_name="Jane Doe")
    client.auth.change_password(
        current_password="old-pwd",
        new_password="new-pwd-123",
    )
    status = client.auth.two_fa_status()
    # --- end ---

    assert me["user_id"] == jane.id and me["user_id"].startswith("u_")
    assert me["organizations"][0]["role"] == "owner"
    assert status == {"enabled": False, "methods": [], "recovery_codes_remaining": 0}
    jane = User.objects.get(pk=jane.pk)
    assert jane.full_name == "Jane Doe"
    assert jane.check_password("new-pwd-123")
    assert client.auth.me()["full_name"] == "Jane Doe"


def test_the_client_raises_typed_errors(live_server, jane):
    _api_key, full_key = new_key(jane)
    client = Nexevo(api_key=full_key, base_url=live_server.url + "/v1")
    with pytest.raises(BadRequestError) as wrong:
        client.auth.change_password(current_password="nope", new_password="new-pwd-123")
    assert (wrong.value.status_code, wrong.value.code) == (400, "invalid_current_password")
    assert wrong.value.param == "current_password"

    with pytest.raises(AuthenticationError) as unknown:
        Nexevo(api_key="nx_not-a-key", base_url=live_server.url).auth.me()
    assert unknown.value.code == "invalid_api_key"
