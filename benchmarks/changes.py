"""R17 in ``make bench``: an HR edit's way to 360Learning, timed; a changes run's calls, counted (issue 13).

Runs after the full syncs of the large company, on that very company: its emulator states and
its state store are served again by emulators at the **published** limits (x1, the same
latency on every call), and the connector runs as production runs it
(``benchmarks.serve_child``: ``serve``'s app with the receivers and the Timetable, paced at the
published limits, in its own process).

- **Latency**: ``edits`` job titles changed in Personio's state one at a time, seeded gaps of
  ``gap`` seconds on average (half to one and a half times it), so the figure is latency, not
  a backlog; each is timed from the edit to the moment the user's job in the 360Learning
  emulator's state shows it (looked at every 10 ms). First through webhooks (a Personio
  subscription ENABLED with the person and employment events, ``poll_every = "off"``), then
  through polling alone (no subscription, ``poll_every`` = ``poll`` seconds).
- **Idle**: right after the polling edits, ``idle`` seconds of the same Timetable with nothing
  changed: the calls each poll made. Compressed: a poll every ``poll`` s stands for the
  default one a minute, so "calls per poll" is "calls per idle minute" at ``poll_every = "1m"``.
- **Calls per changed employee**: ``k`` employees edited at once (a quarter each: job title,
  name and email, supervisor, T-shirt size), one ``run_changes`` (as ``sync --changes``) and the
  calls it made by endpoint; the fixed reads (groups, custom fields, R10's two) set apart.
"""

from __future__ import annotations

from secrets import token_hex

__all__ = ["measure", "percentile", "split_reads"]

import json
import math
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.budget import floor
from benchmarks.scenarios import EMPLOYEES, REPO, Bench, Served, published
from personio360.config import load_config
from personio360.emulators.learning360.state import Learning360State
from personio360.emulators.personio.state import PersonioState
from personio360.store import open_store
from personio360.sync.run_changes import run_changes
from personio360.wiring import open_context

TOKEN = "Bearer " + token_hex(16)  # made per run: no token is written in the repository
PERSON_EVENTS = ["person.created", "person.updated", "person.deleted",
                 "employment.created", "employment.updated", "employment.deleted"]
#: the reads every changes run makes whoever it covers (gather_changes): R7, R8, R10 (2)
FIXED_READS = {"GET /api/v2/groups": None, "GET /api/v2/custom-fields": None,
               "GET /api/v2/users": 1, "GET /api/v2/users/{userId}/roles": 1}
#: targets (SPEC §6, issue 13)
WEBHOOK_P95_S = 5.0
POLL_MARGIN_S = 5.0


def write_config(bench: Bench, served: Served, name: str, *, poll: str, webhooks: bool) -> Path:
    """The sandbox's config in production, pointing at ``served``, with ``[changes]`` (and
    ``[webhooks]``: its public URL is only what ``webhooks setup`` would register, so a
    placeholder; the subscription is made at the emulator below). The same state store."""
    sb = bench.sb
    text = sb.config_path.read_text(encoding="utf-8")
    for old, new in ((f'base_url = "{sb.personio_url}"', f'base_url = "{served.personio_url}"'),
                     (f'base_url = "{sb.lms_url}"', f'base_url = "{served.lms_url}"'),
                     (f'environment = "{sb.environment}"', 'environment = "production"')):
        if old not in text:
            raise RuntimeError(f"the sandbox's config has no {old!r}")
        text = text.replace(old, new)
    text += f'\n[changes]\npoll_every = "{poll}"\n'
    if webhooks:
        text += '\n[webhooks]\npublic_url = "http://127.0.0.1:9"\n'
    path = sb.directory / f"personio360-r17-{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


class Connector:
    """``benchmarks.serve_child`` running: the connector in production, until ``stop``."""

    def __init__(self, config: Path, environ: Mapping[str, str], log: Path) -> None:
        self._log = log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.serve_child", str(config)], cwd=REPO,
            env={**environ, "PYTHONPATH": str(REPO)}, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._log, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=30)
            raise RuntimeError(f"the connector did not start:\n{log.read_text()[-3000:]}")
        self.url: str = json.loads(line)["url"]

    def stop(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            out = self.proc.stdout.read()
            self.proc.wait(timeout=90)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._log.close()
        lines = out.strip().splitlines()
        return json.loads(lines[-1]) if lines else {}


@dataclass
class Watch:
    """Edits in Personio's state, each timed until 360Learning's state shows it."""

    personio: PersonioState
    lms: Learning360State
    latencies: list[float] = field(default_factory=list)
    _pending: dict[str, tuple[float, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._look, name="r17-watch", daemon=True)
        self._thread.start()

    def edit(self, employee_id: int, user_id: str, job: str) -> None:
        with self._lock:
            self._pending[user_id] = (time.perf_counter(), job)
        self.personio.update(employee_id, position=job)

    def wait(self, timeout: float) -> bool:
        """True once every edit is seen in 360Learning."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    return True
            time.sleep(0.05)
        return False

    @property
    def missing(self) -> int:
        with self._lock:
            return len(self._pending)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _look(self) -> None:
        while not self._stop.wait(0.01):
            with self._lock:
                pending = list(self._pending.items())
            for user_id, (edited, job) in pending:
                if self.lms.user(user_id).job == job:
                    seen = time.perf_counter()
                    with self._lock:
                        del self._pending[user_id]
                        self.latencies.append(seen - edited)


@dataclass(frozen=True, slots=True)
class Person:
    employee_id: int
    user_id: str
    position: str


def people(bench: Bench, config: Path, n: int, seed: int = 13) -> list[Person]:
    """``n`` synced employees nobody reports to, clean (no planted edge case), whose user's job
    is their position: edits of them are plain job-title changes."""
    sb = bench.sb
    employees = sb.personio.state.employees()
    bosses = {e.get("supervisor") for e in employees}
    planted = {i for ids in sb.company.edge_cases.values() for i in ids}
    store = open_store(load_config(config).state_url)
    try:
        links = store.links.active()
    finally:
        store.close()
    users = {u.id: u for u in sb.lms.state.users()}
    out = []
    for emp in employees:
        link = links.get(emp["id"])
        user = users.get(link.user_id) if link else None
        if (link is None or user is None or emp["status"] != "active" or emp["id"] in bosses
                or emp["id"] in planted or user.status == "deleted"):
            continue
        if isinstance(emp.get("position"), str) and user.job == emp["position"]:
            out.append(Person(emp["id"], link.user_id, emp["position"]))
    random.Random(seed).shuffle(out)
    if len(out) < n:
        raise RuntimeError(f"only {len(out)} plain synced employees, {n} wanted")
    return out[:n]


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (p95 of 100 values: the 95th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def latency(bench: Bench, served: Served, config: Path, who: list[Person], *, name: str,
            gap: float, webhooks: bool, idle: float = 0.0, warm_up: float = 60.0,
            seed: int = 17) -> dict[str, Any]:
    """Edits one by one through the running connector; their latencies, calls and runs."""
    environ = {**os.environ, **bench.sb.environ, "PERSONIO_WEBHOOK_TOKEN": TOKEN}
    connector = Connector(config, environ, bench.sb.directory / f"r17-{name}.log")
    hook: dict[str, Any] | None = None
    watch = Watch(served.personio.state, served.lms.state)
    out: dict[str, Any] = {"scenario": f"latency: {name}", "edits": len(who) - 1, "gap_s": gap}
    try:
        if webhooks:
            hook = served.personio.webhooks.create({
                "url": f"{connector.url}/hooks/personio", "description": "personio360 (benchmark)",
                "status": "ENABLED", "auth_type": "TOKEN", "token": TOKEN,
                "enabled_events": PERSON_EVENTS})
        first, *rest = who  # the first edit also fetches the connector's tokens: not counted
        watch.edit(first.employee_id, first.user_id, f"{first.position} (warm-up)")
        if not watch.wait(warm_up):
            raise RuntimeError(f"{name}: the warm-up edit never reached 360Learning "
                               f"(see {bench.sb.directory / f'r17-{name}.log'})")
        watch.latencies.clear()
        served.reset()
        rng = random.Random(seed)
        started = time.perf_counter()
        for n, person in enumerate(rest):
            watch.edit(person.employee_id, person.user_id, f"{person.position} (R17 edit {n})")
            time.sleep(rng.uniform(0.5, 1.5) * gap)
        watch.wait(warm_up)
        out["edits_s"] = round(time.perf_counter() - started, 1)
        out["calls"] = served.calls()
        out["missing"] = watch.missing
        if idle:
            served.reset()
            idle_from = time.monotonic()
            time.sleep(idle)
            out["idle"] = {"seconds": idle, **served.calls(), "window": (idle_from, time.monotonic())}
    finally:
        watch.close()
        summary = connector.stop()
        if hook is not None:
            served.personio.webhooks.delete(hook["id"])
    values = watch.latencies
    if "idle" in out:  # the polls the Timetable made in the idle window (runs of nothing to do)
        low, high = out["idle"].pop("window")
        out["idle"]["polls"] = sum(1 for r in summary.get("reports", []) if low <= r["at"] <= high)
    runs = [r for r in summary.get("reports", []) if r["kind"] == "changes" and r["run_id"] is not None]
    out.update({
        "p50_s": round(percentile(values, 0.50), 3) if values else None,
        "p95_s": round(percentile(values, 0.95), 3) if values else None,
        "max_s": round(max(values), 3) if values else None,
        "measured": len(values), "changes_runs": len(runs),
        "idle_runs": sum(1 for r in summary.get("reports", []) if r["run_id"] is None),
        "covered_per_run": round(sum(r["covered"] or 0 for r in runs) / len(runs), 2) if runs else 0,
        "run_s": round(sum(r["duration_s"] for r in runs) / len(runs), 3) if runs else None,
        "problems": summary.get("problems", []), "connector_cpu_s": summary.get("cpu_s"),
        "deliveries": dict(served.personio.deliveries.counts) if webhooks else {},
    })
    return out


def split_reads(endpoints: Mapping[str, int]) -> tuple[int, int]:
    """A changes run's 360Learning reads: (fixed, per covered employee)."""
    fixed = per_person = 0
    for endpoint, count in endpoints.items():
        if not endpoint.startswith("GET "):
            continue
        if endpoint in FIXED_READS:
            share = count if FIXED_READS[endpoint] is None else min(count, FIXED_READS[endpoint] or 0)
            fixed += share
            per_person += count - share
        else:
            per_person += count
    return fixed, per_person


def calls_per_employee(bench: Bench, config: Path, who: list[Person], served: Served) -> dict[str, Any]:
    """``len(who)`` employees edited at once (four kinds), one changes run: its calls."""
    settings = load_config(config)
    state = served.personio.state
    company = bench.sb.company
    shirt = bench.sb.installed.attribute_keys["T-shirt size"]
    employees = {e["id"]: e for e in state.employees()}
    heads = sorted(i for i, e in employees.items() if str(e.get("position", "")).startswith("Head of "))
    writes = 0
    with open_context(settings) as ctx:
        warm = run_changes(settings, ctx.personio, ctx.lms, ctx.store)  # tokens; nothing left to do
        for n, person in enumerate(who):
            emp = employees[person.employee_id]
            match n % 4:
                case 0:
                    state.update(person.employee_id, position=f"{person.position} (R17 batch)")
                    writes += 1  # PATCH the user
                case 1:
                    state.update(person.employee_id, last_name=f"{emp['last_name']}-Batch",
                                 email=f"batch.{person.employee_id}@{company.domain}")
                    writes += 1  # PATCH the user (name and mail together)
                case 2:
                    state.update(person.employee_id,
                                 supervisor=next(h for h in heads if h != emp.get("supervisor")))
                    writes += 2  # POST the new manager, DELETE the old one
                case _:
                    state.update(person.employee_id, **{shirt: "XXL" if emp.get(shirt) != "XXL" else "XS"})
                    writes += 1  # PUT the custom values
        served.reset()
        started = time.perf_counter()
        report = run_changes(settings, ctx.personio, ctx.lms, ctx.store)
        wall = time.perf_counter() - started
        calls = served.calls()
        served.reset()
        idle = run_changes(settings, ctx.personio, ctx.lms, ctx.store)
        idle_calls = served.calls()
    fixed, per_person = split_reads(calls["360"])
    k = len(who)
    seconds, binding = floor({"360 reads": calls["360 reads"], "360 writes": calls["360 writes"],
                              "Personio list": calls["Personio"].get(EMPLOYEES, 0)})
    return {
        "scenario": f"changes run of {k} edited employees", "employees": k,
        "warm_up_run": warm.run_id, "outcome": report.outcome.value, "covered": report.covered,
        "applied": report.applied, "wall_s": round(wall, 3), "floor_s": round(seconds, 3),
        "binding_limit": binding, "calls": calls, "fixed_reads": fixed, "per_person_reads": per_person,
        "personio_per_employee": round(calls["Personio calls"] / k, 3),
        "reads_per_employee": round(per_person / k, 2), "writes_needed": writes,
        "writes_per_employee": round(calls["360 writes"] / k, 2),
        "idle_run": {"run_id": idle.run_id, **idle_calls},
    }


def measure(bench: Bench, *, edits: int = 100, gap: float = 1.2, poll: float = 10.0,
            poll_gap: float = 1.0, idle: float = 30.0, batch: int = 40) -> dict[str, Any]:
    """Every R17 figure of ``make bench`` on ``bench``'s company, at the published limits."""
    with published(bench) as served:
        hooked = write_config(bench, served, "webhooks", poll="off", webhooks=True)
        polled = write_config(bench, served, "polling", poll=f"{poll:g}s", webhooks=False)
        who = people(bench, hooked, 2 * (edits + 1) + batch)
        through_hooks = latency(bench, served, hooked, who[:edits + 1], name="webhooks", gap=gap,
                                webhooks=True)
        through_polls = latency(bench, served, polled, who[edits + 1:2 * (edits + 1)], name="polling",
                                gap=poll_gap, webhooks=False, idle=idle)
        batched = calls_per_employee(bench, polled, who[2 * (edits + 1):], served)
    through_hooks["target"] = f"p95 <= {WEBHOOK_P95_S:g} s"
    through_hooks["target_met"] = (through_hooks["p95_s"] is not None and not through_hooks["missing"]
                                   and through_hooks["p95_s"] <= WEBHOOK_P95_S)
    goal = poll + POLL_MARGIN_S
    through_polls["poll_every_s"] = poll
    through_polls["target"] = f"p95 <= poll interval + {POLL_MARGIN_S:g} s = {goal:g} s"
    through_polls["target_met"] = (through_polls["p95_s"] is not None and not through_polls["missing"]
                                   and through_polls["p95_s"] <= goal)
    quiet = through_polls["idle"]
    polls = quiet["polls"]
    quiet.update(per_poll=round(quiet["Personio calls"] / max(1, polls), 2),
                 target="<= 1 Personio call a poll (a minute at the default), no 360Learning call",
                 target_met=(polls > 0 and quiet["Personio calls"] <= polls
                             and quiet["360 reads"] + quiet["360 writes"] == 0))
    batched["target"] = "1 Personio read, <= 4 360Learning reads per employee, the writes needed"
    batched["target_met"] = (batched["calls"]["Personio calls"] <= 1 and batched["reads_per_employee"] <= 4
                             and batched["calls"]["360 writes"] <= batched["writes_needed"]
                             and batched["covered"] == batched["employees"])
    return {"webhooks": through_hooks, "polling": through_polls, "idle": quiet, "batch": batched}
