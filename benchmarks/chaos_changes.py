"""The R17 chaos cases (issue 13): changes runs under webhook faults, forgeries and SIGKILLs.

Each case syncs a generated company fully, then subscribes a served receiver (``serve``'s app on
127.0.0.1) to both emulators' webhooks, with delivery faults drawn at random (dropped,
duplicated, reordered, delayed deliveries; a few request faults too) and, in some cases,
360Learning reporting the connector's own writes as well (echoes). Two or three batches of HR
changes follow in Personio (hires, edits, email changes, moves, supervisor changes, a rehire,
terminations, deletions) and deletions by hand in 360Learning (managed users; sometimes an
unmanaged one). A batch may land while a changes run is under way. After each batch the driver
posts its own forged deliveries (a wrong token, none, a wrong secret, a tampered body) and
replays (a stale ``webhook-timestamp``, re-sent bodies), then runs ``personio360 sync
--changes`` as a subprocess, SIGKILLed at a random 360Learning read or write as in
``chaos.py``, again until a run completes and nothing waits. Then one fault-free changes run,
one full sync, and the comparison with a reference that ran one clean full sync over the same
changes. Violations, besides ``chaos.py``'s own:

- ``forged_recorded``: a forgery or replay answered other than refused (401) or "duplicate",
  or any event recorded that no genuine delivery brought;
- ``cursor_past_uncompleted_run``: the cursor moved, but not in a completed run's end (or by
  an idle poll);
- ``event_processed_by_uncompleted_run``: an event marked processed by a run that did not
  complete, processed again, or processed by a run that polled before it arrived;
- ``events_lost``: an event still waiting after the last completed changes run;
- ``missed_changes``: after the changes runs, a full plan touches an employee no dropped
  delivery explains (a person deleted in Personio, or a user deleted by hand, whose deliveries
  were all dropped, and their reports): only those are the full sync's to catch;
- ``runs_not_completed``: a batch's changes runs never completed (``MAX_RUNS``).

``max_deletions`` is raised for these cases: the R13b budget is spent per run, so the same
leavers arriving in one run (the reference) or over several can rightly differ near it.
"""

# ruff: noqa: PLC0415 - personio360 is imported lazily, as in chaos.py
from __future__ import annotations

import datetime as dt
import random
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.chaos import _FAULTS, PACING, Case, Change, Result, Side, _compare, _stop_fast, apply
from benchmarks.chaos_hooks import Feed, Hooks

VIOLATIONS = (
    "forged_recorded",
    "cursor_past_uncompleted_run",
    "event_processed_by_uncompleted_run",
    "events_lost",
    "missed_changes",
    "runs_not_completed",
    "state_mismatch",
    "duplicate_users",
    "unmanaged_writes",
    "wrong_deletions",
    "unexpected_exit",
    "not_converged",
    "timeouts",
)
MAX_RUNS = 6
COMPLETED = frozenset({"completed", "completed with errors", "completed, deletions held back"})
Trigger = tuple[str, int, str]


# --- the case: data only, drawn from (number, seed) ------------------------------------------


@dataclass
class ChangesCase:
    number: int
    seed: int
    size: int
    leavers: str
    skew: float  # Personio's clock minus ours, in seconds (well inside the cursor's overlap)
    echoes: bool  # 360Learning also reports the connector's own writes
    faults: list[tuple[str, str, dict[str, Any]]]  # (label, "lms" | "personio", Fault dict)
    during: list[int | None]  # per batch: lands at this read of the previous batch's first run
    kills: list[list[Trigger | None]]  # per batch: the successive runs' triggers
    unmanaged_deletion: bool

    def base(self) -> Case:
        return Case(self.number, self.seed, self.size, initial=False, leavers=self.leavers,
                    token_ttl=None, faults=[], kills=[])


def _delivery(kind: str, events: list[str]) -> Any:
    def draw(r: random.Random) -> dict[str, Any]:
        rule: dict[str, Any] = {"kind": f"delivery_{kind}", "path": r.choice(events),
                                "probability": r.uniform(0.3, 0.9)}
        if kind == "delay":
            rule["delay"] = r.uniform(0.05, 0.4)
        return rule
    return draw


_PERSONIO_EVENTS = ["", r"person\.", r"employment\.", r"\.deleted$", r"\.updated$"]
_USER_EVENTS = ["", r"user\.deleted", r"user\.(updated|reactivated)"]
_DELIVERY = {f"{service}_{kind}": (service, _delivery(kind, events))
             for service, events in (("personio", _PERSONIO_EVENTS), ("lms", _USER_EVENTS))
             for kind in ("drop", "duplicate", "reorder", "delay")}
_REQUEST = ("5xx", "dropped_connection", "lost_response", "429_burst", "personio_5xx", "personio_dropped")


def make_case(number: int, seed: int = 6) -> ChangesCase:
    rng = random.Random(f"chaos-r17:{seed}:{number}")
    faults = [(label, *_DELIVERY[label][:1], _DELIVERY[label][1](rng))
              for label in rng.sample(sorted(_DELIVERY), rng.randint(2, 5))]
    for label in rng.sample(_REQUEST, rng.choice([0, 0, 1, 2])):
        service, rule = _FAULTS[label](rng)
        rule["after"] = rng.randint(0, 20)
        faults.append((label, service, rule))
    batches = rng.randint(2, 3)
    kills = [[_trigger(rng, 0.7 if n == 0 else 0.35) for n in range(MAX_RUNS - 1)] + [None]
             for _ in range(batches)]
    during = [None] + [rng.randint(1, 8) if rng.random() < 0.35 else None for _ in range(batches - 1)]
    return ChangesCase(number, seed, rng.randint(20, 40), rng.choice(["delete", "delete", "deactivate"]),
                       skew=rng.choice([-5.0, -1.0, 0.0, 2.0]), echoes=rng.random() < 0.3, faults=faults,
                       during=during, kills=kills, unmanaged_deletion=rng.random() < 0.4)


def _trigger(rng: random.Random, odds: float) -> Trigger | None:
    if rng.random() >= odds:
        return None
    if rng.random() < 0.6:
        return ("write", rng.randint(1, 12), rng.choice(["before", "after"]))
    return ("read", rng.randint(1, 30), "after")


# --- HR changes and hand deletions: the same data applied to both sides ----------------------


def r17_changes(case: ChangesCase, side: Side) -> list[list[Change]]:
    """Batches of changes; each employee is touched at most once, so the end state is history-free."""
    rng = random.Random(f"changes-r17:{case.seed}:{case.number}")
    company = side.sb.company
    edge = {i for ids in company.edge_cases.values() for i in ids}
    people = [e for e in company.employees if e.status in ("active", "onboarding", "leave")
              and e.id not in edge and e.id != company.employees[0].id]
    rng.shuffle(people)
    bosses, people = people[-4:], people[:-4]  # never changed, so a hire's supervisor stays
    offices = sorted({e.office for e in company.employees if e.office})
    departments = sorted({e.department for e in company.employees if e.department})
    tshirt = side.sb.installed.attribute_keys.get("T-shirt size", "dynamic_1000001")
    moves: list[Callable[[], dict[str, Any]]] = [
        lambda: {"position": rng.choice(["Staff Engineer", "Quality Lead"])},
        lambda: {"office": rng.choice(offices)},
        lambda: {"department": rng.choice(departments)},
        lambda: {"email": f"renamed.{rng.randint(1, 10**6)}@newco.example"},
        lambda: {"supervisor": rng.choice(bosses).id},
        lambda: {tshirt: rng.choice(["XS", "XL", None])},
        lambda: {"first_name": rng.choice(["Zoë", "Ægir", "Łucja"])},
    ]
    inactive = [e.id for e in company.employees if e.status == "inactive" and e.id not in edge]
    batches: list[list[Change]] = []
    for n in range(len(case.kills)):
        batch: list[Change] = []
        if rng.random() < 0.6:
            batch.append(("hire", None, {
                "first_name": f"Neu{n}", "last_name": "Zugang",
                "email": f"neu{n}.{case.number}@newco.example", "supervisor": rng.choice(bosses).id,
                "office": rng.choice(offices), "department": rng.choice(departments),
                "position": "Analyst", tshirt: "M"}))
        for _ in range(rng.randint(1, 3)):
            if len(people) > 3:
                batch.append(("update", people.pop().id, rng.choice(moves)()))
        for kind, odds in (("terminate", 0.4), ("remove", 0.35)):
            if rng.random() < odds and len(people) > 3:
                batch.append((kind, people.pop().id, {}))
        for _ in range(rng.choice([0, 1, 1, 2])):
            if len(people) > 3:
                batch.append(("lms", "delete_user", {"mail": people.pop().email}))
        if inactive and rng.random() < 0.15:
            batch.append(("update", inactive.pop(), {"status": "active"}))
        rng.shuffle(batch)
        batches.append(batch)
    return batches


@dataclass
class World:
    """What the chaos side's changes did, for the ``missed_changes`` explanation."""

    supervisors: dict[int, int | None]  # employee -> supervisor, before any change
    removed: set[int] = field(default_factory=set)
    by_hand: dict[str, int] = field(default_factory=dict)  # user deleted by hand -> employee

    def land(self, side: Side, batch: list[Change]) -> None:
        lms = side.sb.lms.state
        for kind, target, values in batch:
            if kind == "remove":
                self.removed.add(target)
            elif kind == "lms" and (user := lms.user_by_mail(values["mail"])) is not None:
                employee = next((e.id for e in side.sb.company.employees if e.email == values["mail"]), None)
                if employee is not None and user.status != "deleted":
                    self.by_hand[user.id] = employee
        apply(side, batch)

    def explained(self, feed: Feed, side: Side) -> set[int]:
        """Employees only the full sync can fix: every delivery naming them was dropped."""
        named = {e.employee_id for e in feed.events.values() if e.provider == "personio"}
        users = {e.user_id for e in feed.events.values() if e.provider == "360learning"}
        lost = {i for i in self.removed if i not in named}
        lost |= {emp for user, emp in self.by_hand.items() if user not in users}
        now = {e["id"]: e.get("supervisor") for e in side.sb.personio.state.employees()}
        return lost | {e for sups in (self.supervisors, now) for e, s in sups.items() if s in lost}


# --- the cursor and the events across one run ------------------------------------------


def judge_feed(result: Result, before: Feed, after: Feed, code: int | None) -> bool:
    """The cursor and the events moved only with a completed run; whether one completed."""
    new = {i: o for i, o in after.runs.items() if i not in before.runs}
    done = {i for i, o in new.items() if o in COMPLETED}
    completed = False
    if after.cursor != before.cursor:
        mover = after.cursor[1] if after.cursor else None
        completed = mover in done or (mover is None and not new)
        if not completed or code == 3:
            result.violations["cursor_past_uncompleted_run"] += 1
            result.notes.append(f"cursor moved by run {mover} ({new}), exit {code}")
    polled = after.last_poll[0] if after.last_poll else None
    for i, event in after.events.items():
        was = before.events.get(i)
        if was is not None and was.processed is not None:
            bad = event.processed != was.processed
        elif event.processed is None:
            continue
        else:
            run = event.processed[1]
            bad = (run is not None and run not in done) or (run is None and bool(new))
            bad |= polled is not None and event.received_at > polled
        if bad:
            result.violations["event_processed_by_uncompleted_run"] += 1
            result.notes.append(f"event {i} ({event.provider}) processed {event.processed}, runs {new}")
    return completed


# --- one case ------------------------------------------------------------------------------


def run_case(case: ChangesCase, directory: Path) -> Result:
    """Reference (one clean full sync) and chaos (changes runs under faults) sides of one case."""
    from personio360.emulators.faults import Fault
    from personio360.emulators.personio.state import PersonioState

    started = time.monotonic()
    result = Result(case.number)
    skew = dt.timedelta(seconds=case.skew)
    options = {"personio_options": {"time_scale": 1e6,
                                    "state": PersonioState(clock=lambda: dt.datetime.now(dt.UTC) + skew)},
               "lms_options": {"time_scale": 1e6, "webhook_api_changes": case.echoes}}
    with ExitStack() as stack:
        ref = Side(case.base(), directory / "reference", stack, chaos=False, safety="max_deletions = 100\n")
        chaos = Side(case.base(), directory / "chaos", stack, chaos=True, safety="max_deletions = 100\n",
                     options=options)
        stack.callback(_stop_fast, ref, chaos)
        for side in (ref, chaos):
            side.sync_in_process()
        world = World({e["id"]: e.get("supervisor") for e in chaos.sb.personio.state.employees()})
        hooks = Hooks(chaos, stack)
        batches = r17_changes(case, ref)
        if case.unmanaged_deletion:
            _delete_unmanaged(ref, chaos)
        for batch in batches:
            apply(ref, batch)
        ref.recorder.run = 1
        expected = ref.sync_in_process()
        before = chaos.project()
        rules = [(label, service, Fault.from_dict(spec)) for label, service, spec in case.faults]
        plans = {"lms": chaos.sb.lms.faults, "personio": chaos.sb.personio.faults}
        for service, plan in plans.items():
            plan.replace([f for _, s, f in rules if s == service], seed=case.number)
        _run_batches(case, chaos, hooks, world, batches, result)
        for plan in plans.values():
            plan.replace([])
        _finish(result, chaos, hooks, world, ref, expected, before)
        for label, _, rule in rules:
            result.faults[label] += rule.to_dict()["fired"]
        result.kills = chaos.recorder.kills
    result.seconds = time.monotonic() - started
    return result


def _delete_unmanaged(*sides: Side) -> None:
    """An administrator deletes an unmanaged user by hand: never restored (R6)."""
    for side in sides:
        mail = next(u.mail for u in side.sb.company.lms.users if u.kind == "unmanaged")
        user = side.sb.lms.state.user_by_mail(mail)
        if user is not None:
            side.sb.lms.state.delete_user(user.id)


def _run_batches(case: ChangesCase, chaos: Side, hooks: Hooks, world: World, batches: list[list[Change]],
                 result: Result) -> None:
    landed = [False] * len(batches)
    run = 0
    for n, batch in enumerate(batches):
        result.notes.append(f"batch {n}: {[(k, t, v) for k, t, v in batch]}")
        if not landed[n]:
            world.land(chaos, batch)
            landed[n] = True
        _settle(chaos, result)
        hooks.forge(result, random.Random(f"forge:{case.seed}:{case.number}:{n}"))
        for attempt, trigger in enumerate(case.kills[n]):
            action = None
            nxt = n + 1
            if attempt == 0 and nxt < len(batches) and (at := case.during[nxt]) is not None:

                def land_now(i: int = nxt) -> None:
                    world.land(chaos, batches[i])
                    landed[i] = True

                action = (at, land_now)
            run += 1
            before = Feed.read(chaos)
            code, err = chaos.sync_cli(run, trigger, "--changes", action=action)
            result.notes.append(f"run {run} (batch {n}): kill at {trigger}, exit {code}")
            completed = _judge_exit(result, run, code, err)
            completed = judge_feed(result, before, Feed.read(chaos), code) and completed
            if code in (0, 1) and not completed:
                result.violations["unexpected_exit"] += 1
                result.notes.append(f"run {run} exit {code}, yet the store shows no completed run")
            if action is not None and not landed[nxt]:
                land_now()
            _settle(chaos, result)
            if completed and not Feed.read(chaos).pending:
                break
        else:
            result.violations["runs_not_completed"] += 1
            result.notes.append(f"batch {n}: no changes run completed in {MAX_RUNS}")


def _judge_exit(result: Result, run: int, code: int | None, err: str) -> bool:
    """False for a run that timed out; an exit other than 0, 1, 3 or killed is a violation."""
    if code is None:
        result.violations["timeouts"] += 1
        result.notes.append(f"run {run} timed out")
        return False
    result.exits["killed" if code == -signal.SIGKILL else f"exit {code}"] += 1
    if code not in (0, 1, 3, -signal.SIGKILL) or "Traceback" in err:
        result.violations["unexpected_exit"] += 1
        result.notes.append(f"run {run} exit {code}: {err.strip()[-600:]}")
    return True


def _settle(side: Side, result: Result) -> None:
    """Every delivery made or given up: the emulators' own wait."""
    for engine in (side.sb.personio.deliveries, side.sb.lms.deliveries):
        if not engine.wait_idle(30):
            result.violations["timeouts"] += 1
            result.notes.append(f"{engine.name}: deliveries still pending")


def _finish(result: Result, chaos: Side, hooks: Hooks, world: World, ref: Side, expected: int,
            before: dict[str, Any]) -> None:
    """A fault-free changes run, the missed-changes check, a full sync, the comparison."""
    from personio360.config import load_config
    from personio360.sync.run import prepare_plan
    from personio360.sync.run_changes import run_changes
    from personio360.wiring import open_context

    settings = load_config(chaos.sb.config_path)
    chaos.recorder.arm(0, None)
    with open_context(settings, environ=chaos.sb.environ, rate_limit_factor=PACING) as ctx:
        outcome = run_changes(settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01).outcome
        if outcome.value not in COMPLETED:
            result.violations["unexpected_exit"] += 1
            result.notes.append(f"the fault-free changes run: {outcome.value}")
        feed = Feed.read(chaos)
        result.violations["events_lost"] += len(feed.pending)
        explained = world.explained(feed, chaos)
        ops = prepare_plan(settings, ctx.personio, ctx.lms, ctx.store).plan.operations
        missed = [op for op in ops if op.employee_id not in explained]
        result.violations["missed_changes"] += len(missed)
        result.notes += [f"missed: {type(op).__name__} {op.employee_id} {op.changes}" for op in missed[:4]]
    hooks.recorded_by_genuine(result, feed)
    final = chaos.sync_in_process()
    if final != expected:
        result.violations["unexpected_exit"] += 1
        result.notes.append(f"final full sync exit {final}, reference {expected}")
    result.violations["not_converged"] += chaos.pending()
    _compare(result, ref, chaos, before)


# --- the suite -----------------------------------------------------------------------------


def _one(args: tuple[int, int, str]) -> Result:
    number, seed, root = args
    with tempfile.TemporaryDirectory(dir=root) as directory:
        try:
            return run_case(make_case(number, seed), Path(directory))
        except Exception as exc:  # a harness or product crash is a finding, not a lost case
            result = Result(number)
            result.violations["unexpected_exit"] += 1
            result.notes.append(f"case crashed: {type(exc).__name__}: {exc}")
            return result


def run_suite(cases: int, seed: int, workers: int, first: int = 0) -> Iterator[Result]:
    with tempfile.TemporaryDirectory(prefix="personio360-chaos-r17-") as root:
        jobs = [(n, seed, root) for n in range(first, first + cases)]
        if workers <= 1:
            yield from map(_one, jobs)
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            yield from pool.map(_one, jobs)
