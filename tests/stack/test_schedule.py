"""The scheduled jobs: one schedule (CELERY_BEAT_SCHEDULE) that beat keeps in the database, where
Django admin shows and edits it, and that ``manage.py runjobs`` runs in-process without beat."""

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from nexevo_site.celery import app as current_app
from tests.test_admin_pages import staff_client  # noqa: F401 - a fixture

# Beat's scheduler closes stale database connections, which a test's transaction would not survive:
# the tests that start one run outside it (transactional_db).

EXPECTED = {
    "usage-rollup": ("billing.tasks.roll_up_usage", 60),
    "plan-renewal": ("billing.tasks.renew_plans", 3600),
    "erase-deactivated-accounts": ("accounts.tasks.erase_deactivated_accounts", 3600),
    "prune-idempotency-records": ("core.tasks.prune_idempotency_records", 3600),
    "prune-request-logs": ("gateway.tasks.prune_request_logs", 3600),
    "expire-invitations": ("orgs.tasks.expire_invitations", 900),
    "deliver-due-webhooks": ("alerts.tasks.deliver_due_webhooks", 30),
    "record-usage-journal": ("gateway.tasks.record_usage", 30),
    "refresh-model-ratings": ("gateway.tasks.refresh_model_ratings", 3600),
    "give-back-dead-holdings": ("gateway.tasks.give_back_dead_holdings", 10),
}


def test_the_schedule_has_every_job():
    assert {
        name: (entry["task"], entry["schedule"]) for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
    } == EXPECTED
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"


@pytest.mark.parametrize(
    "task_name", sorted({task for task, _ in EXPECTED.values()} | {"core.tasks.send_email"})
)
def test_every_task_is_installed_and_acknowledged_late(task_name):
    current_app.loader.import_default_modules()  # as a worker does when it starts
    task = current_app.tasks.get(task_name)
    if task is None:
        pytest.fail(f"{task_name} is scheduled but not installed")
    # A worker that dies mid-task gives the message back rather than losing it.
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True
    assert current_app.conf.worker_prefetch_multiplier == 1


def test_beat_writes_the_schedule_to_the_database(transactional_db):
    DatabaseScheduler(app=current_app)

    stored = {
        task.name: (task.task, task.interval.every, task.interval.period, task.enabled)
        for task in PeriodicTask.objects.select_related("interval")
    }
    assert stored == {name: (task, seconds, "seconds", True) for name, (task, seconds) in EXPECTED.items()}


def test_an_entry_switched_off_in_admin_stays_off_when_beat_restarts(transactional_db):
    DatabaseScheduler(app=current_app)
    PeriodicTask.objects.filter(name="plan-renewal").update(enabled=False)

    restarted = DatabaseScheduler(app=current_app)

    assert not PeriodicTask.objects.get(name="plan-renewal").enabled
    assert "plan-renewal" not in restarted.schedule
    assert "usage-rollup" in restarted.schedule


def test_staff_see_the_schedules_in_admin(transactional_db, staff_client):  # noqa: F811
    DatabaseScheduler(app=current_app)
    usage_rollup = PeriodicTask.objects.get(name="usage-rollup")

    listing = staff_client.get("/admin/django_celery_beat/periodictask/")
    page = staff_client.get(f"/admin/django_celery_beat/periodictask/{usage_rollup.pk}/change/")

    assert listing.status_code == 200 and page.status_code == 200
    for name in EXPECTED:
        assert name in listing.content.decode()
    assert "billing.tasks.roll_up_usage" in page.content.decode()


def test_runjobs_runs_every_job_once_in_process(db):
    out = StringIO()
    call_command("runjobs", stdout=out)
    assert [line.split(":")[0] for line in out.getvalue().splitlines()] == list(settings.CELERY_BEAT_SCHEDULE)


def test_runjobs_runs_the_others_when_one_fails_and_then_says_so(db, monkeypatch):
    from orgs import services

    def broken():
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "invitations_expire", broken)
    monkeypatch.setattr("orgs.tasks.invitations_expire", broken)
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="expire-invitations"):
        call_command("runjobs", stdout=out, stderr=err)
    assert "the database went away" in err.getvalue()
    assert "usage-rollup:" in out.getvalue() and "deliver-due-webhooks:" in out.getvalue()
