"""Rich renderings of the companies of a deployment and of their jobs (issue 15)."""

from __future__ import annotations

__all__ = ["render_companies", "render_company", "render_jobs"]

import datetime as dt
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from personio360.service.status import CompanyStatus


def _when(at: dt.datetime | None) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if at else "—"


def _lag(lag: dt.timedelta | None) -> str:
    return f"{int(lag.total_seconds())} s" if lag is not None else "—"


def render_companies(console: Console, statuses: Sequence[CompanyStatus]) -> None:
    if not statuses:
        console.print("No companies yet: personio360 companies add FILE --secrets ENVFILE")
        return
    table = Table("company", "environment", "status", "last run", "next run", "change lag", "attention")
    for s in statuses:
        last = f"{s.last_run.id} {s.last_run.kind} {s.last_run.outcome} {_when(s.last_run.started_at)}" \
            if s.last_run else "—"
        table.add_row(escape(s.company.name), s.company.environment, s.status, last, _when(s.next_run),
                      _lag(s.change_lag), escape("; ".join(s.attention)) or "—")
    console.print(table)


def render_company(console: Console, s: CompanyStatus) -> None:
    c = s.company
    console.print(f"[bold]{escape(c.name)}[/] ({c.environment}): {s.status}")
    console.print(f"  config        {escape(c.config_file)}")
    console.print(f"  added         {_when(c.added_at)}")
    console.print(f"  Personio company_id {escape(c.personio_company_id or '—')}")
    console.print(f"  secrets       {escape(', '.join(c.secret_names))} (sealed; values never shown)")
    console.print(f"  next full sync {_when(c.next_full_at)}; next poll {_when(c.next_poll_at)}")
    if s.last_run is not None:
        r = s.last_run
        console.print(f"  last run      {r.id} {r.kind} {r.outcome} at {_when(r.started_at)}")
    console.print(f"  change lag    {_lag(s.change_lag)}")
    if s.preview is not None:
        p = s.preview
        if p.summary is None:
            what = f"stopped: {p.problem or 'no plan'}"
        else:
            counts = ", ".join(f"{kind} {n}" for kind, n in (p.summary.get("counts") or {}).items())
            counts = counts or "no change"
            what = counts + (f"; used by run {p.run_id}" if p.run_id is not None else "; Run now applies it")
        console.print(f"  last preview  {p.id} at {_when(p.made_at)} (job {p.job_id or '—'}): {escape(what)}")
    for line in s.attention:
        console.print(f"  [yellow]attention[/]     {escape(line)}")


def render_jobs(console: Console, jobs: Sequence[dict[str, object]]) -> None:
    if not jobs:
        console.print("No jobs.")
        return
    table = Table("job", "company", "kind", "status", "attempts", "scheduled")
    for job in jobs:
        scheduled = job.get("scheduled")
        kind = f"{job['kind']} ({job['detail']})" if job.get("detail") else str(job["kind"])
        table.add_row(str(job["id"]), escape(str(job["company"])), escape(kind), str(job["status"]),
                      str(job["attempts"]), _when(scheduled) if isinstance(scheduled, dt.datetime) else "—")
    console.print(table)
