"""Races that only a real database with row locks can show: run on PostgreSQL (CI's second pass)."""

import threading

import pytest
from django.db import connection, connections

from orgs.models import Membership
from orgs.services import ownership_transfer
from tests.conftest import make_user
from tests.orgs.helpers import acme_with

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL's row locks")


def run_together(functions):
    barrier = threading.Barrier(len(functions))
    results = [None] * len(functions)

    def run(index, function):
        try:
            barrier.wait()
            results[index] = ("ok", function())
        except Exception as error:  # noqa: BLE001 - the outcome is what is compared
            results[index] = ("error", error)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=(index, function)) for index, function in enumerate(functions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_two_transfers_at_once_leave_exactly_one_owner_and_no_crash(transactional_db):
    owner = make_user("owner@example.com")
    first, second = make_user("first@example.com"), make_user("second@example.com")
    acme = acme_with(owner, developer=first)
    Membership.objects.create(organization=acme, user=second, role="developer")
    owner_membership = Membership.objects.get(organization=acme, user=owner)

    results = run_together(
        [
            lambda: ownership_transfer(membership=owner_membership, new_owner_user_id=first.id),
            lambda: ownership_transfer(membership=owner_membership, new_owner_user_id=second.id),
        ]
    )
    outcomes = sorted(kind for kind, _ in results)
    assert outcomes == ["error", "ok"], results
    error = next(value for kind, value in results if kind == "error")
    assert getattr(error, "status", None) == 403  # the second found it was no longer the owner
    assert Membership.objects.filter(organization=acme, role="owner").count() == 1
