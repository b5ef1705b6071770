"""The organization pages' forms: a refusal comes back beside its field, in words, with what was
typed, and changes nothing."""

import re

from django.test import Client

from orgs.models import Invitation, Membership, Organization
from tests.conftest import PASSWORD
from tests.orgs.helpers import acme_with


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_shows_an_invitation_refusal_beside_the_address_and_keeps_it(alice, bob):
    acme = acme_with(alice, developer=bob)
    response = signed_in(alice).post(
        f"/organizations/{acme.id}/invitations/", {"email": "BOB@example.com", "role": "admin"}
    )
    assert response.status_code == 400
    form = response.context["invite_form"]
    assert form.errors["email"] == ["bob@example.com is already a member."]
    body = response.content.decode()
    assert 'value="BOB@example.com"' in body
    assert '<option value="admin" selected>' in body
    assert re.search(r'<input[^>]*name="email"[^>]*autofocus', body)  # scrolled to, below the members
    assert not Invitation.objects.filter(organization=acme).exists()


def test_it_says_what_a_valid_address_looks_like(alice):
    acme = acme_with(alice)
    response = signed_in(alice).post(
        f"/organizations/{acme.id}/invitations/", {"email": "bob at example", "role": "developer"}
    )
    assert response.status_code == 400
    assert response.context["invite_form"].errors["email"] == [
        "Enter a valid e-mail address, like name@example.com."
    ]
    assert 'value="bob at example"' in response.content.decode()
    assert not Invitation.objects.exists()


def test_it_offers_an_admin_only_the_roles_they_may_invite_after_an_error(alice, bob):
    acme = acme_with(alice, admin=bob)
    response = signed_in(bob).post(
        f"/organizations/{acme.id}/invitations/", {"email": "", "role": "developer"}
    )
    assert response.status_code == 400
    form = response.context["invite_form"]
    assert form.errors["email"] == ["Enter the e-mail address of the person to invite."]
    assert [value for value, _label in form.fields["role"].choices] == ["developer"]


def test_it_still_answers_403_to_an_admin_inviting_an_admin(alice, bob):
    acme = acme_with(alice, admin=bob)
    response = signed_in(bob).post(
        f"/organizations/{acme.id}/invitations/", {"email": "dora@example.com", "role": "admin"}
    )
    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_it_answers_404_to_an_outsider_inviting(alice, charlie):
    acme = acme_with(alice)
    response = signed_in(charlie).post(
        f"/organizations/{acme.id}/invitations/", {"email": "bad", "role": "developer"}
    )
    assert response.status_code == 404
    assert not Invitation.objects.exists()


def test_it_keeps_an_empty_name_beside_its_error_when_renaming(alice):
    acme = acme_with(alice)
    response = signed_in(alice).post(f"/organizations/{acme.id}/settings/", {"name": "   "})
    assert response.status_code == 400
    assert response.context["rename_form"].errors["name"] == ["Give the organization a name."]
    acme.refresh_from_db()
    assert acme.name == "Acme Inc"


def test_it_keeps_an_over_long_name_beside_its_error_when_creating(alice):
    typed = "A" * 101
    response = signed_in(alice).post("/organizations/", {"name": typed})
    assert response.status_code == 400
    assert response.context["form"].errors["name"] == [
        "An organization name has at most 100 characters (this one has 101)."
    ]
    assert f'value="{typed}"' in response.content.decode()
    assert not Organization.objects.filter(is_personal=False).exists()


def test_it_shows_a_wrong_password_beside_its_field_when_transferring(alice, bob):
    acme = acme_with(alice, developer=bob)
    response = signed_in(alice).post(
        f"/organizations/{acme.id}/transfer/", {"new_owner": bob.id, "password": "not mine"}
    )
    assert response.status_code == 400
    form = response.context["transfer_form"]
    assert form.errors["password"] == ["The password is not correct."]
    assert f'<option value="{bob.id}" selected>' in response.content.decode()
    assert Membership.objects.get(organization=acme, role="owner").user == alice


def test_it_names_a_new_owner_who_is_not_a_member_beside_the_choice(alice, bob, charlie):
    acme = acme_with(alice, developer=bob)
    response = signed_in(alice).post(
        f"/organizations/{acme.id}/transfer/", {"new_owner": charlie.id, "password": PASSWORD}
    )
    assert response.status_code == 400
    assert response.context["transfer_form"].errors["new_owner"] == [
        "Choose the new owner from the members listed."
    ]
    assert Membership.objects.get(organization=acme, role="owner").user == alice


def test_it_keeps_a_mistyped_name_beside_its_error_when_deleting(alice):
    acme = acme_with(alice)
    response = signed_in(alice).post(f"/organizations/{acme.id}/delete/", {"confirm_name": "Acme"})
    assert response.status_code == 400
    assert response.context["form"].errors["confirm_name"] == [
        "Type the organization's name exactly as it is shown above."
    ]
    assert 'value="Acme"' in response.content.decode()
    acme.refresh_from_db()
    assert acme.deleted_at is None


def test_it_says_why_an_organization_with_members_is_not_deleted(alice, bob):
    acme = acme_with(alice, developer=bob)
    response = signed_in(alice).post(f"/organizations/{acme.id}/delete/", {"confirm_name": "Acme Inc"})
    assert response.status_code == 400
    assert "1 other member(s)" in " ".join(response.context["form"].non_field_errors())
    acme.refresh_from_db()
    assert acme.deleted_at is None
