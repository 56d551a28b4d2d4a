"""R17 through real deliveries: both emulators deliver to ``serve``'s receivers over HTTP on
127.0.0.1, the events are recorded once, and ``sync --changes`` applies them; duplicated and
reordered deliveries converge, and a dropped one is caught by the full sync (the safety net).

The two changes here are ones the poll cannot see (a person deleted in Personio is no longer
listed; a user deleted by hand in 360Learning is not a Personio change), so only the deliveries
can bring them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from secrets import token_hex
from typing import TYPE_CHECKING

import httpx
import pytest

from personio360.emulators.faults import Fault
from personio360.emulators.server import serve_in_thread
from personio360.sync.report import Outcome
from personio360.web.admin import Admin
from personio360.web.app import create_app

from .test_r17_changes import CHANGES, Calls, Change, changes, converged, fed_env, leaf

if TYPE_CHECKING:
    from .conftest import MakeEnv, SyncEnv

TOKEN = "Bearer " + token_hex(16)  # made per run: no token is written in the repository
PASSWORD = "a-long-admin-password-for-r17"
PERSON_EVENTS = ["person.created", "person.updated", "person.deleted",
                 "employment.created", "employment.updated", "employment.deleted"]
USER_EVENTS = ["user.updated", "user.deleted", "user.reactivated"]


@dataclass
class Hooked:
    env: SyncEnv
    url: str

    def settle(self) -> None:
        """Every delivery made (or given up): the emulators' own wait, no sleeps."""
        assert self.env.sb.personio.deliveries.wait_idle(20)
        assert self.env.sb.lms.deliveries.wait_idle(20)

    def delete_by_hand(self, user_id: str) -> None:
        """An administrator deletes a user in 360Learning (the control surface: a hand edit)."""
        httpx.delete(f"{self.env.sb.lms_url}/_emulator/users/{user_id}", timeout=10).raise_for_status()


@pytest.fixture
def hooked(make_env: MakeEnv) -> Iterator[Hooked]:
    """A synced company whose emulators deliver to a served ``serve`` app (test environment)."""
    env = fed_env(make_env)
    lms_hooks = env.sb.lms.webhooks
    subscriptions = [lms_hooks.create(event, "personio360 (test)", "http://127.0.0.1:9/hooks/360learning")
                     for event in USER_EVENTS]
    secrets = [lms_hooks.secret(s["_id"]) for s in subscriptions]
    environ = {**env.sb.environ, "PERSONIO_WEBHOOK_TOKEN": TOKEN,
               "LEARNING360_WEBHOOK_SECRET": " ".join(secrets)}
    with contextlib.ExitStack() as stack:
        admin = Admin(env.settings, env.ctx, environ=environ)
        stack.callback(admin.close)
        server = serve_in_thread(create_app(admin, PASSWORD))
        stack.callback(server.stop)
        for s in subscriptions:
            lms_hooks.update(s["_id"], {"url": f"{server.url}/hooks/360learning"})
        env.sb.personio.webhooks.create({
            "url": f"{server.url}/hooks/personio", "description": "personio360 (test)",
            "status": "ENABLED", "auth_type": "TOKEN", "token": TOKEN, "enabled_events": PERSON_EVENTS})
        yield Hooked(env, server.url)


def test_deliveries_reach_the_store_once_and_a_changes_run_applies_them(hooked: Hooked) -> None:
    env = hooked.env
    env.sb.personio.faults.replace([Fault(kind="delivery_duplicate", path=r"person\."),
                                    Fault(kind="delivery_reorder", path=r"employment\.")])
    gone = leaf(env, office="London")
    gone_user = env.user_id_of(gone)
    env.personio.remove(gone)
    restored = leaf(env, office="Berlin")
    restored_user = env.user_id_of(restored)
    hooked.delete_by_hand(restored_user)
    hooked.settle()

    waiting = env.ctx.store.feed.pending()
    assert sorted((e.provider, e.event_name) for e in waiting) == [
        ("360learning", "user.deleted"), ("personio", "employment.deleted"), ("personio", "person.deleted")]
    report = changes(env)
    assert report.outcome is Outcome.COMPLETED, report
    assert report.covered == 2
    assert env.lms.user(gone_user).status == "deleted"
    assert gone not in env.links()
    assert env.lms.user(restored_user).status != "deleted"  # R4: restored within seconds
    assert env.user_id_of(restored) == restored_user
    assert env.ctx.store.feed.pending() == []
    converged(env)


def test_a_dropped_delivery_is_caught_by_the_full_sync(hooked: Hooked) -> None:
    env = hooked.env
    env.sb.personio.faults.replace([Fault(kind="delivery_drop", path=r"(person|employment)\.deleted")])
    gone = leaf(env)
    gone_user = env.user_id_of(gone)
    env.personio.remove(gone)
    hooked.settle()
    assert env.ctx.store.feed.pending() == []
    assert changes(env).run_id is None  # nothing named them, and the poll cannot list them
    assert env.lms.user(gone_user).status != "deleted"
    assert env.sync().outcome in (Outcome.COMPLETED, Outcome.COMPLETED_WITH_ERRORS)
    assert env.lms.user(gone_user).status == "deleted"
    assert gone not in env.links()


def _rehire(env: SyncEnv) -> Callable[[], None]:
    """A leaver, synced out, then back in Personio: the old account returns (R5)."""
    emp = leaf(env)
    user = env.user_id_of(emp)
    env.personio.terminate(emp)
    assert changes(env).outcome is Outcome.COMPLETED
    env.personio.update(emp, status="active", termination_date=None)

    def check() -> None:
        assert env.user_id_of(emp) == user
        assert env.lms.user(user).status != "deleted"
    return check


@pytest.mark.parametrize("change", [*CHANGES.values(), _rehire], ids=[*CHANGES.keys(), "rehire"])
def test_each_change_is_delivered_and_applied_as_a_full_sync_would(hooked: Hooked, change: Change) -> None:
    """Each kind of HR change fires a delivery that names the person; the changes run applies it."""
    env = hooked.env
    check = change(env)
    hooked.settle()
    assert env.ctx.store.feed.pending(), "the change fired no delivery"
    report = changes(env)
    assert report.outcome is Outcome.COMPLETED, report
    check()
    converged(env)
    assert env.ctx.store.feed.pending() == []


def test_echoes_of_our_own_writes_cost_no_rereads(hooked: Hooked) -> None:
    """360Learning may report the connector's own API changes: those events are recorded but
    name no one, so the next changes run has nothing to do."""
    env = hooked.env
    httpx.put(f"{env.sb.lms_url}/_emulator/webhooks/api-changes", json={"enabled": True},
              timeout=10).raise_for_status()
    emp = leaf(env)
    env.personio.update(emp, position="Echoed")
    hooked.settle()  # Personio's own delivery for the edit, answered by this run
    assert changes(env).applied == {"update_user": 1}
    hooked.settle()
    assert [e.event_name for e in env.ctx.store.feed.pending() if e.provider == "360learning"] == [
        "user.updated"]
    calls = Calls(env)
    assert changes(env).run_id is None
    assert calls.delta[1:] == (0, 0)


def test_in_production_a_delivery_starts_a_changes_run_by_itself(make_env: MakeEnv) -> None:
    """R17 running by itself: the timetable's first full sync, then an HR edit reaches
    360Learning through the webhook and a changes run nobody started by hand (polling off)."""
    env = make_env(environment="production",
                   extra_toml='\n[changes]\npoll_every = "off"\ncoalesce = "1s"\n')
    environ = {**env.sb.environ, "PERSONIO_WEBHOOK_TOKEN": TOKEN}
    with contextlib.ExitStack() as stack:
        admin = Admin(env.settings, env.ctx, environ=environ, bulk_poll_interval=0.01)
        server = serve_in_thread(create_app(admin, PASSWORD))
        stack.callback(server.stop)
        stack.callback(admin.close)
        env.sb.personio.webhooks.create({
            "url": f"{server.url}/hooks/personio", "description": "personio360 (production)",
            "status": "ENABLED", "auth_type": "TOKEN", "token": TOKEN, "enabled_events": PERSON_EVENTS})
        runner = threading.Thread(target=admin.schedule().run_forever, daemon=True)
        runner.start()
        stack.callback(runner.join, 10)
        stack.callback(admin.close)  # first: the timetable stops, then the thread is joined
        assert _within(60, lambda: any(r.kind == "full" and r.ended_at for r in env.ctx.store.runs.recent(5)))
        emp = leaf(env)
        env.personio.update(emp, position="Applied by itself")
        assert _within(30, lambda: env.user_of(emp).job == "Applied by itself")
        kinds = [r.kind for r in env.ctx.store.runs.recent(5)]
        assert kinds[0] == "changes"
        assert kinds.count("full") == 1


def _within(seconds: float, done: Callable[[], bool]) -> bool:
    """Polls an outcome of another thread, bounded by a deadline (the service runs on its own)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.05)
    return done()


def test_a_restore_cut_short_is_finished_by_the_next_changes_run(hooked: Hooked) -> None:
    """A run that restored a user deleted by hand, then stopped before its values (R14): the
    event still names them, though the connector wrote that user after it (no echo)."""
    env = hooked.env
    emp = leaf(env)
    user = env.user_id_of(emp)
    assert env.lms.custom_values(user)
    hooked.delete_by_hand(user)
    hooked.settle()
    values_fail = Fault(kind="status", status=503, method="PUT", path=r"/custom-fields/values$")
    env.sb.lms.faults.replace([values_fail])
    assert changes(env).outcome is Outcome.STOPPED
    assert env.lms.user(user).status != "deleted"
    assert env.lms.custom_values(user) == []
    env.sb.lms.faults.replace([])
    assert changes(env).outcome is Outcome.COMPLETED
    assert env.lms.custom_values(user)
    converged(env)


def test_a_supervisor_restored_in_a_cut_short_run_gets_their_reports_back(hooked: Hooked) -> None:
    """360Learning drops a deleted user's reports' manager links; the restoring run stopped
    before the managers (R14): the next changes run still re-reads the reports (R9)."""
    env = hooked.env
    reports: dict[int, list[int]] = {}
    for e in env.personio.employees():
        if e.get("supervisor") in env.links() and e["id"] in env.links():
            reports.setdefault(e["supervisor"], []).append(e["id"])
    boss, theirs = max(reports.items(), key=lambda item: len(item[1]))
    boss_user = env.user_id_of(boss)
    hooked.delete_by_hand(boss_user)
    hooked.settle()
    manager_fails = Fault(kind="status", status=503, method="POST", path=r"/managers/[0-9a-f]+$")
    env.sb.lms.faults.replace([manager_fails])
    assert changes(env).outcome is Outcome.STOPPED
    assert env.lms.user(boss_user).status != "deleted"
    env.sb.lms.faults.replace([])
    assert changes(env).outcome in (Outcome.COMPLETED, Outcome.COMPLETED_WITH_ERRORS)  # R15 as a full sync
    for emp in theirs:
        assert env.lms.managers_of(env.user_id_of(emp)) == [boss_user]
    converged(env)
