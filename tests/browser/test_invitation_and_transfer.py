"""The owner invites a new address → the invitee signs up through the link and lands in the
organization → the owner transfers ownership to them."""

import contextlib
import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from playwright.sync_api import expect

from orgs.models import Membership, Role
from tests.browser.conftest import ARTIFACTS
from tests.conftest import PASSWORD, make_user

OWNER_EMAIL = "olivia@example.com"
INVITEE_EMAIL = "newbie@example.com"
ORG_NAME = "Acme Inc"


def path_re(path: str) -> re.Pattern:
    """Matches a page URL on the live server whose path is exactly ``path`` (any query string)."""
    return re.compile(rf"^https?://[^/]+{re.escape(path)}(\?.*)?$")


@pytest.mark.browser
def test_invitee_signs_up_through_the_link_and_receives_ownership(live_server, browser, page, request):
    base = live_server.url
    make_user(OWNER_EMAIL, full_name="Olivia Owner")

    # 1. The owner signs in.
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", OWNER_EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page).to_have_url(path_re("/dashboard/"))

    # 2. She creates an organization and lands on its members page.
    page.goto(f"{base}/organizations/")
    page.fill("input[name=name]", ORG_NAME)
    page.get_by_test_id("create-organization").click()
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/organizations/[^/]+/members/$"))
    expect(page.get_by_test_id("organization-heading")).to_have_text(ORG_NAME)
    org_id = urlsplit(page.url).path.split("/")[2]
    members_path = f"/organizations/{org_id}/members/"

    # 3. She invites a new address as a developer.
    page.fill("input[name=email]", INVITEE_EMAIL)
    page.select_option("select[name=role]", "developer")
    page.get_by_test_id("invite").click()
    expect(page).to_have_url(path_re(members_path))
    expect(page.get_by_text(f"Invitation sent to {INVITEE_EMAIL}.")).to_be_visible()
    expect(page.get_by_test_id("invitations")).to_contain_text(INVITEE_EMAIL)

    # 4. The invitation e-mail: subject, accept link (built from SITE_URL), HTML alternative.
    messages = [message for message in mail.outbox if INVITEE_EMAIL in message.to]
    assert len(messages) == 1, f"expected one e-mail to {INVITEE_EMAIL}, got {len(messages)}"
    message = messages[0]
    assert "Olivia Owner" in message.subject and ORG_NAME in message.subject, message.subject
    match = re.search(r"https?://\S+?(/invitations/[^/\s]+/)", message.body)
    assert match, f"no invitation link in the e-mail:\n{message.body}"
    invitation_path = match.group(1)
    html = [content for content, mimetype in message.alternatives if mimetype == "text/html"]
    assert html, "the invitation e-mail has no HTML alternative"
    assert ORG_NAME in html[0]
    assert invitation_path in html[0]

    # 5. Someone else, in their own browser, follows the link and signs up through it.
    invitee_context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    invitee = invitee_context.new_page()
    try:
        invitee.goto(f"{base}{invitation_path}")
        expect(invitee.get_by_role("heading", name=f"Join {ORG_NAME}")).to_be_visible()
        invitee.get_by_test_id("signup-through-invitation").click()
        expect(invitee).to_have_url(path_re("/accounts/signup/"))
        expect(invitee.locator("input[name=email]")).to_have_value(INVITEE_EMAIL)
        invitee.fill("input[name=full_name]", "Nina Newbie")
        invitee.fill("input[name=password1]", PASSWORD)
        invitee.fill("input[name=password2]", PASSWORD)
        outbox_before = len(mail.outbox)
        invitee.get_by_role("button", name="Sign Up", exact=True).click()

        # The link proved the address: no verification round, signed in at once, and a member.
        expect(invitee).to_have_url(
            re.compile(rf"^https?://[^/]+({re.escape(invitation_path)}|/dashboard/)(\?.*)?$")
        )
        if invitation_path in invitee.url:
            expect(invitee.get_by_role("heading", name=f"You have joined {ORG_NAME}")).to_be_visible()
        assert not [m for m in mail.outbox[outbox_before:] if INVITEE_EMAIL in m.to], (
            "signing up through the invitation sent another e-mail: "
            + "; ".join(m.subject for m in mail.outbox[outbox_before:])
        )
        invitee.goto(f"{base}/dashboard/")
        expect(invitee).to_have_url(path_re("/dashboard/"))
        expect(invitee.get_by_test_id("dashboard-heading")).to_have_text(ORG_NAME)
        switcher = invitee.get_by_test_id("organization-switcher")
        expect(switcher.locator("option", has_text=ORG_NAME)).to_have_count(1)
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        with contextlib.suppress(Exception):
            invitee.screenshot(path=str(ARTIFACTS / f"{request.node.name}-invitee.png"), full_page=True)
        raise
    finally:
        invitee_context.close()

    # 6. Back to the owner: the new member is listed; she hands the organization over.
    page.goto(f"{base}{members_path}")
    newbie_row = page.locator("tr[data-user-id]", has_text=INVITEE_EMAIL)
    expect(newbie_row).to_have_count(1)
    expect(newbie_row).to_contain_text("Nina Newbie")
    expect(page.get_by_test_id("invitations")).to_have_count(0)

    page.goto(f"{base}/organizations/{org_id}/settings/")
    expect(page.get_by_role("heading", name="Transfer ownership")).to_be_visible()
    option_label = page.locator("select[name=new_owner] option", has_text=INVITEE_EMAIL).inner_text().strip()
    page.select_option("select[name=new_owner]", label=option_label)
    page.fill("input[name=password]", PASSWORD)
    dialogs = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.get_by_test_id("transfer").click()
    expect(page).to_have_url(path_re(members_path))
    expect(page.get_by_text("Ownership transferred")).to_be_visible()
    assert dialogs == ["Transfer ownership? You will become an admin."], dialogs

    owner_row = page.locator("tr[data-user-id]", has_text=OWNER_EMAIL)
    newbie_row = page.locator("tr[data-user-id]", has_text=INVITEE_EMAIL)
    expect(newbie_row.get_by_test_id("member-role")).to_have_text("Owner")
    expect(owner_row.get_by_test_id("member-role")).to_have_text("Admin")

    # 7. The database agrees.
    roles = {
        membership.user.email: membership.role
        for membership in Membership.objects.filter(organization_id=org_id).select_related("user")
    }
    assert roles == {INVITEE_EMAIL: Role.OWNER, OWNER_EMAIL: Role.ADMIN}, roles
