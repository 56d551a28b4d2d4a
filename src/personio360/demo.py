"""``personio360 demo``: the whole story against the built-in emulators, for a newcomer.

Both emulators start in-process on free loopback ports with a generated company (edge cases
included); the demo then runs what an administrator would (check, plan, sync), makes HR
changes in the Personio emulator (a hire, an edit, an email change, a termination), plans,
explains the new hire, syncs again, rehires the leaver (who gets the old account back), shows
one change flowing in near-real time (an HR edit, Personio's webhook reaching ``serve``'s
receiver, a changes run touching only that person, R17), and shows the run history.
The emulators enforce the published rate limits, multiplied by ``FACTOR`` to keep it short.
"""

from __future__ import annotations

__all__ = ["run_demo"]

import datetime as dt
import secrets
import tempfile
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from personio360.cli.render import Names, render_checks, render_plan, render_report, render_runs
from personio360.cli.review import render_explanation
from personio360.config import load_config
from personio360.emulators.sandbox import Sandbox
from personio360.emulators.server import serve_in_thread
from personio360.http.redact import register_secret
from personio360.sync.check import run_checks
from personio360.sync.explain import explain
from personio360.sync.run import prepare_plan, run_sync
from personio360.sync.run_changes import run_changes
from personio360.web.admin import Admin
from personio360.web.app import create_app
from personio360.wiring import Context, open_context

#: The demo's emulators allow 10x the published limits (500 reads/s, 100 writes/s).
FACTOR = 10.0


def run_demo(console: Console, *, size: int = 300, seed: int = 7) -> int:
    with tempfile.TemporaryDirectory(prefix="personio360-demo-") as tmp:
        sandbox = Sandbox(Path(tmp), size=size, seed=seed, rate_limit_factor=FACTOR)
        with sandbox:
            console.print(Rule("personio360 demo"))
            console.print(
                f"Two emulators are serving {sandbox.company.name}: Personio at {sandbox.personio_url} "
                f"({len(sandbox.company.employees)} employees, edge cases included) and 360Learning at "
                f"{sandbox.lms_url} (a group hierarchy office → department, an owner, a connector admin, "
                "a few users who exist only in 360Learning). Rate limits: the published ones x10.\n"
                f"The config the demo uses is {sandbox.config_path}:\n")
            console.print(sandbox.config_path.read_text(encoding="utf-8"), markup=False)
            settings = load_config(sandbox.config_path)
            with open_context(settings, environ=sandbox.environ, rate_limit_factor=FACTOR) as ctx:
                _first_sync(console, ctx)
                leaver, hired = _hr_changes(console, sandbox, ctx)
                _step(console, "personio360 plan", "after the HR changes")
                _plan(console, ctx)
                _step(console, f"personio360 explain {hired}", "why, where and how the new hire is synced")
                _explain(console, ctx, hired)
                _sync(console, ctx, allow_deletions=False)
                _rehire(console, sandbox, ctx, leaver)
                _step(console, "personio360 sync", "a second time with no change: no write call (R14)")
                before = _calls(sandbox)
                _sync(console, ctx, allow_deletions=False)
                full = _since(sandbox, before)
                console.print(f"  write calls to 360Learning: {full[2]}")
                _one_change(console, sandbox, ctx, full)
                _step(console, "personio360 runs", "the run history (R16)")
                render_runs(console, ctx.store.runs.recent(10))
        console.print(Rule("done"))
        console.print("Next: read README.md to point personio360 at your real Personio and 360Learning.")
    return 0


def _first_sync(console: Console, ctx: Context) -> None:
    _step(console, "personio360 check", "everything a sync needs (R11)")
    render_checks(console, run_checks(ctx.settings, ctx.personio, ctx.lms))
    _step(console, "personio360 plan", "what the first sync will do (nothing changes yet)")
    _plan(console, ctx, limit=12)
    _sync(console, ctx, allow_deletions=False)


def _plan(console: Console, ctx: Context, *, limit: int | None = None) -> None:
    prepared = prepare_plan(ctx.settings, ctx.personio, ctx.lms, ctx.store)
    render_plan(console, prepared.plan, detail_limit=limit, names=Names.of(prepared.snapshot))


def _sync(console: Console, ctx: Context, *, allow_deletions: bool) -> None:
    _step(console, "personio360 sync", "")
    report = run_sync(ctx.settings, ctx.personio, ctx.lms, ctx.store, allow_deletions=allow_deletions,
                      bulk_poll_interval=0.2)
    render_report(console, report)


def _explain(console: Console, ctx: Context, employee_id: int) -> None:
    prepared = prepare_plan(ctx.settings, ctx.personio, ctx.lms, ctx.store, employee_id=employee_id)
    render_explanation(console, explain(prepared.snapshot, ctx.settings, str(employee_id)),
                       names=Names.of(prepared.snapshot))


def _hr_changes(console: Console, sandbox: Sandbox, ctx: Context) -> tuple[int, int]:
    """A hire, an edit, an email change and a termination, made in the Personio emulator."""
    people = sandbox.personio.state
    links = ctx.store.links.active()
    linked = sorted(e for e in links if people.employee(e).get("supervisor"))
    edited, renamed, leaver = linked[0], linked[1], linked[2]
    boss = people.employee(edited)["supervisor"]
    new_id = people.hire(first_name="Noor", last_name="Haddad", email=f"noor.haddad@{_domain(sandbox)}",
                         status="active", position="Data Analyst", office="Berlin",
                         department="Engineering", supervisor=boss, hire_date=dt.date(2025, 6, 2))
    people.update(edited, position="Principal Consultant")
    old_mail = str(people.employee(renamed)["email"])
    people.update(renamed, email="new." + old_mail)
    people.terminate(leaver)
    _step(console, "HR changes in Personio", "")
    console.print(f"  hired   employee {new_id}: Noor Haddad, Data Analyst, Berlin / Engineering")
    console.print(f"  edited  employee {edited}: position is now Principal Consultant")
    console.print(f"  email   employee {renamed}: {old_mail} → new.{old_mail}")
    console.print(f"  left    employee {leaver}: status inactive")
    return leaver, new_id


def _rehire(console: Console, sandbox: Sandbox, ctx: Context, leaver: int) -> None:
    people = sandbox.personio.state
    old_user = next((link.user_id for link in ctx.store.links.history(leaver)), None)
    people.update(leaver, status="active", termination_date=None)
    _step(console, "HR change in Personio", f"employee {leaver} is rehired")
    _plan(console, ctx)
    _sync(console, ctx, allow_deletions=False)
    new_user = ctx.store.links.active().get(leaver)
    same = new_user is not None and new_user.user_id == old_user
    console.print(f"  employee {leaver} is back on 360Learning user {new_user.user_id if new_user else '?'}"
                  f" ({'the same account as before' if same else 'a new account'})")


def _one_change(console: Console, sandbox: Sandbox, ctx: Context, full: tuple[int, int, int]) -> None:
    """R17: an HR edit, Personio's webhook to ``serve``'s receiver, a changes run for that person."""
    token = secrets.token_urlsafe(24)
    register_secret(token)
    environ = {**sandbox.environ, "PERSONIO_WEBHOOK_TOKEN": token}
    admin = Admin(ctx.settings, ctx, environ=environ)
    server = serve_in_thread(create_app(admin, secrets.token_urlsafe(16)))
    try:
        sandbox.personio.webhooks.create({
            "url": f"{server.url}/hooks/personio", "description": "personio360 (demo)",
            "status": "ENABLED", "auth_type": "TOKEN", "token": token,
            "enabled_events": ["person.created", "person.updated", "person.deleted",
                               "employment.created", "employment.updated", "employment.deleted"]})
        people = sandbox.personio.state
        edited = sorted(ctx.store.links.active())[3]
        people.update(edited, position="Team Lead")
        _step(console, "HR change in Personio", f"employee {edited} becomes Team Lead")
        sandbox.personio.deliveries.wait_idle(10)
        for event in ctx.store.feed.pending():
            console.print(f"  webhook received by personio360 serve ({server.url}/hooks/personio): "
                          f"{event.event_name} for employee {event.employee_id}")
        _step(console, "personio360 sync --changes", "only who changed (in production serve runs it "
              "within seconds of the webhook; in test, by hand: R12)")
        before = _calls(sandbox)
        report = run_changes(ctx.settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.2,
                             writer=ctx.writer)
        render_report(console, report)
        calls = _since(sandbox, before)
        user = ctx.store.links.active()[edited].user_id
        console.print(f"  360Learning now shows job title {sandbox.lms.state.user(user).job!r}")
        console.print(f"  calls: this changes run {calls[0]} Personio, {calls[1]} 360Learning reads, "
                      f"{calls[2]} writes; the full sync before it {full[0]} Personio, {full[1]} "
                      f"360Learning reads, {full[2]} writes")
    finally:
        server.stop()
        admin.close()


def _calls(sandbox: Sandbox) -> tuple[int, int, int]:
    """Personio reads, 360Learning reads, 360Learning writes so far."""
    lms = sandbox.lms.stats
    return (sandbox.personio.stats.count("read"), lms.count("read"),
            lms.count("write") + lms.count("bulk"))


def _since(sandbox: Sandbox, before: tuple[int, int, int]) -> tuple[int, int, int]:
    now = _calls(sandbox)
    return (now[0] - before[0], now[1] - before[1], now[2] - before[2])


def _domain(sandbox: Sandbox) -> str:
    return sandbox.installed.connector_admin_email.split("@", 1)[1]


def _step(console: Console, command: str, why: str) -> None:
    console.print()
    console.print(Rule(f"[bold]$ {command}[/]" + (f"  [dim]{why}[/]" if why else ""), align="left"))
