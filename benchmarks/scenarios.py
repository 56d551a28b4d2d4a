"""The benchmarked syncs: a sandboxed company at the published limits, one sync per child process.

``Bench`` owns a ``Sandbox`` (both emulators with their rate limits scaled by ``factor``, a
generated company, a config) and a network latency fault on every call; ``sync()`` runs the
engine's own ``run_sync`` in a child process (``benchmarks.child``) so that the connector and
the emulators each have a core, and returns the run's figures with the calls the emulators
answered. ``churn()`` applies a seeded 2% churn to Personio: hires, edits, movers, leavers.

``sync_published()`` runs one sync of the same company at the **published** limits (x1): new
emulators over the same states (``published``), the client paced at x1. The large company's
follow-up syncs run so: at x10 the emulators and the client must handle 500 calls a second
on a 2-core machine, and their wall time then measures the machine's CPU (and whatever else
runs on it) more than the connector's pacing; at x1 it measures the connector (issue 13).
"""

from __future__ import annotations

__all__ = ["Bench", "Run", "Served", "churn", "counts", "published"]

import contextlib
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.budget import Counts, floor, sequential_floor
from personio360.emulators.faults import Fault
from personio360.emulators.learning360 import Learning360Emulator
from personio360.emulators.personio import PersonioEmulator
from personio360.emulators.personio.state import PersonioState
from personio360.emulators.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[1]
EMPLOYEES = "GET /v1/company/employees"
HIRED_AGO = dt.timedelta(days=7)


def _now() -> dt.datetime:
    """Personio's clock: whole seconds, as its ``last_modified_at`` (the emulator's own default)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass
class Run:
    """One benchmarked sync: what the child measured and what the emulators counted."""

    scenario: str
    employees: int
    factor: float
    child: dict[str, Any]
    lms: dict[str, Any]
    personio: dict[str, Any]
    budget: dict[str, int] = field(default_factory=dict)

    @property
    def calls(self) -> dict[str, int]:
        kinds, personio = self.lms["by_kind"], self.personio
        return {"360 reads": kinds.get("read", 0), "360 writes": kinds.get("write", 0),
                "360 bulk": kinds.get("bulk", 0),
                "Personio list": personio["by_endpoint"].get(EMPLOYEES, 0),
                "429s": self.lms["by_status"].get("429", 0) + personio["by_status"].get("429", 0)}

    @property
    def floor(self) -> tuple[float, str]:
        return floor(self.calls, self.factor)

    def to_dict(self) -> dict[str, Any]:
        seconds, binding = self.floor
        wall = self.child["wall_s"]
        return {
            "scenario": self.scenario, "employees": self.employees, "limit_factor": self.factor,
            "wall_s": round(wall, 3), "floor_s": round(seconds, 3), "binding_limit": binding,
            "ratio": round(wall / seconds, 3) if seconds else None,
            "floor_sequential_s": round(sequential_floor(self.calls, self.factor), 3),
            "calls": self.calls, "endpoints": {**self.lms["by_endpoint"], **self.personio["by_endpoint"]},
            "budget": self.budget, "peak_rss_mb": round(self.child["peak_rss_mb"], 1),
            "cpu_s": round(self.child["cpu_s"], 2), "outcome": self.child["outcome"],
            "applied": self.child["applied"], "failed": self.child["failed"],
            "errors": self.child["errors"],
        }


class Bench:
    """A sandboxed company of ``size`` at limits x ``factor``, every call delayed by ``latency``."""

    def __init__(self, size: int, *, factor: float, latency: float, seed: int = 7) -> None:
        self.size, self.factor = size, factor
        self._tmp = tempfile.TemporaryDirectory(prefix=f"bench-{size}-")
        # The company was hired a week ago, by Personio's clock: from then on its clock is ours.
        # Otherwise every employee would carry a last_modified_at of a few minutes ago, and every
        # R17 poll (updated_since = the last poll less its 15-minute overlap) would list them all.
        state = PersonioState(clock=lambda: _now() - HIRED_AGO)
        self.sb = Sandbox(Path(self._tmp.name), size=size, seed=seed, rate_limit_factor=factor,
                          personio_options={"state": state})
        state.use_clock(_now)
        self.latency = latency

    def __enter__(self) -> Bench:
        self.sb.start()
        if self.latency > 0:
            for faults in (self.sb.personio.faults, self.sb.lms.faults):
                faults.replace([Fault(kind="latency", delay=self.latency)])
        return self

    def __exit__(self, *exc: object) -> None:
        self.sb.stop()
        self._tmp.cleanup()

    def start_sync(self) -> subprocess.Popen[str]:
        """Start one sync in a child process (the emulators' counters start from zero)."""
        self.sb.lms.stats.reset()
        self.sb.personio.stats.reset()
        self.sb.lms.faults.injected.clear()
        env = {**os.environ, **self.sb.environ, "PYTHONPATH": str(REPO)}
        return subprocess.Popen(
            [sys.executable, "-m", "benchmarks.child", str(self.sb.config_path), str(self.factor)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish_sync(self, scenario: str, child: subprocess.Popen[str]) -> Run:
        """Wait for the child started by ``start_sync``; the run's figures."""
        out, err = child.communicate()
        if child.returncode != 0 or not out.strip():
            raise RuntimeError(f"{scenario}: the sync child failed ({child.returncode}):\n{err[-3000:]}")
        return Run(scenario, self.size, self.factor, json.loads(out.strip().splitlines()[-1]),
                   self.sb.lms.stats.snapshot(), self.sb.personio.stats.snapshot())

    def sync(self, scenario: str) -> Run:
        return self.finish_sync(scenario, self.start_sync())

    def sync_published(self, scenario: str) -> Run:
        """One sync at the published limits (x1), the client paced at x1, the same store."""
        with published(self) as served:
            text = self.sb.config_path.read_text(encoding="utf-8")
            for old, new in ((f'base_url = "{self.sb.personio_url}"', f'base_url = "{served.personio_url}"'),
                             (f'base_url = "{self.sb.lms_url}"', f'base_url = "{served.lms_url}"')):
                if old not in text:
                    raise RuntimeError(f"the sandbox's config has no {old!r}")
                text = text.replace(old, new)
            config = self.sb.directory / "personio360-published.toml"
            config.write_text(text, encoding="utf-8")
            env = {**os.environ, **self.sb.environ, "PYTHONPATH": str(REPO)}
            child = subprocess.Popen([sys.executable, "-m", "benchmarks.child", str(config), "1"], cwd=REPO,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            out, err = child.communicate()
            if child.returncode != 0 or not out.strip():
                raise RuntimeError(f"{scenario}: the sync child failed ({child.returncode}):\n{err[-3000:]}")
            return Run(scenario, self.size, 1.0, json.loads(out.strip().splitlines()[-1]),
                       served.lms.stats.snapshot(), served.personio.stats.snapshot())

    def counts(self, followed: int) -> Counts:
        return counts(self.sb, followed)


def counts(sb: Sandbox, followed: int) -> Counts:
    """The sizes the budget formula needs, read from the emulators' states."""
    lms = sb.lms.state
    groups = lms.groups()
    children: dict[str | None, list[str]] = {}
    for g in groups:
        children.setdefault(g.parent_id, []).append(g.id)
    tree, stack = [], [sb.installed.synced_group_id]
    while stack:
        gid = stack.pop()
        tree.append(gid)
        stack.extend(children.get(gid, []))
    return Counts(
        employees=len(sb.personio.state), users=len(lms.users()), groups=len(groups),
        hierarchy_roles=tuple(len(lms.roles_of_group(g)) for g in tree),
        mappings=sum(1 for m in lms.external_ids() if m.platform == "personio"),
        custom_fields=len(lms.custom_fields()) if sb.custom_fields else None,
        followed=followed)


@dataclass
class Served:
    """The bench's company, served again at the published limits."""

    personio: PersonioEmulator
    lms: Learning360Emulator
    personio_url: str
    lms_url: str

    def reset(self) -> None:
        self.personio.stats.reset()
        self.lms.stats.reset()

    def calls(self) -> dict[str, Any]:
        lms, personio = self.lms.stats.snapshot(), self.personio.stats.snapshot()
        return {"360": lms["by_endpoint"], "Personio": personio["by_endpoint"],
                "360 reads": lms["by_kind"].get("read", 0), "360 writes": lms["by_kind"].get("write", 0),
                "Personio calls": sum(personio["by_endpoint"].values()),
                "429s": lms["by_status"].get("429", 0) + personio["by_status"].get("429", 0)}


@contextlib.contextmanager
def published(bench: Bench) -> Iterator[Served]:
    """New emulators (limits x1) over the states of ``bench``'s, with its latency on every call."""
    personio = PersonioEmulator(state=bench.sb.personio.state, seed=17)
    lms = Learning360Emulator(state=bench.sb.lms.state, seed=17)
    if bench.latency > 0:
        for faults in (personio.faults, lms.faults):
            faults.replace([Fault(kind="latency", delay=bench.latency)])
    server = personio.serve()
    try:
        yield Served(personio, lms, server.url, lms.serve().url)
    finally:
        server.stop()
        personio.close()
        lms.stop()


def churn(bench: Bench, share: float = 0.02, seed: int = 11) -> dict[str, int]:
    """Change ``share`` of the company in Personio, a quarter each: hires, edits, movers, leavers.

    Hires copy a colleague's place (office, team, supervisor); edits are a new job title, a
    new last name and email, a new supervisor, or a new T-shirt size; movers change department
    within the first office (whose departments are groups: their target group changes) and
    report to the new department's head; leavers become inactive. Nobody who supervises
    anyone changes, so the counts stay exact.
    """
    state, company = bench.sb.personio.state, bench.sb.company
    rng = random.Random(seed)
    people = {e["id"]: e for e in state.employees()}
    bosses = {e["supervisor"] for e in people.values() if e.get("supervisor")}
    heads = {e["department"]: i for i, e in people.items()
             if str(e.get("position", "")).startswith("Head of ")}
    shirt = bench.sb.installed.attribute_keys["T-shirt size"]
    planted = {i for ids in company.edge_cases.values() for i in ids}
    plain = sorted(i for i, e in people.items() if e["status"] == "active" and i not in bosses
                   and i not in planted and e.get("department") in heads)
    rng.shuffle(plain)
    quarter = max(1, round(bench.size * share / 4))
    subgroups = [g.key.removeprefix("office:").split("/") for g in company.lms.groups
                 if g.key.startswith("office:") and "/" in g.key]
    first_office = subgroups[0][0]
    departments = sorted({d for office, d in subgroups if office == first_office} & set(heads))
    movers = [i for i in plain if people[i]["office"] == first_office
              and people[i]["department"] in departments][:quarter]
    rest = [i for i in plain if i not in set(movers)]
    leavers, edits, templates = rest[:quarter], rest[quarter:2 * quarter], rest[2 * quarter:]
    for employee_id in leavers:
        state.terminate(employee_id)
    for n, employee_id in enumerate(edits):
        person = people[employee_id]
        match n % 4:
            case 0:
                state.update(employee_id, position=f"Senior {person['position']}")
            case 1:
                last = f"{person['last_name']}-Okafor"
                state.update(employee_id, last_name=last, email=f"okafor.{employee_id}@{company.domain}")
            case 2:
                others = [heads[d] for d in heads if heads[d] != person.get("supervisor")]
                state.update(employee_id, supervisor=rng.choice(others))
            case _:
                state.update(employee_id, **{shirt: "XXL" if person.get(shirt) != "XXL" else "XS"})
    for employee_id in movers:
        person = people[employee_id]
        department = rng.choice([d for d in departments if d != person["department"]])
        state.update(employee_id, department=department, team=None, supervisor=heads[department])
    for n in range(quarter):
        template = dict(people[templates[n]])
        for key in ("id", "created_at", "last_modified_at"):
            template.pop(key, None)
        template.update(first_name="Neu", last_name=f"Hire{n}",
                        email=f"neu.hire{n}@{company.domain}", status="active")
        state.hire(**template)
    return {"hires": quarter, "edits": len(edits), "movers": len(movers), "leavers": len(leavers)}
