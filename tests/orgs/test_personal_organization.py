from io import StringIO

from django.core.management import call_command
from django.test import Client

from accounts.models import User
from orgs.models import Membership, Organization
from tests.accounts.helpers import enable_two_factor


def personal_membership(user):
    return Membership.objects.select_related("organization").get(user=user, organization__is_personal=True)


def test_createsuperuser_gets_one(db, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "an admin passphrase 1")
    call_command("createsuperuser", "--noinput", "--email", "root@example.com", stdout=StringIO())
    assert personal_membership(User.objects.get(email="root@example.com")).role == "owner"


def test_a_user_added_in_admin_gets_one(alice):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    _device, codes = enable_two_factor(alice)
    client = Client()
    client.post("/accounts/login/", {"login": alice.email, "password": "correct horse battery 42"})
    client.post("/accounts/2fa/verify/", {"code": codes[0]})
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "email": "erin@example.com",
            "usable_password": "true",
            "password1": "erin's passphrase 22",
            "password2": "erin's passphrase 22",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert personal_membership(User.objects.get(email="erin@example.com")).role == "owner"


def test_creating_it_twice_makes_one(alice):
    from orgs.services import personal_organization_create

    assert personal_organization_create(user=alice) == personal_organization_create(user=alice)
    assert Organization.objects.filter(is_personal=True, memberships__user=alice).count() == 1


def test_an_organization_has_exactly_one_owner(alice, bob):
    import pytest
    from django.db import IntegrityError, transaction

    organization = personal_membership(alice).organization
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(organization=organization, user=bob, role="owner")
