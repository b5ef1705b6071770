"""The jobs after a chat answer (settling the hold, confirming the journal entry) finish even when
the request is cancelled meanwhile, and the server's shutdown waits for them (gateway.api.run_after,
gateway.asgi's lifespan)."""

import asyncio

from gateway import api

from .conftest import run_async


def test_a_cancelled_request_still_finishes_its_jobs_and_shutdown_waits_for_them():
    async def scenario():
        release, done = asyncio.Event(), []

        async def settle():
            await release.wait()
            done.append("settled")

        async def confirm():
            done.append("confirmed")

        reply = api.Reply(200, b"{}", after=[settle, confirm])
        request = asyncio.ensure_future(api.run_after(reply))
        await asyncio.sleep(0)  # the jobs have started, the hold is not settled yet
        request.cancel()  # the server cancels the request (a shutdown's grace period is over)
        await asyncio.gather(request, return_exceptions=True)
        assert request.cancelled() and done == []

        draining = asyncio.ensure_future(api.after_jobs_drained())
        await asyncio.sleep(0.05)
        assert not draining.done()  # the shutdown waits for the job still running
        release.set()
        await draining
        return done

    assert run_async(scenario) == ["settled", "confirmed"]


def test_a_failing_job_is_logged_and_the_next_one_runs(caplog):
    async def scenario():
        done = []

        async def failing():
            raise RuntimeError("Redis went away")

        async def settle():
            done.append("settled")

        await api.run_after(api.Reply(200, b"{}", after=[failing, settle]))
        return done

    assert run_async(scenario) == ["settled"]
    assert "A job after a chat answer failed." in caplog.text
