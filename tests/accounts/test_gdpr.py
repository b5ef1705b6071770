"""Self-service export and deactivation, and the erasure that follows the grace period."""

import json
from datetime import timedelta

import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import User
from accounts.tasks import erase_deactivated_accounts
from apikeys.models import ApiKey
from orgs.models import Membership, Organization
from tests.accounts.helpers import enable_two_factor, totp_code
from tests.conftest import PASSWORD, new_key


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def deactivate(client, **data):
    return client.post("/settings/privacy/deactivate/", {"confirm": "on"} | data)


def test_export_holds_the_account_and_never_a_secret(alice):
    api_key, full_key = new_key(alice, name="prod-2026")
    response = signed_in(alice).get("/settings/privacy/export.json")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="nexevo-export-{alice.id}.json"'
    raw = response.content.decode()
    assert full_key not in raw and api_key.key_hash not in raw
    data = json.loads(raw)
    assert data["user"]["user_id"] == alice.id
    assert data["user"]["full_name"] == "Alice Archer"
    assert data["memberships"][0]["role"] == "owner"
    assert data["api_keys_created"][0]["name"] == "prod-2026"
    assert data["api_keys_created"][0]["display"] == api_key.display
    assert data["personal_workspace"]["api_keys"][0]["key_id"] == api_key.id


def test_export_is_only_ever_the_requesters_own(alice, charlie):
    new_key(alice, name="alice-only")
    raw = signed_in(charlie).get("/settings/privacy/export.json").content.decode()
    assert "alice" not in raw


def test_deactivation_needs_the_password(alice):
    response = deactivate(signed_in(alice), password="not it")
    assert response.status_code == 400
    assert "password is not correct" in response.content.decode()
    alice.refresh_from_db()
    assert alice.is_active


def test_deactivation_needs_a_code_with_two_factor_on(alice):
    device, codes = enable_two_factor(alice)
    client = Client()
    client.post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    client.post("/accounts/2fa/verify/", {"code": codes[0]})
    assert deactivate(client, password=PASSWORD, code="").status_code == 400
    alice.refresh_from_db()
    assert alice.is_active
    assert deactivate(client, password=PASSWORD, code=totp_code(device, steps_ahead=1)).status_code == 200
    alice.refresh_from_db()
    assert not alice.is_active


def test_deactivation_is_refused_while_sole_owner_of_an_organization_with_members(alice, bob):
    acme = Organization.objects.create(name="Acme Inc")
    Membership.objects.create(organization=acme, user=alice, role="owner")
    Membership.objects.create(organization=acme, user=bob, role="developer")
    client = signed_in(alice)
    assert "Acme Inc" in client.get("/settings/privacy/").content.decode()
    response = deactivate(client, password=PASSWORD)
    assert response.status_code == 400
    text = response.content.decode()
    assert "only owner of Acme Inc" in text and "Transfer ownership" in text
    alice.refresh_from_db()
    assert alice.is_active


def test_deactivation_closes_everything_at_once(alice, api_as, django_capture_on_commit_callbacks):
    _api_key, full_key = new_key(alice)
    other_session = Client()
    other_session.post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    assert other_session.get("/dashboard/").status_code == 200

    client = signed_in(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = deactivate(client, password=PASSWORD)
    assert response.status_code == 200

    alice.refresh_from_db()
    assert not alice.is_active and alice.deactivated_at is not None
    assert other_session.get("/dashboard/").status_code == 302
    assert client.get("/dashboard/").status_code == 302
    assert api_as(full_key).get("/v1/auth/me").status_code == 401
    assert ApiKey.objects.get(created_by=alice).revoked_at is not None
    login = Client().post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    assert login.status_code != 302 or login["Location"] != "/dashboard/"
    assert not Client().login(email=alice.email, password=PASSWORD)
    assert [message.to for message in mail.outbox] == [[alice.email]]
    assert "deactivated" in mail.outbox[0].subject
    assert f"({alice.email})" in mail.outbox[0].body
    assert alice.email in mail.outbox[0].alternatives[0][0]


def test_erasure_waits_for_the_grace_period_then_keeps_only_what_billing_needs(alice, settings):
    api_key, _full_key = new_key(alice)
    deactivate(signed_in(alice), password=PASSWORD)

    assert erase_deactivated_accounts() == 0
    later = timezone.now() + timedelta(days=settings.NEXEVO_ERASURE_GRACE_DAYS, minutes=1)
    with time_machine.travel(later):
        assert erase_deactivated_accounts() == 1
        assert erase_deactivated_accounts() == 0  # running it again changes nothing

    erased = User.objects.get(pk=alice.pk)
    assert erased.email.endswith("@erased.invalid") and "alice" not in erased.email
    assert erased.full_name == "" and erased.erased_at is not None
    assert not erased.emailaddress_set.exists()
    # Records that name the account by id stay, pointing at the de-identified row.
    assert ApiKey.objects.filter(pk=api_key.pk, created_by=erased).exists()
    assert Membership.objects.filter(user=erased).exists()


def test_erasure_skips_an_account_staff_reactivated(alice, settings):
    deactivate(signed_in(alice), password=PASSWORD)
    User.objects.filter(pk=alice.pk).update(is_active=True)
    later = timezone.now() + timedelta(days=settings.NEXEVO_ERASURE_GRACE_DAYS + 1)
    with time_machine.travel(later):
        assert erase_deactivated_accounts() == 0
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"


def test_deactivation_limits_password_guesses(alice):
    client = signed_in(alice)
    for _ in range(5):
        deactivate(client, password="guess")
    response = deactivate(client, password=PASSWORD)
    assert "Too many attempts" in response.content.decode()
    alice.refresh_from_db()
    assert alice.is_active


def test_deactivation_ignores_members_who_left_the_platform(alice, bob):
    acme = Organization.objects.create(name="Acme Inc")
    Membership.objects.create(organization=acme, user=alice, role="owner")
    Membership.objects.create(organization=acme, user=bob, role="developer")
    User.objects.filter(pk=bob.pk).update(is_active=False)
    assert deactivate(signed_in(alice), password=PASSWORD).status_code == 200


def test_runjobs_erases_due_accounts_without_a_worker(alice, settings):
    from io import StringIO

    from django.core.management import call_command

    deactivate(signed_in(alice), password=PASSWORD)
    out = StringIO()
    with time_machine.travel(timezone.now() + timedelta(days=settings.NEXEVO_ERASURE_GRACE_DAYS + 1)):
        call_command("runjobs", "erase-deactivated-accounts", stdout=out)
    assert "erase-deactivated-accounts: 1" in out.getvalue()
    alice.refresh_from_db()
    assert alice.erased_at is not None
