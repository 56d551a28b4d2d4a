"""``personio360 worker``: a procrastinate worker over the deployment's queue (issue 15).

Any number of workers, on any number of machines, share one PostgreSQL. A worker runs up to
``concurrency`` jobs at once, of different companies (the per-company lock keeps one company's
jobs one at a time); each job opens its company's own clients, so each company is paced by its
own 360Learning limiter and Personio's per-endpoint limits. Personio's per-IP limit is the
deployment's: at start-up the worker installs the deployment's shared budget
(``limits.DeploymentLimit``, in PostgreSQL) for every Personio client its jobs open
(``wiring.share_personio_budget``), so all workers together keep under 2,000 v1 calls a minute.
SIGTERM or Ctrl-C: the running jobs finish, then the worker stops; a worker killed outright
stops heartbeating, and its jobs are queued again by the next tick.
"""

from __future__ import annotations

__all__ = ["run_worker"]

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import procrastinate
from procrastinate.exceptions import ConnectorException

from personio360.errors import RunStopped
from personio360.service.companies import Registry
from personio360.service.database import Database, database_url, reachable
from personio360.service.limits import DeploymentLimit
from personio360.service.sealing import Sealer
from personio360.service.tasks import Deployment, make_app, queue_schema
from personio360.wiring import share_personio_budget

log = logging.getLogger("personio360.service")


def run_worker(database: str | None, *, concurrency: int = 4, stalled_after: float = 30.0) -> int:
    """Run jobs until stopped; ``stalled_after``: seconds without a heartbeat before a worker's
    jobs are taken as abandoned (it heartbeats every third of that)."""
    sealer = Sealer.from_environ()
    db = Database(database_url(database))
    registry = Registry(db)
    budget: DeploymentLimit | None = None
    try:
        registry.migrate()
        queue_schema(db)
        budget = DeploymentLimit(db)
        share_personio_budget(budget)
        app = make_app(db)
        deployment = Deployment(registry, sealer, stalled_after=stalled_after)
        with reachable(db.url):
            asyncio.run(_work(app, concurrency, deployment, stalled_after))
    except ConnectorException:
        raise RunStopped("the worker lost the deployment's PostgreSQL",
                         hint="check that PostgreSQL is running and reachable, then start the worker again"
                         ) from None
    finally:
        share_personio_budget(None)
        if budget is not None:
            budget.close()
        db.close()
    return 0


async def _work(app: procrastinate.App, concurrency: int, deployment: Deployment,
                stalled_after: float) -> None:
    """``app.run_worker`` with room for ``concurrency`` jobs at once.

    procrastinate runs a synchronous task (a full sync, a changes run) in the event loop's
    default executor, whose threads number ``min(32, cpus + 4)``: 6 on two cores, whatever
    ``--concurrency`` says (measured: of 20 companies' syncs on two workers at 10 each, 12
    ran and 8 waited for them, so the deployment took twice its slowest company's floor). The
    executor holds ``concurrency`` threads here, and two more for the tick's own calls.
    """
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=concurrency + 2, thread_name_prefix="personio360-job"))
    # shutdown_graceful_timeout None: the running jobs finish (procrastinate's default, typed float)
    options: dict[str, Any] = {"concurrency": concurrency, "additional_context": {"deployment": deployment},
                               "update_heartbeat_interval": max(1.0, stalled_after / 3),
                               "stalled_worker_timeout": stalled_after, "shutdown_graceful_timeout": None}
    async with app.open_async():
        await app.run_worker_async(**options)
