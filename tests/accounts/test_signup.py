from django.core import mail

from accounts.models import User
from orgs.models import Membership
from tests.accounts.helpers import link_in
from tests.conftest import PASSWORD


def sign_up(client, **overrides):
    data = {
        "email": "dana@example.com",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "full_name": "Dana Diaz",
    } | overrides
    return client.post("/accounts/signup/", data)


def test_it_signs_up_and_requires_the_emailed_link(client, db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_up(client)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"

    dana = User.objects.get(email="dana@example.com")
    assert dana.id.startswith("u_")
    assert dana.full_name == "Dana Diaz"
    assert not dana.email_verified
    # Not signed in until the address is verified.
    assert client.get("/dashboard/").status_code == 302

    assert len(mail.outbox) == 1
    confirm_path = link_in(mail.outbox[0], "/accounts/confirm-email/")
    assert client.get(confirm_path).status_code == 200
    response = client.post(confirm_path)
    assert response.status_code == 302
    dana.refresh_from_db()
    assert dana.email_verified
    assert client.get("/dashboard/").status_code == 200


def test_it_gives_every_new_user_a_personal_workspace(client, db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client)
    membership = Membership.objects.select_related("organization").get(user__email="dana@example.com")
    assert membership.role == "owner"
    assert membership.organization.is_personal
    assert membership.organization.id.startswith("org_")


def test_it_refuses_a_weak_password_and_creates_nothing(client, db):
    response = sign_up(client, password1="password", password2="password")
    assert response.status_code == 200
    assert "too common" in response.content.decode()
    assert not User.objects.filter(email="dana@example.com").exists()


def test_it_refuses_an_over_long_name_and_creates_nothing(client, db):
    response = sign_up(client, full_name="x" * 151)
    assert response.status_code == 200
    assert "at most 150 characters" in response.content.decode()
    assert not User.objects.exists()


def test_it_does_not_say_whether_an_address_is_taken(client, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_up(client, email=alice.email)
    # Same answer as a fresh sign-up; the owner of the address is told by e-mail instead.
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert User.objects.filter(email=alice.email).count() == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [alice.email]
