"""The fault-injection convergence suite (issue 6; R13, R14, R6): ``make chaos``.

Each case generates a company (seeded, 20-40 employees; some 101-112, so Personio answers in
two pages), a series of HR changes and hand edits in 360Learning, and a random fault plan for
both emulators (429 bursts, 5xx, dropped connections, responses lost after the write landed,
token expiry, slow pages, Personio failing halfway through its pages). It runs the real CLI
(``personio360 sync --config FILE``) as a subprocess two or three times under those faults,
SIGKILLs it when the 360Learning emulator's write (or read) counter reaches a random N, then
runs one fault-free sync, and compares with a fault-free reference run of the same case:

- ``state_mismatch``: users (names, job, status, deactivation date), group roles, managers,
  external ids and custom field values, compared by mail and name (ids differ between runs);
- ``duplicate_users``: more accounts than the reference, or one employee id on two accounts;
- ``unmanaged_writes``: any write naming a user the connector does not manage, or any change
  to such a user's state;
- ``wrong_deletions``: a user deleted (or restored) that the reference did not delete;
- ``writes_after_failed_read``: a run that stopped on a failed list read yet wrote (R13a), or
  on a failed per-user read (managers, custom values: read while the lists' writes go out,
  issue 5) yet removed someone;
- ``unexpected_exit``: a faulted run ending other than 0, 1, 3 (SPEC §2) or killed, a
  traceback, or a final run whose exit code differs from the reference's;
- ``not_converged``: the plan after the final sync is not empty (R14);
- ``timeouts``: a run that did not end within its deadline.

The subprocess is the CLI's own entry point (``personio360.cli.main.main``) with time
compressed, nothing else: client-side pacing scaled x1000 (the emulators' rate limits are off;
429s come from the fault plan) and stamina's testing mode (retries without waiting, the same
attempts). Cases run in a small process pool; a case is reproducible from its number and seed.

Then the R17 cases of ``chaos_changes.py`` (``--changes-cases``, 30 by default): changes runs
under webhook delivery faults, forged and replayed deliveries, and SIGKILLs.
"""

# ruff: noqa: PLC0415 - personio360 is imported lazily: the `--cli` subprocess must start lean
from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PACING = 1000.0
DEADLINE = 120.0
VIOLATIONS = (
    "state_mismatch",
    "duplicate_users",
    "unmanaged_writes",
    "wrong_deletions",
    "writes_after_failed_read",
    "unexpected_exit",
    "not_converged",
    "timeouts",
)
EMPLOYEES = r"^/v1/company/employees$"
WALK_IN = "walk-in.visitor@elsewhere.example"  # an unmanaged learner added by hand in a synced group
_USER_IN_PATH = re.compile(
    r"/api/v2/(?:users/([0-9a-f]{24})(?:/managers/([0-9a-f]{24}))?"
    r"|groups/[0-9a-f]{24}/[a-z-]+/([0-9a-f]{24}))"
)


# --- the case: data only, drawn from (number, seed) ------------------------------------------


@dataclass
class Case:
    number: int
    seed: int
    size: int
    initial: bool  # no clean baseline: the very first sync runs under faults
    leavers: str
    token_ttl: float | None
    faults: list[tuple[str, str, dict[str, Any]]]  # (label, "lms" | "personio", Fault dict)
    kills: list[tuple[str, int, str] | None]  # per faulted run: (read|write, N, before|after)


def make_case(number: int, seed: int = 6) -> Case:
    rng = random.Random(f"chaos:{seed}:{number}")
    two_pages = rng.random() < 0.12
    size = rng.randint(101, 112) if two_pages else rng.randint(20, 40)
    menu = list(_FAULTS)
    faults = [(label, *_FAULTS[label](rng)) for label in rng.sample(menu, rng.randint(2, 4))]
    if two_pages:
        kind = rng.choice(["status", "drop"])
        faults.append(
            (
                "personio_fails_halfway",
                "personio",
                {"kind": kind, "status": 500, "path": EMPLOYEES, "after": 1, "count": 6},
            )
        )
    kills: list[tuple[str, int, str] | None] = []
    for _ in range(rng.randint(2, 3)):
        draw = rng.random()
        kills.append(
            ("write", rng.randint(1, 50), rng.choice(["before", "after"]))
            if draw < 0.55
            else ("read", rng.randint(1, 60), "after")
            if draw < 0.7
            else None
        )
    return Case(
        number,
        seed,
        size,
        initial=rng.random() < 0.3,
        leavers=rng.choice(["delete", "delete", "deactivate"]),
        token_ttl=rng.choice([None, None, 1.5]),
        faults=faults,
        kills=kills,
    )


def _lms(kind: str, **rest: Any) -> tuple[str, dict[str, Any]]:
    return "lms", {"kind": kind, **rest}


def _personio(kind: str, **rest: Any) -> tuple[str, dict[str, Any]]:
    return "personio", {"kind": kind, "path": EMPLOYEES, **rest}


_FAULTS: dict[str, Callable[[random.Random], tuple[str, dict[str, Any]]]] = {
    "429_burst": lambda r: _lms(
        "status",
        status=429,
        retry_after=r.choice([None, 0, 1]),
        count=r.randint(1, 5),
        after=r.randint(0, 40),
    ),
    "5xx": lambda r: _lms(
        "status",
        status=r.choice([500, 502, 503]),
        method=r.choice(["ANY", "WRITE"]),
        count=r.randint(1, 5),
        after=r.randint(0, 60),
        probability=0.5,
    ),
    "dropped_connection": lambda r: _lms(
        "drop", method=r.choice(["ANY", "WRITE", "GET"]), count=r.randint(1, 3), after=r.randint(0, 60)
    ),
    "lost_response": lambda r: _lms(
        "lose_response",
        method="WRITE",
        count=r.randint(1, 3),
        after=r.randint(0, 15),
        path=r.choice(
            [
                "",
                r"^/api/v2/users$",
                r"^/api/v2/external-ids$",
                r"^/api/v2/custom-fields$",
                "/managers/",
                "/learner/",
            ]
        ),
    ),
    "token_expiry": lambda r: _lms("status", status=401, count=r.randint(1, 2), after=r.randint(0, 50)),
    "slow_page": lambda r: _lms(
        "slow",
        method="GET",
        path=r"^/api/v2/(users|groups|external-ids)$",
        delay=r.uniform(0.02, 0.15),
        count=r.randint(1, 3),
    ),
    "personio_5xx": lambda r: _personio("status", status=r.choice([500, 503]), count=r.randint(1, 8)),
    "personio_dropped": lambda r: _personio(r.choice(["drop", "lose_response"]), count=r.randint(1, 7)),
    "personio_429": lambda r: _personio("status", status=429, count=r.randint(1, 3)),
    "personio_token_expiry": lambda r: _personio("status", status=401, count=1),
    "personio_slow_page": lambda r: _personio("slow", delay=r.uniform(0.02, 0.15), count=r.randint(1, 2)),
}


# --- the 360Learning recorder: sees every call, kills the sync at the Nth ----------------------


class Recorder:
    """ASGI middleware in front of the 360Learning emulator (outside its fault injector).

    Records every write (run number, method, path, body) and, when armed, SIGKILLs the sync
    process at the Nth read or write of the run: ``before`` (the request never reaches the
    emulator) or ``after`` (it was handled; the answer never reaches the client). An armed
    ``action`` (N, callable) runs just before the run's Nth read is handled: changes made
    while a run is under way (the R17 cases).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.writes: list[tuple[int, str, str, bytes]] = []
        self.run = 0
        self.kills = 0
        self._counts: Counter[str] = Counter()
        self._trigger: tuple[str, int, str] | None = None
        self.action: tuple[int, Callable[[], None]] | None = None
        self.pid: int | None = None

    def arm(
        self,
        run: int,
        trigger: tuple[str, int, str] | None,
        action: tuple[int, Callable[[], None]] | None = None,
    ) -> None:
        self.run, self._trigger, self.pid, self._counts = run, trigger, None, Counter()
        self.action = action

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/_emulator") or path.endswith("/oauth2/token"):
            await self.app(scope, receive, send)
            return
        messages, more = [], True
        while more:
            messages.append(await receive())
            more = messages[-1].get("more_body", False)
        if messages[-1]["type"] == "http.disconnect":
            return  # the client died (killed) before its request was complete
        kind = "read" if scope["method"] == "GET" else "write"
        if kind == "write":
            self.writes.append(
                (self.run, scope["method"], path, b"".join(m.get("body", b"") for m in messages))
            )
        self._counts[kind] += 1
        if self.action is not None and kind == "read" and self._counts[kind] == self.action[0]:
            act, self.action = self.action[1], None
            act()
        fire = self._trigger is not None and self._trigger[:2] == (kind, self._counts[kind])
        if fire and self._trigger and self._trigger[2] == "before":
            self._kill()
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        replay = iter(messages)

        async def receive_again() -> Any:
            return next(replay, None) or await receive()

        async def send_after_kill(message: Any) -> None:
            if fire and message["type"] == "http.response.start":
                self._kill()
            await send(message)

        await self.app(scope, receive_again, send_after_kill)

    def _kill(self) -> None:
        """SIGKILL the run and wait (bounded) until it is a zombie: it can act no more."""
        self._trigger = None
        if self.pid is None:
            return
        os.kill(self.pid, signal.SIGKILL)
        self.kills += 1
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                stat = Path(f"/proc/{self.pid}/stat").read_text()
            except OSError:
                return
            if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return
            time.sleep(0.001)


# --- one side: a sandbox, its recorder, and how to drive it ----------------------------------


class Side:
    """One sandboxed company (reference or chaos) and the means to sync it and read it back."""

    def __init__(
        self,
        case: Case,
        directory: Path,
        stack: ExitStack,
        *,
        chaos: bool,
        safety: str = "",
        options: dict[str, Any] | None = None,
    ) -> None:
        """``safety``: more ``[safety]`` lines; ``options``: more ``Sandbox`` arguments."""
        from personio360.emulators.sandbox import Sandbox

        extra = f'\n[safety]\nleavers = "{case.leavers}"\n{safety}'
        self.sb = Sandbox(
            directory,
            size=case.size,
            seed=case.seed * 1000 + case.number,
            rate_limits=False,
            token_ttl=case.token_ttl if chaos else None,
            extra_toml=extra,
            **(options or {}),
        )
        self.recorder = Recorder(self.sb.lms.app)
        self.sb.lms.app = self.recorder
        stack.enter_context(self.sb)
        self.unmanaged = {
            self.sb.installed.user_ids[u.mail] for u in self.sb.company.lms.users if u.kind != "adoptable"
        }
        self.findings: list[str] = []

    def sync_in_process(self) -> int:
        """A fault-free run through the service (the reference, the final run)."""
        from personio360.config import load_config
        from personio360.sync.run import run_sync
        from personio360.wiring import open_context

        settings = load_config(self.sb.config_path)
        with open_context(settings, environ=self.sb.environ, rate_limit_factor=PACING) as ctx:
            return run_sync(settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01).exit_code

    def pending(self) -> int:
        """Operations a sync would still make (0 once converged, R14)."""
        from personio360.config import load_config
        from personio360.sync.run import prepare_plan
        from personio360.wiring import open_context

        settings = load_config(self.sb.config_path)
        with open_context(settings, environ=self.sb.environ, rate_limit_factor=PACING) as ctx:
            return len(prepare_plan(settings, ctx.personio, ctx.lms, ctx.store).plan.operations)

    def sync_cli(
        self,
        run: int,
        trigger: tuple[str, int, str] | None,
        *options: str,
        action: tuple[int, Callable[[], None]] | None = None,
    ) -> tuple[int | None, str]:
        """One ``personio360 sync`` subprocess, killed by the recorder if ``trigger`` fires."""
        self.recorder.arm(run, trigger, action)
        env = {**os.environ, **self.sb.environ, "PYTHONPATH": str(REPO)}
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.chaos",
            "--cli",
            "sync",
            *options,
            "--config",
            str(self.sb.config_path),
        ]
        with subprocess.Popen(
            cmd, env=env, cwd=self.sb.directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as proc:
            self.recorder.pid = proc.pid
            try:
                _, err = proc.communicate(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
                return None, err
        return proc.returncode, err

    def project(self) -> dict[str, Any]:
        return project(self.sb.lms.state)

    def deletions(self) -> tuple[set[str], dict[str, tuple[int, int]]]:
        """Mails the sync deleted (or scheduled for deactivation), and each user's delete/restore stamps."""
        lms = self.sb.lms.state
        users = lms.user_records()
        mail = {u.id: (u.profile.get("mail") or u.id).lower() for u in users}
        deleted = {
            mail.get(m.group(1), m.group(1))
            for _, method, path, body in self.recorder.writes
            if (m := _USER_IN_PATH.search(path))
            and m.group(1)
            and not m.group(2)
            and path.endswith(m.group(1))
            and (method == "DELETE" or (method == "PATCH" and b"toBeDeactivatedAt" in body))
        }
        stamps = {mail[u.id]: (len(u.deleted_at), len(u.reactivated_at)) for u in users}
        return deleted, stamps

    def unmanaged_writes(self, before: dict[str, Any]) -> int:
        """Writes naming an unmanaged user, plus unmanaged users whose state changed."""
        mails = {self.sb.lms.state.user(u).mail.lower() for u in self.unmanaged}  # type: ignore[union-attr]
        hits = [w for w in self.recorder.writes if _touched(w) & (self.unmanaged | mails)]
        after = self.project()
        changed = [m for m in mails if after.get(m) != before.get(m)]
        self.findings += [f"write to an unmanaged user: {w[1]} {w[2]}" for w in hits[:3]]
        self.findings += [f"unmanaged user changed: {m}" for m in changed[:3]]
        return len(hits) + len(changed)


def project(lms: Any) -> dict[str, Any]:
    """The platform by mail, ids replaced by mails and names: comparable across sandboxes."""
    users = lms.user_records()
    mail = {u.id: (u.profile.get("mail") or u.id).lower() for u in users}
    group = {g.id: g.name for g in lms.groups()}
    fields = {f.id: f.name for f in lms.custom_fields()}
    mappings = [m for m in lms.external_ids() if m.target_type == "user"]
    out: dict[str, Any] = {"(custom fields)": sorted((f.name, f.type) for f in lms.custom_fields())}
    for u in users:
        out[mail[u.id]] = {
            "profile": {k: v for k, v in u.profile.items() if k != "mail"},
            "status": u.status,
            "roles": sorted((group[g.group_id], g.role) for g in lms.roles_of_user(u.id)),
            "managers": sorted(mail[m] for m in lms.managers_of(u.id)),
            "external_ids": sorted((m.platform, m.value) for m in mappings if m.target_id == u.id),
            "values": sorted((fields[v.custom_field_id], v.value) for v in lms.custom_values(u.id)),
        }
    return out


def _touched(write: tuple[int, str, str, bytes]) -> set[str]:
    """The user ids (or, for a create, the mail) one recorded write names."""
    _, method, path, body = write
    found = {g for m in _USER_IN_PATH.finditer(path) for g in m.groups() if g}
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return found
    if isinstance(data, dict):
        if path.endswith("/external-ids") or "/external-ids/" in path:
            found.add(str(data.get("targetId")))
        if path == "/api/v2/users" and method == "POST" and data.get("mail"):
            found.add(str(data["mail"]).strip().lower())
        for item in data.get("input", []) if isinstance(data.get("input"), list) else []:
            found.add(str(item.get("userId")))
    return found


# --- HR changes and hand edits: the same data applied to both sides ------------------------

Change = tuple[str, Any, dict[str, Any]]  # (hire | update | terminate | remove | lms-edit, target, values)


def hr_changes(case: Case, side: Side) -> list[list[Change]]:
    """Batches of changes; each employee is touched at most once, so the end state is history-free."""
    rng = random.Random(f"changes:{case.seed}:{case.number}")
    company = side.sb.company
    edge = {i for ids in company.edge_cases.values() for i in ids}
    people = [
        e
        for e in company.employees
        if e.status in ("active", "onboarding", "leave")
        and e.id not in edge
        and e.id != company.employees[0].id
    ]
    rng.shuffle(people)
    bosses, people = people[-4:], people[:-4]  # never changed, so a hire's supervisor stays
    offices = sorted({e.office for e in company.employees if e.office})
    departments = sorted({e.department for e in company.employees if e.department})
    tshirt = side.sb.installed.attribute_keys.get("T-shirt size", "dynamic_1000001")
    changes: list[Change] = []
    for n in range(rng.randint(1, 3)):
        boss = rng.choice(bosses).id
        changes.append(
            (
                "hire",
                None,
                {
                    "first_name": f"Neu{n}",
                    "last_name": rng.choice(["Zugang", "Équipe"]),
                    "email": f"neu{n}.{case.number}@newco.example",
                    "supervisor": boss,
                    "office": rng.choice(offices),
                    "department": rng.choice(departments),
                    "position": "Analyst",
                    tshirt: rng.choice(["S", "M", "L"]),
                },
            )
        )
    moves: list[Callable[[], dict[str, Any]]] = [
        lambda: {"position": rng.choice(["Staff Engineer", "Quality Lead", ""])},
        lambda: {"office": rng.choice(offices)},
        lambda: {"department": rng.choice(departments)},
        lambda: {"email": f"renamed.{rng.randint(1, 10**6)}@newco.example"},
        lambda: {tshirt: rng.choice(["XS", "XL", None])},
        lambda: {"first_name": rng.choice(["Zoë", "Ægir", "Łucja"])},
    ]
    for _ in range(rng.randint(2, 6)):
        if len(people) > 8:
            changes.append(("update", people.pop(0).id, rng.choice(moves)()))
    if len(people) > 8:
        mover, boss = people.pop(0), bosses[0]
        changes.append(("update", mover.id, {"supervisor": boss.id}))
    inactive = [e.id for e in company.employees if e.status == "inactive" and e.id not in edge]
    if inactive and rng.random() < 0.5:
        changes.append(("update", inactive[0], {"status": "active"}))
    first: list[Change] = []  # leavers and hand edits touch everyone's values: before any run
    if not case.initial:
        for _ in range(rng.randint(0, 2)):
            if people:
                first.append(("terminate", people.pop(0).id, {}))
        if rng.random() < 0.3 and people:
            first.append(("remove", people.pop(0).id, {}))
        edits = [
            "delete_user",
            "clear_values",
            "delete_field",
            "rename_field",
            "remove_manager",
            "remove_learner",
            "unmanaged_learner",
        ]
        for edit in rng.sample(edits, rng.randint(0, 3)):
            personal = edit in ("delete_user", "clear_values", "remove_manager", "remove_learner")
            if personal and not people:
                continue
            first.append(("lms", edit, {"mail": people.pop(0).email if personal else None}))
    rng.shuffle(changes)
    if case.initial:
        return [changes]
    cut = sorted(rng.sample(range(len(changes) + 1), 2))
    return [first + changes[: cut[0]], changes[cut[0] : cut[1]], changes[cut[1] :]]


def apply(side: Side, batch: list[Change]) -> None:
    personio, lms, installed = side.sb.personio.state, side.sb.lms.state, side.sb.installed
    for kind, target, values in batch:
        if kind == "hire":
            personio.hire(**values)
        elif kind == "update":
            personio.update(target, **values)
        elif kind == "terminate":
            personio.terminate(target)
        elif kind == "remove":
            personio.remove(target)
        else:
            _edit(lms, installed, target, values.get("mail"))


def _edit(lms: Any, installed: Any, edit: str, mail: str | None) -> None:
    """An administrator's hand edit in 360Learning (the seed's R4/R7/R8/R9 scenarios)."""
    user = lms.user_by_mail(mail) if mail else None
    fields = sorted(lms.custom_fields(), key=lambda f: f.name)
    if edit == "delete_user" and user:
        lms.delete_user(user.id)
    elif edit == "clear_values" and user:
        lms.set_custom_values(user.id, [])
    elif edit == "delete_field" and fields:
        lms.delete_custom_field(fields[0].id)
    elif edit == "rename_field" and fields:
        lms.rename_custom_field(fields[-1].id, fields[-1].name + " (old)")
    elif edit == "remove_manager" and user:
        for manager in lms.managers_of(user.id):
            lms.remove_manager(user.id, manager)
    elif edit == "remove_learner" and user:
        for role in lms.roles_of_user(user.id):
            if role.role == "learner":
                lms.remove_role(role.group_id, user.id, "learner")
    elif edit == "unmanaged_learner":
        extra = lms.add_user(WALK_IN, "Walk", "In")
        lms.add_role(installed.synced_group_id, extra.id, "learner")


# --- one case ------------------------------------------------------------------------------


@dataclass
class Result:
    number: int
    violations: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    kills: int = 0
    exits: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_case(case: Case, directory: Path) -> Result:
    """Reference and chaos sides of one case; the violations found, the faults and kills seen."""
    from personio360.emulators.faults import Fault

    started = time.monotonic()
    result = Result(case.number)
    with ExitStack() as stack:
        ref = Side(case, directory / "reference", stack, chaos=False)
        chaos = Side(case, directory / "chaos", stack, chaos=True)
        stack.callback(_stop_fast, ref, chaos)
        if not case.initial:
            for side in (ref, chaos):
                side.sync_in_process()
        batches = hr_changes(case, ref)
        for batch in batches:
            apply(ref, batch)
        ref.recorder.run = 1
        expected = ref.sync_in_process()
        before = chaos.project()
        for side in (ref, chaos):
            walk_in = side.sb.lms.state.user_by_mail(WALK_IN)
            side.unmanaged |= {walk_in.id} if walk_in else set()
        plans = {"lms": chaos.sb.lms.faults, "personio": chaos.sb.personio.faults}
        rules: list[tuple[str, Fault]] = [(label, Fault.from_dict(spec)) for label, _, spec in case.faults]
        for service, plan in plans.items():
            plan.replace(
                [f for (_, s, _), (_, f) in zip(case.faults, rules, strict=True) if s == service],
                seed=case.number,
            )
        for run, trigger in enumerate(case.kills, start=1):
            if (run - 1 < len(batches) and not case.initial) or (case.initial and run == 1):
                apply(chaos, batches[run - 1] if not case.initial else batches[0])
            code, err = chaos.sync_cli(run, trigger)
            _judge_run(result, chaos, run, code, err)
        for batch in batches[len(case.kills) :] if not case.initial else []:
            apply(chaos, batch)
        for plan in plans.values():
            plan.replace([])
        chaos.recorder.arm(len(case.kills) + 1, None)
        final = chaos.sync_in_process()
        if final != expected:
            result.violations["unexpected_exit"] += 1
            result.notes.append(f"final run exit {final}, reference {expected}")
        result.violations["not_converged"] += chaos.pending()
        _compare(result, ref, chaos, before)
        for label, rule in rules:
            result.faults[label] += rule.to_dict()["fired"]
        if case.token_ttl:
            result.faults["token_expiry"] += chaos.sb.lms.stats.snapshot()["by_status"].get("401", 0)
        result.kills = chaos.recorder.kills
    result.seconds = time.monotonic() - started
    return result


def _judge_run(result: Result, chaos: Side, run: int, code: int | None, err: str) -> None:
    if code is None:
        result.violations["timeouts"] += 1
        result.notes.append(f"run {run} timed out")
        return
    result.exits["killed" if code == -signal.SIGKILL else f"exit {code}"] += 1
    if code not in (0, 1, 3, -signal.SIGKILL) or "Traceback" in err:
        result.violations["unexpected_exit"] += 1
        result.notes.append(f"run {run} exit {code}: {err.strip()[-600:]}")
    if code == 3 and "reading failed" in err:
        wrote = [w for w in chaos.recorder.writes if w[0] == run]
        if "nothing was changed" in err:  # a list read (R13a): not one write
            result.violations["writes_after_failed_read"] += len(wrote)
        else:  # a user's own reads, while the lists' writes went out: no one removed
            removals = [w for w in wrote if _removes(w)]
            result.violations["writes_after_failed_read"] += len(removals)
            result.notes += [f"run {run}: removed after a failed read: {w[1]} {w[2]}" for w in removals[:3]]


def _removes(write: tuple[int, str, str, bytes]) -> bool:
    """A write that deletes a user or schedules its deactivation (R5)."""
    _run, method, path, body = write
    if re.fullmatch(r"/api/v2/users/[0-9a-f]{24}", path) is None:
        return False
    if method == "DELETE":
        return True
    try:
        changes = json.loads(body) if method == "PATCH" else None
    except ValueError:
        return False
    return isinstance(changes, dict) and changes.get("toBeDeactivatedAt") is not None


def _compare(result: Result, ref: Side, chaos: Side, before: dict[str, Any]) -> None:
    want, got = ref.project(), chaos.project()
    differ = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
    result.violations["state_mismatch"] += len(differ)
    result.notes += [f"differs: {k}: reference {want.get(k)} / chaos {got.get(k)}" for k in differ[:3]]
    values = [m.value for m in chaos.sb.lms.state.external_ids() if m.target_type == "user"]
    result.violations["duplicate_users"] += max(0, len(got) - len(want)) + len(values) - len(set(values))
    result.violations["unmanaged_writes"] += chaos.unmanaged_writes(before)
    result.notes += chaos.findings
    (ref_deleted, ref_stamps), (deleted, stamps) = ref.deletions(), chaos.deletions()
    wrong = (deleted - ref_deleted) | {m for m in stamps if stamps[m] != ref_stamps.get(m)}
    result.violations["wrong_deletions"] += len(wrong)
    result.notes += [f"wrong deletion: {m}" for m in sorted(wrong)[:3]]


def _stop_fast(*sides: Side) -> None:
    """Ask every server to exit at once, so the sequential stops wait only once."""
    for side in sides:
        for server in (getattr(side.sb, "_personio_server", None), side.sb.lms.server):
            if server is not None:
                server.server.should_exit = True


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
    with tempfile.TemporaryDirectory(prefix="personio360-chaos-") as root:
        jobs = [(n, seed, root) for n in range(first, first + cases)]
        if workers <= 1:
            yield from map(_one, jobs)
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            yield from pool.map(_one, jobs)


def main(argv: list[str] | None = None) -> int:
    from benchmarks import chaos_changes

    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=200, help="full-sync cases (this module)")
    parser.add_argument(
        "--changes-cases", type=int, default=30, help="R17 changes-run cases (chaos_changes.py)"
    )
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--first", type=int, default=0, help="number of the first case (re-run one case)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case")
    args = parser.parse_args(argv)
    bad = 0
    if args.cases:
        results = run_suite(args.cases, args.seed, args.workers, args.first)
        bad += _summary("chaos", results, VIOLATIONS, args)
    if args.changes_cases:
        results = chaos_changes.run_suite(args.changes_cases, args.seed, args.workers, args.first)
        bad += _summary("chaos, changes runs (R17)", results, chaos_changes.VIOLATIONS, args)
    return 1 if bad else 0


def _summary(title: str, results: Iterator[Result], names: tuple[str, ...], args: argparse.Namespace) -> int:
    """Print each bad (or, verbose, every) case, then the totals; the number of violations."""
    started = time.monotonic()
    violations: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    exits: Counter[str] = Counter()
    kills = done = 0
    for result in results:
        done += 1
        violations.update(result.violations)
        faults.update(result.faults)
        exits.update(result.exits)
        kills += result.kills
        bad = sum(result.violations.values())
        if bad or args.verbose:
            print(
                f"case {result.number}: {bad} violations, {result.kills} kills, "
                f"{dict(result.exits)}, {result.seconds:.1f} s",
                flush=True,
            )
            for note in result.notes:
                print(f"    {note}", flush=True)
    seconds = time.monotonic() - started
    print(f"{title}: {done} cases (seed {args.seed}), {args.workers} workers, {seconds:.0f} s")
    print(f"faults injected: {sum(faults.values())}")
    for label, count in sorted(faults.items()):
        print(f"  {label:<26} {count}")
    print(f"kills (SIGKILL mid-run): {kills}")
    print("faulted runs: " + ", ".join(f"{k} {v}" for k, v in sorted(exits.items())))
    print("violations:")
    for name in names:
        print(f"  {name:<36} {violations[name]}")
    return sum(violations.values())


def _cli(args: list[str]) -> None:
    """The CLI's own entry point, time compressed: pacing x1000, retries without waiting."""
    import functools

    import stamina

    from personio360 import wiring
    from personio360.cli.main import main as cli_main
    from personio360.http.retry import RetryPolicy

    stamina.set_testing(True, attempts=RetryPolicy().attempts, cap=True)
    wiring.open_context = functools.partial(wiring.open_context, rate_limit_factor=PACING)  # type: ignore[assignment]
    sys.argv = ["personio360", *args]
    cli_main()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--cli"]:
        _cli(sys.argv[2:])
    sys.exit(main())
