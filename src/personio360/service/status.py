"""Each company at a glance (issue 15): status, last run, next run, change lag, what needs attention.

Read from each company's own store (through its scoped URL) and the registry; shared by
``companies list|show`` and the admin page's list of companies (which keeps each company's
store open between page views: ``store_of``).
"""

from __future__ import annotations

__all__ = ["CompanyStatus", "company_status", "company_statuses"]

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from personio360.errors import Personio360Error
from personio360.http.redact import redact
from personio360.service.companies import Company, Registry
from personio360.service.database import company_state_url
from personio360.store import Store, open_store
from personio360.store.previews import StoredPreview
from personio360.store.runs import RunSummary


@dataclass(frozen=True, slots=True)
class CompanyStatus:
    company: Company
    last_run: RunSummary | None = None
    change_lag: dt.timedelta | None = None
    #: open problems (notifications' notices) and a last run that did not complete
    attention: tuple[str, ...] = ()
    #: the latest preview a queue job made (its plan document left unread)
    preview: StoredPreview | None = None

    @property
    def next_run(self) -> dt.datetime | None:
        due = [t for t in (self.company.next_full_at, self.company.next_poll_at) if t is not None]
        return min(due) if due else None

    @property
    def status(self) -> str:
        if self.attention:
            return "needs attention"
        if self.last_run is None:
            return "never synced"
        return "ok"


def company_status(registry: Registry, company: Company, now: dt.datetime | None = None, *,
                   store: Store | None = None) -> CompanyStatus:
    """One company's status from its own store (``store``: that store, already open and kept
    by the caller); a store that cannot be read is itself the problem."""
    now = now or dt.datetime.now(dt.UTC)
    opened = store
    if opened is None:
        try:
            opened = open_store(company_state_url(registry.database.url, company.name))
        except Personio360Error as exc:
            return CompanyStatus(company, attention=(redact(str(exc)),))
    try:
        runs = opened.runs.recent(1)
        last = runs[0] if runs else None
        attention = [f"{n.kind}: {n.summary}" if n.summary else n.kind
                     for n in opened.notices.open_problems().values()]
        if last is not None and last.outcome in ("stopped", "failed") and not attention:
            attention.append(f"last run {last.id} {last.outcome}: {last.message or ''}".strip(": "))
        lag = opened.feed.status().lag(now)
        preview = opened.previews.latest()
    finally:
        if store is None:
            opened.close()
    return CompanyStatus(company, last, lag, tuple(redact(a) for a in attention), preview)


def company_statuses(registry: Registry, *,
                     store_of: Callable[[str], Store] | None = None) -> list[CompanyStatus]:
    """Every company's status; ``store_of(name)``: a company's store kept open by the caller."""
    statuses = []
    for company in registry.list():
        try:
            store = store_of(company.name) if store_of else None
        except Personio360Error as exc:
            statuses.append(CompanyStatus(company, attention=(redact(str(exc)),)))
            continue
        statuses.append(company_status(registry, company, store=store))
    return statuses
