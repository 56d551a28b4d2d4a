"""Planning alone for a large company: the planner's CPU seconds and memory (SPEC §6: < 1 s, < 300 MB).

Run as a child process (``python -m benchmarks.planning SIZE``) so its peak RSS is its own.
The snapshots are the ones gather would read, built without HTTP: employees rendered by the
Personio emulator and parsed by the client's own ``wire`` code; users, groups and roles from
the 360Learning emulator's state. Two plans are timed:

- ``initial``: nobody linked yet (every in-scope employee is a create);
- ``no-change``: the state after that plan was applied (every employee linked, in the right
  group, with manager, external id and custom values): the plan is empty, the hourly case.

CPU is ``time.process_time()`` around ``plan()`` (best of three, tracing off), and again with
the snapshot frozen out of the cyclic garbage collector (``gc.freeze()``); memory is
the snapshot's own size (tracemalloc, while it is built) plus tracemalloc's peak of what
``plan()`` allocates on top of it, in a separate run; the process's peak RSS (the generated
company and both emulator states included) is reported beside them.
"""

from __future__ import annotations

__all__ = ["measure"]

import datetime as dt
import gc
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import Any

from personio360.config import Settings, load_config
from personio360.domain import CustomField, CustomValue, ExternalId, Link, LmsUser
from personio360.emulators.personio.render import Renderer
from personio360.emulators.sandbox import Sandbox
from personio360.learning360 import wire as lms_wire
from personio360.personio import wire
from personio360.sync.custom import NEW
from personio360.sync.gather import wanted_attributes
from personio360.sync.operations import (
    AdoptUser,
    CreateCustomField,
    CreateUser,
    MoveUser,
    Operation,
    Plan,
    SetCustomValues,
    SetExternalId,
    SetManager,
    UpdateUser,
)
from personio360.sync.planner import plan
from personio360.sync.snapshot import Hierarchy, Snapshot


def measure(size: int, seed: int = 7) -> dict[str, Any]:
    """Build both snapshots for a company of ``size``, time and weigh ``plan()`` on each."""
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp:
        built = time.perf_counter()
        sb = Sandbox(Path(tmp), size=size, seed=seed)
        sb.personio_url = sb.lms_url = "http://127.0.0.1:9"  # never served: no HTTP here
        settings = load_config(sb.write_config())
        tracemalloc.start()
        initial = _initial_snapshot(sb, settings)
        initial_mb = tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.stop()
        first = plan(initial, settings)
        tracemalloc.start()
        steady = _applied(initial, first)
        steady_mb = initial_mb + tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.stop()
        del first
        setup_s = time.perf_counter() - built
        out: dict[str, Any] = {"employees": size, "setup_s": round(setup_s, 1), "plans": {}}
        for name, snapshot, snapshot_mb in (("initial", initial, initial_mb),
                                            ("no-change", steady, steady_mb)):
            out["plans"][name] = {**_weigh(snapshot, settings), "snapshot_mb": round(snapshot_mb, 1)}
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def _weigh(snapshot: Snapshot, settings: Settings) -> dict[str, Any]:
    cpu = []
    result: Plan | None = None
    for _ in range(3):
        started = time.process_time()
        result = plan(snapshot, settings)
        cpu.append(time.process_time() - started)
    # the same with the snapshot out of the cyclic GC's reach (gc.freeze: what run_sync could do
    # between gather and plan); the planner's own allocations otherwise make every full
    # collection walk the whole snapshot again
    frozen = []
    gc.collect()
    gc.freeze()
    for _ in range(3):
        started = time.process_time()
        plan(snapshot, settings)
        frozen.append(time.process_time() - started)
    gc.unfreeze()
    tracemalloc.start()
    plan(snapshot, settings)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result is not None
    return {"cpu_s": round(min(cpu), 3), "cpu_runs_s": [round(c, 3) for c in cpu],
            "cpu_gc_frozen_s": round(min(frozen), 3),
            "plan_peak_mb": round(peak / 2**20, 1), "operations": len(result.operations),
            "errors": len(result.errors), "in_scope": result.in_scope}


def _initial_snapshot(sb: Sandbox, settings: Settings) -> Snapshot:
    """What gather reads before the first sync: every employee (the attributes it asks for),
    the platform's users and groups."""
    personio, lms = sb.personio.state, sb.lms.state
    renderer = Renderer(personio, set(wanted_attributes(settings)))
    employees = {}
    for record in personio.employees():
        # through JSON text, as the client reads it: no string is shared with the emulator
        item = wire.EmployeeData.model_validate(json.loads(json.dumps(renderer.employee(record))))
        employees[item_id(item)] = wire.to_domain(item)
    users = {u.id: u for u in lms.users()}
    groups = lms.groups()
    children: dict[str, list[Any]] = {}
    for g in groups:
        if g.parent_id:
            children.setdefault(g.parent_id, []).append(g)
    top = next(g for g in groups if g.id == sb.installed.synced_group_id)
    kids: dict[str, tuple[Any, ...]] = {}
    stack = [top.id]
    while stack:
        gid = stack.pop()
        kids[gid] = tuple(sorted(children.get(gid, ()), key=lambda g: g.id))
        stack.extend(g.id for g in kids[gid])
    learners: dict[str, set[str]] = {}
    for gid in kids:
        for role in lms.roles_of_group(gid):
            if role.role == "learner":
                learners.setdefault(role.user_id, set()).add(gid)
    hierarchy = Hierarchy(top=top, children=kids, learners={u: frozenset(g) for u, g in learners.items()})
    return Snapshot(taken_at=dt.datetime.now(dt.UTC), employees=employees, users=users, links={},
                    external_ids={}, hierarchies={top.id: hierarchy},
                    custom_fields=tuple(lms.custom_fields()))


def item_id(item: wire.EmployeeData) -> int:
    return int(item.attributes["id"].value)


def _applied(snapshot: Snapshot, done: Plan) -> Snapshot:
    """The snapshot after ``done`` was applied in full, as the executor would leave it."""
    world = _World(snapshot)
    for op in done.operations:
        world.apply(op)
    return world.snapshot()


class _World:
    """The 360Learning side of a snapshot, changed one operation at a time."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.base = snapshot
        self.users, self.links = dict(snapshot.users), dict(snapshot.links)
        self.mappings = dict(snapshot.external_ids)
        self.managers: dict[str, frozenset[str]] = dict(snapshot.managers)
        self.values: dict[str, tuple[CustomValue, ...]] = dict(snapshot.custom_values)
        self.fields, self.owned = list(snapshot.custom_fields), dict(snapshot.owned_fields)
        (self.top_id, self.hierarchy), = snapshot.hierarchies.items()
        self.learners = {u: set(g) for u, g in self.hierarchy.learners.items()}
        self.made: dict[str, str] = {}
        self.user_of: dict[int, str] = {}

    def user(self, op: Operation) -> str:
        assert op.employee_id is not None
        return op.user_id or self.user_of[op.employee_id]

    def apply(self, op: Operation) -> None:
        now = self.base.taken_at
        match op:
            case CreateCustomField():
                field_id = op.existing_id or f"{len(self.fields):024x}"
                if not op.existing_id:
                    self.fields.append(CustomField(field_id, op.name, op.type))
                self.made[op.name], self.owned[field_id] = field_id, op.name
            case CreateUser(employee_id=int(employee_id)):
                user_id = f"{0xB0000000 + employee_id:024x}"
                self.users[user_id] = LmsUser(user_id, op.mail, op.first_name, op.last_name, op.job)
                self.user_of[employee_id] = user_id
                self.links[employee_id] = Link(employee_id, user_id, "created", now)
                self.learners.setdefault(user_id, set()).add(op.group_id)
            case AdoptUser(employee_id=int(employee_id), user_id=str(user_id)):
                self.user_of[employee_id] = user_id
                self.links[employee_id] = Link(employee_id, user_id, "adopted", now)
            case SetExternalId(employee_id=int(employee_id)):
                user_id = self.user(op)
                self.mappings[user_id] = ExternalId(f"m{user_id}", op.platform, "user", user_id,
                                                    str(employee_id))
            case UpdateUser(user_id=str(user_id)):
                change: dict[str, Any] = {c.name.replace(" ", "_"): c.after for c in op.fields_changed}
                self.users[user_id] = replace(self.users[user_id], **change)
            case MoveUser():
                user_id = self.user(op)
                self.learners[user_id] = (self.learners.get(user_id, set()) - set(op.remove)) | set(op.add)
            case SetManager():
                boss = None
                if op.manager_employee_id is not None:
                    boss = op.manager_user_id or self.user_of.get(op.manager_employee_id)
                self.managers[self.user(op)] = frozenset({boss} if boss else ())
            case SetCustomValues():  # read back as the client reads them (lms_wire: shared)
                self.values[self.user(op)] = tuple(
                    lms_wire.CustomValue(
                        custom_field_id=self.made[ref.removeprefix(NEW)] if ref.startswith(NEW) else ref,
                        type=kind, value=value).to_domain()
                    for ref, kind, value in op.final)
            case _:
                raise ValueError(f"a first sync does not {op.kind}")

    def snapshot(self) -> Snapshot:
        for user_id in {link.user_id for link in self.links.values()}:
            self.managers.setdefault(user_id, frozenset())
            self.values.setdefault(user_id, ())
        learners = {u: frozenset(g) for u, g in self.learners.items() if g}
        return replace(self.base, users=self.users, links=self.links, external_ids=self.mappings,
                       hierarchies={self.top_id: replace(self.hierarchy, learners=learners)},
                       managers=self.managers, custom_fields=tuple(self.fields),
                       custom_values=self.values, owned_fields=self.owned)


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]))))
