"""The deployment-wide Personio budget (issue 15): 2,000 v1 calls a minute per IP, shared through PostgreSQL.

Personio limits every v1 endpoint to 2,000 requests a minute **per IP address**
(``http/ratelimit.PERSONIO_IP_LIMIT``). A deployment's workers sync many companies from one
address (or a few behind one NAT), each company with its own credential, so that limit is
the deployment's, not a company's. Each company keeps its own pacing (its 360Learning
limiter, Personio's per-endpoint limits, in-process), and on top of it every Personio v1 call
of every job on every worker takes one token from ``DeploymentLimit``: a sliding-window log
in a table of the deployment's PostgreSQL, paced ``MARGIN`` under the published limit like
every other limit.

The bucket is pyrate-limiter's own ``PostgresBucket``: each admission locks the table,
counts the window and inserts one row in one transaction, on the database's clock
(``clock_timestamp()``), so workers on machines whose clocks differ still count one window.
The table is ``ratelimit___personio_v1`` in the shared schema. A call waits for its own
per-endpoint limit first and for this one last, so it holds a shared token only when it is
about to go. Why PostgreSQL and not a budget split between workers (1/N each): workers come
and go, and one busy worker may use the whole budget while the others idle; the deployment
already has one PostgreSQL, so no other service is needed.

Single-company mode (SQLite, ``personio360 sync``, ``make demo``) installs none: one process,
one company, its in-process pacing as before.
"""

from __future__ import annotations

__all__ = ["BUDGET_TABLE", "DeploymentLimit"]

from collections.abc import Sequence

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout
from pyrate_limiter import Limiter, PostgresBucket

from personio360.errors import RunStopped
from personio360.http.ratelimit import PERSONIO_IP_LIMIT, scaled_rates
from personio360.service.database import SHARED_SCHEMA, Database

#: the bucket's name (its table: ``ratelimit___personio_v1`` in the shared schema)
BUDGET_TABLE = "personio_v1"


class DeploymentLimit:
    """One deployment's budget of Personio v1 calls, shared by every process that opens it.

    ``rates`` and ``factor`` as for ``RateLimiter`` (the tests use a tiny limit; the benchmarks
    none other than the published one). A ``Pacer`` for ``RateLimiter(shared=...)``.
    """

    def __init__(self, database: Database, *, rates: Sequence[tuple[int, float]] = PERSONIO_IP_LIMIT,
                 factor: float = 1.0, name: str = BUDGET_TABLE) -> None:
        database.ensure_schema(SHARED_SCHEMA)
        self.name = name
        # UTC: the bucket's column has no time zone; every session must read it the same way
        self._pool = ConnectionPool(database.libpq_url, min_size=1, max_size=4, open=True,
                                    kwargs={"options": f"-c search_path={SHARED_SCHEMA} -c timezone=UTC"},
                                    name="personio-budget")
        try:
            self._pool.wait(timeout=15)
            bucket = PostgresBucket(self._pool, name, scaled_rates(rates, factor))
        except (psycopg.OperationalError, PoolTimeout):
            self._pool.close()
            raise _unreachable() from None
        except BaseException:
            self._pool.close()
            raise
        self._limiter = Limiter(bucket, buffer_ms=5)

    def acquire(self) -> None:
        """Block until one more Personio call fits the deployment's budget."""
        self._admit()

    def try_acquire(self, patience: float = 0.2) -> bool:
        """Take one call of the budget if it fits now: False when the window is full.

        Waits up to ``patience`` seconds, not for the budget but for the table: the bucket
        locks it ``NOWAIT`` for each admission, so a lock held at that instant by another
        admission or by the bucket's own leak thread would read as a refusal."""
        try:
            return self._admit(timeout=patience)
        except TimeoutError:
            return False

    def _admit(self, timeout: float = -1) -> bool:
        try:
            return bool(self._limiter.try_acquire(self.name, blocking=True, timeout=timeout))
        except (psycopg.OperationalError, PoolTimeout):
            raise _unreachable() from None

    def close(self) -> None:
        """Stop its leaking thread and close its connections."""
        self._limiter.close()


def _unreachable() -> RunStopped:
    return RunStopped("the deployment's PostgreSQL, which holds the Personio budget, cannot be reached",
                      hint="check that PostgreSQL is running and reachable, then run again")
