"""``manage.py createsuperuser`` makes a staff account that signs in at once (its address counts as
verified), and that reaches Django admin once it has set up two-factor."""

from io import StringIO

from allauth.account.models import EmailAddress
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from billing.models import BillingAccount
from orgs.selectors import personal_organization_of_user
from tests.accounts.helpers import enable_two_factor
from tests.conftest import PASSWORD


def create_superuser(monkeypatch, email="root@example.com", password=PASSWORD):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", password)
    call_command("createsuperuser", interactive=False, email=email, stdout=StringIO())
    return User.objects.get(email=email), password


def test_it_records_the_address_as_verified(db, monkeypatch):
    staff, _password = create_superuser(monkeypatch)
    assert staff.is_staff and staff.is_superuser
    assert staff.email_verified
    address = EmailAddress.objects.get(user=staff)
    assert (address.email, address.verified, address.primary) == ("root@example.com", True, True)
    assert BillingAccount.objects.filter(organization=personal_organization_of_user(user=staff)).exists()


def test_it_makes_an_account_that_signs_in_without_a_confirmation_email(db, monkeypatch, mailoutbox):
    staff, password = create_superuser(monkeypatch)
    client = Client()
    response = client.post("/accounts/login/", {"login": staff.email, "password": password})
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"  # not "Verify your e-mail"
    assert client.get("/dashboard/").status_code == 200
    assert mailoutbox == []


def test_it_reaches_admin_after_setting_up_two_factor(db, monkeypatch):
    staff, password = create_superuser(monkeypatch)
    client = Client()
    client.post("/accounts/login/", {"login": staff.email, "password": password})
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/settings/security/two-factor/setup/")

    _device, codes = enable_two_factor(staff)
    client = Client()
    client.post("/accounts/login/", {"login": staff.email, "password": password})
    client.post("/accounts/2fa/verify/", {"code": codes[0]})
    assert client.get("/admin/").status_code == 200
