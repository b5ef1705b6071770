"""Every organization has its billing account from creation, so that staff can credit it in admin
before anyone has opened Billing; a data migration gave one to each organization made before."""

import importlib

from django.apps import apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from billing.models import BillingAccount, Plan
from orgs.models import Organization
from orgs.selectors import personal_organization_of_user
from tests.conftest import make_user


def test_it_opens_the_personal_workspaces_account_with_the_user(db):
    dora = make_user("dora@example.com")
    account = BillingAccount.objects.get(organization=personal_organization_of_user(user=dora))
    assert account.plan == Plan.objects.get(is_default=True)
    assert account.balance_usd == 0


def test_it_opens_the_account_of_an_organization_made_on_the_page(alice):
    client = Client()
    client.force_login(alice)
    client.post("/organizations/", {"name": "Acme Inc"})
    acme = Organization.objects.get(name="Acme Inc")
    assert BillingAccount.objects.filter(organization=acme).exists()


def test_it_opens_the_account_of_an_organization_made_through_the_api(api_as, alice_key):
    response = api_as(alice_key[1]).post("/v1/organizations", {"name": "Acme Inc"}, format="json")
    assert response.status_code == 201
    assert BillingAccount.objects.filter(organization_id=response.json()["organization"]["org_id"]).exists()


def test_the_migration_opens_an_account_for_each_organization_without_one(alice, bob):
    migration = importlib.import_module("orgs.migrations.0004_billing_account_for_every_organization")
    without = Organization.objects.create(name="Made before")
    deleted = Organization.objects.create(name="Deleted before", deleted_at="2026-01-01T00:00:00Z")
    with_one = personal_organization_of_user(user=alice)
    kept = BillingAccount.objects.get(organization=with_one)

    migration.open_missing_billing_accounts(apps, None)
    migration.open_missing_billing_accounts(apps, None)  # running it again adds nothing

    default_plan = Plan.objects.get(is_default=True)
    for organization in (without, deleted):
        assert BillingAccount.objects.get(organization=organization).plan == default_plan
    assert BillingAccount.objects.get(organization=with_one).pk == kept.pk
    assert BillingAccount.objects.count() == Organization.objects.count()


def test_the_migration_runs_in_its_place_after_billings_own(transactional_db):
    # Asked for by name, so that conftest's _default_prices puts the default plan back after an
    # earlier transactional test flushed it.
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    before = [("orgs", "0003_alter_invitation_status")]
    executor.migrate(before)
    old_apps = executor.loader.project_state(before).apps
    old_organization = old_apps.get_model("orgs", "Organization").objects.create(name="Made before")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(leaves)

    assert BillingAccount.objects.filter(organization_id=old_organization.id).exists()
