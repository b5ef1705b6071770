"""The product docs' "Organization/Multiple Users" snippet, verbatim, through the client, live."""

import re

from django.core import mail
from django.test import Client
from nexevo import Nexevo

from orgs.models import Membership
from tests.conftest import make_user, new_key


def test_the_organization_snippet_runs_verbatim(live_server, transactional_db):
    owner = make_user("owner@acme.com", full_name="Olivia Owner")
    _key, full_key = new_key(owner)
    # The docs transfer ownership to "u_789": the invited developer is that user.
    developer = make_user("dev@acme.com", full_name="Dev Eloper", id="u_789")
    client = Nexevo(api_key=full_key, base_url=live_server.url)

    # --- from the product docs, up to the transfer ---
    org = client.organizations.create("Acme Inc")
    client.organizations.invite_member(
        org["organization"]["org_id"],
        email="dev@acme.com",
        role="developer",
    )
    members = client.organizations.list_members(org["organization"]["org_id"])
    # --- the invited developer accepts the e-mailed link ---
    accept_path = re.search(r"/invitations/[^/\s]+/", mail.outbox[-1].body).group(0)
    browser = Client()
    browser.force_login(developer)
    assert browser.post(accept_path).status_code == 302
    # --- the rest of the docs ---
    client.organizations.transfer_owner(
        org["organization"]["org_id"],
        new_owner_user_id="u_789",
    )
    # --- end ---

    org_id = org["organization"]["org_id"]
    assert org["membership"] == {"role": "owner"}
    assert [m["email"] for m in members["data"]] == ["owner@acme.com"]
    roles = dict(Membership.objects.filter(organization_id=org_id).values_list("user_id", "role"))
    assert roles == {owner.id: "admin", "u_789": "owner"}
    assert client.organizations.get(org_id)["organization"]["owner_user_id"] == "u_789"
    listed = client.organizations.list_members(org_id)["data"]
    assert {m["user_id"]: m["role"] for m in listed} == {owner.id: "admin", "u_789": "owner"}
