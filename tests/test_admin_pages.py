"""Django admin: every registered model's list (with search and filters) and change page open for
verified staff, and none shows a key's secret or hash."""

import pytest
from django.test import Client

from tests.accounts.helpers import enable_two_factor
from tests.admin_urls import admin_url
from tests.conftest import PASSWORD, new_key


@pytest.fixture
def staff_client(alice):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    _device, codes = enable_two_factor(alice)
    client = Client()
    client.post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    client.post("/accounts/2fa/verify/", {"code": codes[0]})
    return client


def test_every_list_and_change_page_opens(staff_client, alice, bob):
    api_key, full_key = new_key(bob, name="bob's key")
    membership = bob.memberships.get()
    pages = {
        "/admin/accounts/user/?q=bob&is_active__exact=1": "bob@example.com",
        admin_url(bob): "bob@example.com",
        "/admin/orgs/organization/?q=bob%40example.com&is_personal__exact=1": "Personal workspace",
        admin_url(membership.organization): "Personal workspace",
        "/admin/orgs/membership/?q=bob&role__exact=owner": "bob@example.com",
        "/admin/apikeys/apikey/?q=bob&revoked_at__isempty=1": "bob&#x27;s key",
        admin_url(api_key): api_key.display,
        "/admin/orgs/auditevent/?q=key.created&action__exact=key.created": "bob&#x27;s key",
        "/admin/orgs/invitation/?status__exact=pending": "0 invitations",
    }
    for path, expected in pages.items():
        response = staff_client.get(path)
        assert response.status_code == 200, path
        body = response.content.decode()
        assert expected in body, path
        assert full_key not in body and api_key.key_hash not in body, path


def test_keys_cannot_be_added_in_admin(staff_client):
    assert staff_client.get("/admin/apikeys/apikey/add/").status_code == 403


def test_two_factor_devices_show_no_secret_to_staff(staff_client, bob):
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    _device, codes = enable_two_factor(bob)
    totp = TOTPDevice.objects.get(user=bob)
    static = StaticDevice.objects.get(user=bob)
    for path in [
        f"/admin/otp_totp/totpdevice/{totp.pk}/change/",
        f"/admin/otp_static/staticdevice/{static.pk}/change/",
    ]:
        body = staff_client.get(path).content.decode()
        assert totp.key not in body, path
        assert not any(code in body for code in codes), path
    assert staff_client.get(f"/admin/otp_totp/totpdevice/{totp.pk}/config/").status_code == 403
    assert staff_client.get(f"/admin/otp_totp/totpdevice/{totp.pk}/qrcode/").status_code == 403


def test_a_revoked_key_cannot_be_brought_back_in_admin(staff_client, bob, api_as):
    api_key, full_key = new_key(bob)
    response = staff_client.post(
        "/admin/apikeys/apikey/", {"action": "revoke_selected", "_selected_action": [api_key.pk]}
    )
    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert api_as(full_key).get("/v1/auth/me").status_code == 401
    staff_client.post(
        admin_url(api_key),
        {"name": "renamed", "revoked_at_0": "", "revoked_at_1": ""},
    )
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


def test_audit_events_are_read_only_in_admin(staff_client, bob):
    from orgs.models import AuditEvent

    api_key, _ = new_key(bob, name="bob's key")
    event = AuditEvent.objects.get(action="key.created", target_id=api_key.pk)
    assert staff_client.get(admin_url(event)).status_code == 200
    assert staff_client.post(admin_url(event, "delete"), {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize(
    "model",
    [
        "billing/plan",
        "billing/modelprice",
        "billing/billingaccount",
        "billing/ledgerentry",
        "billing/usagerecord",
        "billing/dailyusage",
        "billing/topup",
        "billing/stripeevent",
        "conversations/conversation",
        "conversations/message",
        "feedback/feedback",
        "gateway/provider",
        "gateway/gatewaymodel",
        "gateway/organizationproviderkey",
        "orgs/invitation",
        "core/idempotencyrecord",
    ],
)
def test_every_other_admin_list_opens_with_search(staff_client, model):
    response = staff_client.get(f"/admin/{model}/?q=x")
    assert response.status_code in (200, 404), model
    if response.status_code == 404:  # not registered on purpose
        assert model == "core/idempotencyrecord"


def test_an_organizations_personal_and_deleted_flags_cannot_be_edited(staff_client, bob):
    from orgs.models import Organization

    personal = bob.memberships.get().organization
    page = staff_client.get(admin_url(personal)).content.decode()
    assert 'name="is_personal"' not in page and 'name="deleted_at_0"' not in page
    assert 'name="name"' in page  # the rest of the form is there

    response = staff_client.post(
        admin_url(personal),
        {
            "name": "Renamed by staff",
            "is_personal": "",
            "deleted_at_0": "2026-01-01",
            "deleted_at_1": "00:00:00",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-id": personal.memberships.get().pk,
            "memberships-0-organization": personal.pk,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    personal = Organization.objects.get(pk=personal.pk)
    assert personal.name == "Renamed by staff"
    assert personal.is_personal and personal.deleted_at is None


def test_an_organization_added_in_admin_has_its_billing_account(staff_client):
    from billing.models import BillingAccount
    from orgs.models import Organization

    response = staff_client.post(
        "/admin/orgs/organization/add/",
        {
            "name": "Added by staff",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    organization = Organization.objects.get(name="Added by staff")
    assert BillingAccount.objects.filter(organization=organization).exists()
