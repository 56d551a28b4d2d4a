"""A worker's ``--concurrency`` is its jobs at once, whatever the machine's core count (issue 15)."""

from __future__ import annotations

import asyncio
import os
import threading

import procrastinate
from procrastinate.testing import InMemoryConnector

from personio360.service import worker
from personio360.service.tasks import Deployment


def test_a_worker_runs_as_many_synchronous_jobs_at_once_as_its_concurrency() -> None:
    """More synchronous jobs than the event loop's default executor has threads (cpus + 4) all
    run at the same time: each waits at one barrier for all the others, so none finishes unless
    every one of them has started (the barrier's timeout only keeps a failure from hanging)."""
    jobs = min(32, (os.cpu_count() or 1) + 4) + 2
    barrier = threading.Barrier(jobs, timeout=30)
    app = procrastinate.App(connector=InMemoryConnector())

    @app.task(name="wait_for_all")
    def wait_for_all() -> None:
        barrier.wait()

    async def run() -> list[str]:
        for _ in range(jobs):
            await wait_for_all.defer_async()
        running = asyncio.create_task(worker._work(app, jobs, Deployment(None, None), 3.0))  # type: ignore[arg-type]
        connector = app.connector
        assert isinstance(connector, InMemoryConnector)
        while sum(1 for j in connector.jobs.values() if j["status"] in ("succeeded", "failed")) < jobs:
            await asyncio.sleep(0.05)
            assert not running.done(), running
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        return [j["status"] for j in connector.jobs.values()]

    assert asyncio.run(run()) == ["succeeded"] * jobs
