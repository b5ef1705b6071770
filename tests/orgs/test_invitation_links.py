"""The e-mailed invitation link: who it lets in, and the clear page it shows everyone else."""

from datetime import timedelta

import time_machine
from django.test import Client
from django.utils import timezone

from accounts.models import User
from orgs.models import Invitation, Membership
from orgs.services import invitation_create, invitation_revoke, invitation_token
from tests.conftest import PASSWORD, make_user
from tests.orgs.helpers import acme_with, dashboard_heading


def invite(owner, email="dana@example.com", role="developer"):
    acme = acme_with(owner)
    invitation = invitation_create(membership=acme.memberships.get(), email=email, role=role)
    return acme, invitation, f"/invitations/{invitation_token(invitation)}/"


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def test_an_existing_user_accepts_after_signing_in(alice):
    acme, _invitation, url = invite(alice)
    dana = make_user("dana@example.com")
    anonymous_page = Client().get(url).content.decode()
    assert "Join Acme Inc" in anonymous_page and "Sign in to accept" in anonymous_page

    client = signed_in(dana)
    assert "Accept invitation" in client.get(url).content.decode()
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    assert Membership.objects.get(organization=acme, user=dana).role == "developer"
    assert "Acme Inc" in client.get("/dashboard/").content.decode()


def test_a_new_person_signs_up_through_the_link_and_lands_in_the_organization(alice):
    acme, invitation, url = invite(alice)
    client = Client()
    page = client.get(url).content.decode()
    assert "Create your account" in page
    response = client.post(
        f"/accounts/signup/?next={url}",
        {
            "email": "dana@example.com",
            "full_name": "Dana Diaz",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "next": url,
        },
    )
    assert response.status_code == 302
    dana = User.objects.get(email="dana@example.com")
    assert dana.email_verified  # the link proved the address; no confirmation round
    assert Membership.objects.get(organization=acme, user=dana).role == "developer"
    invitation.refresh_from_db()
    assert invitation.status == "accepted" and invitation.accepted_by == dana
    assert "You have joined Acme Inc" in client.get(url).content.decode()
    assert dashboard_heading(client.get("/dashboard/")) == "Acme Inc"


def test_someone_else_signed_in_gets_a_clear_page_and_nothing(alice, charlie):
    acme, _invitation, url = invite(alice)
    client = signed_in(charlie)
    for response in [client.get(url), client.post(url)]:
        assert response.status_code == 400
        text = response.content.decode()
        assert "This invitation is for dana@example.com" in text and "charlie@example.com" in text
    assert not Membership.objects.filter(organization=acme, user=charlie).exists()


def test_an_expired_link_grants_nothing(alice, settings):
    acme, _invitation, url = invite(alice)
    dana = make_user("dana@example.com")
    later = timezone.now() + timedelta(days=settings.NEXEVO_INVITATION_DAYS, minutes=1)
    with time_machine.travel(later):
        response = signed_in(dana).post(url)
    assert response.status_code == 400 and "expired" in response.content.decode()
    assert not Membership.objects.filter(organization=acme, user=dana).exists()


def test_a_revoked_link_grants_nothing(alice):
    acme, invitation, url = invite(alice)
    invitation_revoke(membership=acme.memberships.get(user=alice), invitation_id=invitation.id)
    dana = make_user("dana@example.com")
    response = signed_in(dana).post(url)
    assert response.status_code == 400 and "withdrawn" in response.content.decode()
    assert not Membership.objects.filter(organization=acme, user=dana).exists()


def test_a_used_link_grants_nothing_more(alice):
    acme, _invitation, url = invite(alice)
    dana = make_user("dana@example.com")
    signed_in(dana).post(url)
    Membership.objects.filter(organization=acme, user=dana).delete()  # removed later
    response = signed_in(dana).post(url)
    assert response.status_code == 400 and "used already" in response.content.decode()
    assert not Membership.objects.filter(organization=acme, user=dana).exists()


def test_a_forged_or_garbled_link_grants_nothing(alice, charlie):
    _acme, invitation, url = invite(alice)
    client = signed_in(charlie)
    for bad in [url[:-5] + "xxxx/", f"/invitations/{invitation.id}/", "/invitations/nonsense/"]:
        response = client.post(bad)
        assert response.status_code == 400, bad
        assert "not valid" in response.content.decode()
    assert Invitation.objects.get().status == "pending"


def test_resending_extends_the_link(alice, settings):
    acme = acme_with(alice)
    invitation = invitation_create(
        membership=acme.memberships.get(), email="dana@example.com", role="developer"
    )
    client = signed_in(alice)
    later = timezone.now() + timedelta(days=settings.NEXEVO_INVITATION_DAYS - 1)
    with time_machine.travel(later):
        client.post(f"/organizations/{acme.id}/invitations/{invitation.id}/resend/")
    invitation.refresh_from_db()
    assert invitation.expires_at > later + timedelta(days=settings.NEXEVO_INVITATION_DAYS - 1)
