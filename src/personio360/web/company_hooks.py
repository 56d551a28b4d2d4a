"""The webhook receivers of a multi-company deployment (issue 15): each delivery to its own company.

``POST /companies/<name>/hooks/personio`` and ``POST /companies/<name>/hooks/360learning`` are
today's receivers (``web/hooks.py``, unchanged), each over the company's own store, tokens and
signing secrets: a token or secret of company A never authenticates a delivery for company B,
and Personio's ``company_id`` must also be A's (``[webhooks] personio_company_id``). An unknown
company is refused (404) and nothing is recorded. A company's ``[webhooks] public_url`` is
``https://<host>/companies/<name>``, so ``webhooks setup`` registers exactly these addresses.
A recorded event puts one changes run of that company on the queue (its queueing lock
coalesces a burst); the deferring happens on a thread of its own, never on the event loop.
The deployment's server that routes here is ``web/companies_admin.py``.
"""

from __future__ import annotations

__all__ = ["CompanyHooks", "deliver"]

import logging
import queue
import threading
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from personio360.config import load_webhook_secrets
from personio360.errors import Personio360Error
from personio360.service.companies import Registry
from personio360.service.sealing import Sealer
from personio360.store import Store, open_store
from personio360.web.hooks import Receivers, _verifiers, completion_items, hook_routes

log = logging.getLogger("personio360.web.hooks")


class _Deferrer:
    """One thread that turns "company X recorded an event" into a queued changes run."""

    def __init__(self, defer: Callable[[str], None]) -> None:
        self._defer = defer
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, daemon=True, name="personio360-defer")
        self._thread.start()

    def arrived(self, company: str) -> None:
        self._queue.put(company)

    def _run(self) -> None:
        while (company := self._queue.get()) is not None:
            try:
                self._defer(company)
            except Exception:  # the event is recorded: the company's next poll or full sync covers it
                log.exception("queueing a changes run of %s failed", company)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)


class CompanyHooks:
    """Each company's receivers, built on its first delivery from the registry and kept."""

    def __init__(self, registry: Registry, sealer: Sealer, defer: Callable[[str], None]) -> None:
        self.registry = registry
        self.sealer = sealer
        self._deferrer = _Deferrer(defer)
        self._apps: dict[str, Starlette] = {}
        self._stores: list[Store] = []
        self._lock = threading.Lock()

    def app_of(self, name: str) -> Starlette | None:
        """The receivers' app of company ``name``; None when there is no such company."""
        with self._lock:
            if name not in self._apps:
                if name not in {c.name for c in self.registry.list()}:
                    return None
                target = self.registry.target(name, self.sealer)
                store = open_store(target.settings.state_url)
                self._stores.append(store)
                hooks = target.settings.webhooks
                secrets = load_webhook_secrets(target.settings, target.environ)
                receivers = Receivers(store, *_verifiers(secrets),
                                      company_id=hooks.personio_company_id if hooks else None,
                                      arrived=lambda: self._deferrer.arrived(name),
                                      completions=completion_items(target.settings))
                app = Starlette(routes=hook_routes)
                app.state.hooks = receivers
                self._apps[name] = app
            return self._apps[name]

    def close(self) -> None:
        self._deferrer.close()
        for store in self._stores:
            store.close()


async def deliver(hooks: CompanyHooks, name: str, path: str, scope: Scope, receive: Receive,
                  send: Send) -> None:
    """A delivery to ``/companies/<name><path>`` (``path``: ``/hooks/...``) handed to that
    company's receivers; never behind the admin's session (each receiver verifies its own)."""
    try:
        app = await run_in_threadpool(hooks.app_of, name)
    except Personio360Error as exc:  # e.g. its credentials do not open: the sender retries
        log.error("company %s cannot receive webhooks: %s", name, exc)
        await JSONResponse({"error": "not recorded; retry later"}, status_code=503)(scope, receive, send)
        return
    if app is None:
        log.warning("webhook for an unknown company %r refused", name)
        await JSONResponse({"error": "unknown company"}, status_code=404)(scope, receive, send)
        return
    await app({**scope, "path": path, "raw_path": path.encode(), "root_path": ""}, receive, send)
