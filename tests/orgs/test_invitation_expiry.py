"""Invitations past their expiry: shown as expired at once, marked expired by the scheduled job
(once, with an audit event, safe to run twice or at the same time), and resendable."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from orgs.models import AuditEvent, Invitation
from orgs.services import invitation_create, invitation_resend, invitation_revoke, invitations_expire
from orgs.tasks import expire_invitations
from tests.orgs.helpers import acme_with


def invite(acme, email="dana@example.com"):
    return invitation_create(membership=acme.memberships.get(role="owner"), email=email, role="developer")


def after_expiry(settings, minutes=1):
    return timezone.now() + timedelta(days=settings.NEXEVO_INVITATION_DAYS, minutes=minutes)


def expired_events():
    return list(AuditEvent.objects.filter(action="invitation.expired").values_list("target_id", flat=True))


def test_the_api_says_expired_as_soon_as_the_link_has_run_out(alice, alice_key, api_as, settings):
    acme = acme_with(alice)
    invitation = invite(acme)
    client = api_as(alice_key[1])

    with time_machine.travel(after_expiry(settings)):
        listed = client.get(f"/v1/organizations/{acme.id}/invitations").json()["data"]

    assert [(item["invitation_id"], item["status"]) for item in listed] == [(invitation.id, "expired")]
    assert Invitation.objects.get().status == "pending"  # the job has not run yet


def test_the_job_marks_them_expired_once_with_an_audit_event(alice, settings):
    acme = acme_with(alice)
    stale = invite(acme)
    fresh_later = invite(acme, "erin@example.com")

    with time_machine.travel(after_expiry(settings)):
        invitation_resend(membership=acme.memberships.get(), invitation_id=fresh_later.id)
    with time_machine.travel(after_expiry(settings, minutes=2)):
        assert expire_invitations.apply(throw=True).result == 1
        assert expire_invitations.apply(throw=True).result == 0

    stale.refresh_from_db()
    fresh_later.refresh_from_db()
    assert stale.status == "expired"
    assert fresh_later.status == "pending"  # resent before the job ran: its clock restarted
    assert expired_events() == [stale.id]
    event = AuditEvent.objects.get(action="invitation.expired")
    assert event.actor is None and event.organization == acme and event.target_label == stale.email


def test_the_job_leaves_accepted_revoked_and_current_invitations_alone(alice, settings):
    acme = acme_with(alice)
    revoked = invite(acme, "rita@example.com")
    invitation_revoke(membership=acme.memberships.get(), invitation_id=revoked.id)
    current = invite(acme, "cora@example.com")

    assert invitations_expire() == 0

    assert dict(Invitation.objects.values_list("email", "status")) == {
        "rita@example.com": "revoked",
        "cora@example.com": "pending",
    }
    assert current.current_status == "pending"


def test_an_expired_invitation_can_be_resent_and_works_again(
    alice, settings, django_capture_on_commit_callbacks
):
    acme = acme_with(alice)
    invitation = invite(acme)
    later = after_expiry(settings)
    with time_machine.travel(later), django_capture_on_commit_callbacks(execute=True):
        invitations_expire()
        invitation_resend(membership=acme.memberships.get(), invitation_id=invitation.id)

    invitation.refresh_from_db()
    assert invitation.status == "pending"
    assert invitation.expires_at > later + timedelta(days=settings.NEXEVO_INVITATION_DAYS - 1)
    assert [message.to for message in mail.outbox] == [["dana@example.com"]]


def test_inviting_the_address_again_after_expiry_works(alice, settings):
    acme = acme_with(alice)
    first = invite(acme)

    with time_machine.travel(after_expiry(settings)):
        second = invite(acme)  # no "already invited": the first one has run out

    first.refresh_from_db()
    assert first.status == "expired" and second.status == "pending"
    assert expired_events() == [first.id]


def test_an_old_expired_invitation_is_not_resent_over_a_newer_one(alice, settings):
    acme = acme_with(alice)
    first = invite(acme)
    with time_machine.travel(after_expiry(settings)):
        invite(acme)
        with pytest.raises(Exception, match="newer pending invitation"):
            invitation_resend(membership=acme.memberships.get(), invitation_id=first.id)
    first.refresh_from_db()
    assert first.status == "expired"


def test_revoking_an_expired_invitation_withdraws_it(alice, settings):
    acme = acme_with(alice)
    invitation = invite(acme)
    with time_machine.travel(after_expiry(settings)):
        invitations_expire()
        invitation_revoke(membership=acme.memberships.get(), invitation_id=invitation.id)
    invitation.refresh_from_db()
    assert invitation.status == "revoked"


def test_the_members_page_lists_expired_invitations_as_expired(alice, settings):
    acme = acme_with(alice)
    invite(acme)
    client = Client()
    client.force_login(alice)

    with time_machine.travel(after_expiry(settings)):
        before_the_job = client.get(f"/organizations/{acme.id}/members/").content.decode()
        invitations_expire()
        after_the_job = client.get(f"/organizations/{acme.id}/members/").content.decode()

    for page in (before_the_job, after_the_job):
        assert "dana@example.com" in page and 'data-testid="invitation-expired"' in page


def test_the_link_of_an_expired_invitation_says_so(alice, settings):
    acme = acme_with(alice)
    invitation = invite(acme)
    from orgs.services import invitation_token

    with time_machine.travel(after_expiry(settings)):
        invitations_expire()
        response = Client().get(f"/invitations/{invitation_token(invitation)}/")
    assert response.status_code == 400 and "expired" in response.content.decode()


def test_two_jobs_at_once_expire_each_invitation_once(transactional_db, alice, settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks")
    acme = acme_with(alice)
    invitations = [invite(acme, f"person{index}@example.com") for index in range(20)]
    start = threading.Barrier(2)
    counts = []

    def run():
        try:
            start.wait(timeout=10)
            counts.append(invitations_expire())
        finally:
            connections.close_all()

    with time_machine.travel(after_expiry(settings)):
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    assert sum(counts) == 20
    assert sorted(expired_events()) == sorted(invitation.id for invitation in invitations)
