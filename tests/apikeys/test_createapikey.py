from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def test_it_prints_a_working_key_for_the_users_personal_workspace(alice, api_as):
    out, err = StringIO(), StringIO()
    call_command("createapikey", "--email", "ALICE@example.com", "--name", "scripts", stdout=out, stderr=err)
    full_key = out.getvalue().strip()
    assert full_key.startswith("nx_")
    assert full_key not in err.getvalue()
    assert api_as(full_key).get("/v1/auth/me").json()["user_id"] == alice.id


def test_it_says_when_there_is_no_such_user(db):
    with pytest.raises(CommandError, match="No user"):
        call_command("createapikey", "--email", "nobody@example.com", "--name", "x")


def test_it_refuses_a_bad_name(alice):
    with pytest.raises(CommandError, match="at most 100"):
        call_command("createapikey", "--email", alice.email, "--name", "x" * 101)
