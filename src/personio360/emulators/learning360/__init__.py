"""The 360Learning API v2 emulator: a company's state, its HTTP app, and a convenience wrapper.

``Learning360Emulator()`` builds a ``Learning360State`` (root group + owner), the app
(``build_app``) with its ``FaultPlan`` and ``CallStats``, and serves it on 127.0.0.1::

    with Learning360Emulator(rate_limits=False) as emu:
        httpx.post(f"{emu.url}/api/v2/oauth2/token", json={...})
        emu.state.users()

Behaviour where the vendor documents are silent is listed in ``docs/emulators.md``.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "BulkRunner",
    "Learning360Emulator",
    "Learning360State",
    "StateError",
    "build_app",
]

import dataclasses
from collections.abc import Iterable

from personio360.emulators.deliveries import DeliveryEngine
from personio360.emulators.faults import Fault, FaultPlan
from personio360.emulators.learning360.app import build_app
from personio360.emulators.learning360.bulk import BulkRunner
from personio360.emulators.learning360.errors import StateError
from personio360.emulators.learning360.state import Learning360State
from personio360.emulators.learning360.webhooks import LEARNING360_RETRIES, Subscriptions
from personio360.emulators.server import RunningServer, serve_in_thread
from personio360.emulators.stats import CallStats

DEFAULT_CLIENT_ID = "emulator-360-client"
DEFAULT_CLIENT_SECRET = "emulator-360-secret"  # a public, emulator-only value


class Learning360Emulator:
    """One emulated company, its app, and (once served) its URL; a context manager.

    ``.webhooks`` holds the webhook subscriptions, ``.deliveries`` their ``DeliveryEngine``.
    """

    def __init__(self, *, client_id: str = DEFAULT_CLIENT_ID,
                 client_secret: str = DEFAULT_CLIENT_SECRET, rate_limits: bool = True,
                 rate_limit_factor: float = 1.0, token_ttl: float = 3600.0,
                 bulk_delay: float = 0.0, faults: list[Fault] | None = None, seed: int = 0,
                 scopes: Iterable[str] | None = None, absolute_links: bool = False,
                 state: Learning360State | None = None, time_scale: float = 1.0,
                 webhook_timeout: float = 15.0, webhook_api_changes: bool = False) -> None:
        """``time_scale`` compresses webhook retry delays, the 24 h of a rotated secret and
        the 5 days before a failing subscription goes inactive; ``webhook_timeout`` is a
        delivery's per-request timeout; ``webhook_api_changes`` also emits events for
        changes made through the API (by default only hand edits do)."""
        self.client_id = client_id
        self.client_secret = client_secret
        self.state = state if state is not None else Learning360State(seed=seed)
        self.faults = FaultPlan(faults=list(faults or []), seed=seed)
        self.stats = CallStats()
        self.bulk = BulkRunner(self.state, delay=bulk_delay)
        self.deliveries = DeliveryEngine(faults=self.faults, time_scale=time_scale,
                                         name="360learning-webhooks")
        self.webhooks = Subscriptions(
            self.state, self.deliveries, api_changes=webhook_api_changes,
            retries=dataclasses.replace(LEARNING360_RETRIES, timeout=webhook_timeout))
        self.app = build_app(self.state, client_id=client_id, client_secret=client_secret,
                             faults=self.faults, stats=self.stats, rate_limits=rate_limits,
                             rate_limit_factor=rate_limit_factor, token_ttl=token_ttl,
                             bulk=self.bulk, scopes=scopes, absolute_links=absolute_links,
                             webhooks=self.webhooks)
        self.server: RunningServer | None = None

    def serve(self) -> RunningServer:
        """Serve on 127.0.0.1 (ephemeral port) in a thread; ``stop()`` ends it."""
        if self.server is None:
            self.server = serve_in_thread(self.app)
        return self.server

    @property
    def url(self) -> str:
        """The served base URL (serving first if needed)."""
        return self.serve().url

    def stop(self) -> None:
        self.bulk.close()
        self.deliveries.close()
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self) -> Learning360Emulator:
        self.serve()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Learning360Emulator(url={self.server.url if self.server else None!r})"
