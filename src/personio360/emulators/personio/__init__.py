"""The Personio emulator: v1 auth and employee reads, fault injection, a control surface.

``PersonioEmulator`` bundles the state, the fault plan, the call counters and the ASGI app;
``serve()`` runs it on 127.0.0.1 for tests, the demo and benchmarks (SPEC §5).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_COMPANY_ID",
    "DEFAULT_WRITE_CLIENT_ID",
    "DEFAULT_WRITE_CLIENT_SECRET",
    "PersonioEmulator",
    "PersonioState",
    "build_app",
]

import dataclasses

from personio360.emulators.deliveries import DeliveryEngine
from personio360.emulators.faults import FaultPlan
from personio360.emulators.personio.app import build_app
from personio360.emulators.personio.state import PersonioState
from personio360.emulators.personio.webhooks import DEFAULT_COMPANY_ID, PERSONIO_RETRIES, Webhooks
from personio360.emulators.server import RunningServer, serve_in_thread
from personio360.emulators.stats import CallStats

DEFAULT_CLIENT_ID = "emulator-personio-client"
DEFAULT_CLIENT_SECRET = "emulator-personio-secret"
#: R18: a second credential, the one that may write (public, emulator-only values)
DEFAULT_WRITE_CLIENT_ID = "emulator-personio-writer"
DEFAULT_WRITE_CLIENT_SECRET = "emulator-personio-writer-secret"


class PersonioEmulator:
    """One emulated Personio company: ``.state``, ``.faults``, ``.stats``, ``.app``,
    ``.webhooks`` (v2 subscriptions) and ``.deliveries`` (their ``DeliveryEngine``).

    Used as a context manager it serves itself and stops on exit; ``.url`` is then the base
    URL (the APIs live under ``/v1`` and ``/v2``, the control surface under ``/_emulator``).
    ``time_scale`` compresses the webhook retry delays (1000 = a minute in 60 ms);
    ``webhook_timeout`` is the per-request timeout of a delivery (3 s, as documented).
    """

    def __init__(self, *, client_id: str = DEFAULT_CLIENT_ID,
                 client_secret: str = DEFAULT_CLIENT_SECRET, rate_limits: bool = True,
                 rate_limit_factor: float = 1.0, token_ttl: float = 86400.0,
                 faults: FaultPlan | None = None, seed: int = 0,
                 state: PersonioState | None = None, company_id: str = DEFAULT_COMPANY_ID,
                 time_scale: float = 1.0, webhook_timeout: float = 3.0,
                 write_client_id: str = DEFAULT_WRITE_CLIENT_ID,
                 write_client_secret: str = DEFAULT_WRITE_CLIENT_SECRET) -> None:
        """``write_client_id``/``write_client_secret``: the credential that may also write
        employees (``PATCH``, R18); the first one may only read."""
        self.client_id = client_id
        self.write_client_id = write_client_id
        self.state = state if state is not None else PersonioState()
        self.faults = faults if faults is not None else FaultPlan(seed=seed)
        self.stats = CallStats()
        self.deliveries = DeliveryEngine(faults=self.faults, time_scale=time_scale,
                                         name="personio-webhooks")
        retries = dataclasses.replace(PERSONIO_RETRIES, timeout=webhook_timeout)
        self.webhooks = Webhooks(self.state, self.deliveries, company_id=company_id,
                                 retries=retries)
        self.app = build_app(self.state, client_id=client_id, client_secret=client_secret,
                             faults=self.faults, stats=self.stats, rate_limits=rate_limits,
                             rate_limit_factor=rate_limit_factor, token_ttl=token_ttl, seed=seed,
                             webhooks=self.webhooks,
                             writer=(write_client_id, write_client_secret))
        self._server: RunningServer | None = None

    def __repr__(self) -> str:
        return f"PersonioEmulator(client_id={self.client_id!r}, employees={len(self.state)})"

    def serve(self) -> RunningServer:
        """Start serving on 127.0.0.1 (a free port); the caller stops the returned server."""
        return serve_in_thread(self.app)

    @property
    def url(self) -> str:
        """The base URL while served as a context manager."""
        if self._server is None:
            raise RuntimeError("not serving: use `with PersonioEmulator() as emulator:`")
        return self._server.url

    def __enter__(self) -> PersonioEmulator:
        self._server = self.serve()
        return self

    def close(self) -> None:
        """Stop sending webhook deliveries (the server, if any, is stopped by its owner)."""
        self.deliveries.close()

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.close()
