"""The chat endpoint's database work (gateway.database.in_thread) notes an outage, and so answers the
next requests 503 for a moment, only when the database is out of reach: a statement's own fault is
that request's 500, not everyone's 503."""

import pytest
from django.db import OperationalError, ProgrammingError

from gateway import database

from .conftest import run_async


def in_thread_raising(error: Exception):
    """A coroutine function: ``in_thread`` running a job that raises ``error``."""

    def job():
        raise error

    async def run():
        return await database.in_thread(job)

    return run


@pytest.mark.django_db(transaction=True)
def test_only_a_database_out_of_reach_is_noted_as_an_outage(monkeypatch):
    monkeypatch.setattr(database, "RETRY_SECONDS", 60)
    try:
        with pytest.raises(ProgrammingError):
            run_async(in_thread_raising(ProgrammingError("column does not exist")))
        assert not database.suspected()

        with pytest.raises(OperationalError):
            run_async(in_thread_raising(OperationalError("connection refused")))
        assert database.suspected()
        with pytest.raises(database.Unavailable):  # the next one is not even tried
            run_async(in_thread_raising(AssertionError("not called")))
    finally:
        monkeypatch.setattr(database, "RETRY_SECONDS", 0)
        database.failed(OperationalError("over"))  # with no time to wait: no longer suspected
    assert not database.suspected()
