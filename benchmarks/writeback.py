"""R18 write-back at scale: 10,000 employees, 2,000 new completions (issue 16).

``python -m benchmarks.writeback [EMPLOYEES] [NEW]`` serves both emulators on loopback (no
rate limits: the figures are calls, not seconds), links every employee to a user, marks
6,000 path completions *before* the write-back cursor and ``NEW`` after it (a tenth of them
already held by Personio), and 2,000 course attempts after it, then runs the write-back
exactly as a full sync does: ``gather.read_completions`` from the cursor, the pure
``writeback.plan_writeback`` and the executor's write-back phase with the write credential.

What it checks (and prints as JSON): the 360Learning reads follow the pages of *new*
completions (``ceil(NEW / 2,000)`` path pages + ``ceil(2,000 / 500)`` course pages), not the
users; Personio gets exactly one write per changed value; a second pass writes nothing.
"""

from __future__ import annotations

__all__ = ["measure"]

import datetime as dt
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from personio360.config import Settings
from personio360.domain import Employee, Link
from personio360.emulators.learning360 import Learning360Emulator
from personio360.emulators.personio import (
    DEFAULT_CLIENT_SECRET,
    DEFAULT_WRITE_CLIENT_ID,
    DEFAULT_WRITE_CLIENT_SECRET,
    PersonioEmulator,
)
from personio360.http.ratelimit import RateLimiter
from personio360.learning360 import Learning360Client
from personio360.personio import PersonioClient
from personio360.personio.writer import PersonioWriter
from personio360.store import open_store
from personio360.sync.executor import Executor
from personio360.sync.gather import read_completions
from personio360.sync.operations import Plan
from personio360.sync.writeback import item_key, plan_writeback

ATTRIBUTE, COURSE_ATTRIBUTE = "dynamic_1000042", "dynamic_1000043"
CURSOR = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _settings(path_id: str, course_id: str) -> Settings:
    return Settings.model_validate({
        "environment": "test", "learning360": {"connector_admin_email": "owner@example.com"},
        "groups": [{"id": "65f000000000000000000001"}],
        "writeback": {"items": [
            {"path": path_id, "attribute": ATTRIBUTE, "value": "completed_at"},
            {"course": course_id, "attribute": COURSE_ATTRIBUTE, "value": "score"}]}})


def measure(employees: int = 10_000, new: int = 2_000) -> dict[str, Any]:
    """Set the company up, run the write-back twice; the calls each side answered."""
    personio, lms = PersonioEmulator(rate_limits=False), Learning360Emulator(rate_limits=False)
    personio.state.define_attribute(ATTRIBUTE, "Data protection done", "date")
    personio.state.define_attribute(COURSE_ATTRIBUTE, "Fire safety score", "integer")
    learning = lms.state.learning
    path, course = learning.add_path("Data protection"), learning.add_course("Fire safety")
    links: dict[int, Link] = {}
    since = CURSOR - dt.timedelta(days=30)
    for index in range(employees):
        emp_id = personio.state.hire(first_name=f"E{index}", last_name="Mployee",
                                     email=f"e{index}@example.com")
        user = lms.state.add_user(f"e{index}@example.com", f"E{index}", "Mployee")
        links[emp_id] = Link(emp_id, user.id, "created", since)
    people = list(links.items())
    for _emp_id, link in people[:6_000]:  # before the cursor: not read again
        learning.complete_path(path.id, link.user_id, completed_at="2026-02-01T08:00:00.000Z")
    held = 0
    for emp_id, link in people[-new:]:
        learning.complete_path(path.id, link.user_id, completed_at="2026-03-02T08:00:00.000Z")
        if held < new // 10:
            personio.state.update(emp_id, **{ATTRIBUTE: dt.date(2026, 3, 2)})
            held += 1
    for _emp_id, link in people[:2_000]:
        learning.complete_course(course.id, link.user_id, score=75, completed_at="2026-03-03T08:00:00.000Z")
    settings = _settings(path.id, course.id)
    cursors = {item_key(item): CURSOR for item in settings.writeback.items}  # type: ignore[union-attr]
    with personio, lms, tempfile.TemporaryDirectory() as tmp, \
            httpx.Client(base_url=lms.url) as lms_http, \
            httpx.Client(base_url=personio.url) as read_http, \
            httpx.Client(base_url=personio.url) as write_http:
        reader = Learning360Client(lms_http, client_id=lms.client_id, client_secret=lms.client_secret,
                                   limiter=RateLimiter(None))
        people_reader = PersonioClient(read_http, client_id=personio.client_id,
                                       client_secret=DEFAULT_CLIENT_SECRET, limiter=RateLimiter(None))
        writer = PersonioWriter(write_http, client_id=DEFAULT_WRITE_CLIENT_ID,
                                client_secret=DEFAULT_WRITE_CLIENT_SECRET, limiter=RateLimiter(None))
        store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        passes = [_pass(settings, reader, people_reader, writer, store, lms, personio, links, cursors)
                  for _ in range(2)]
        store.close()
    path_pages, course_pages = math.ceil(new / 2000), math.ceil(2000 / 500)
    changed = (new - held) + 2000
    return {
        "employees": employees, "new_path_completions": new, "old_path_completions": 6000,
        "new_course_attempts": 2000, "already_held": held,
        "expected": {"learning360_reads": path_pages + course_pages, "personio_writes": changed},
        "first": passes[0], "second": passes[1],
        "ok": (passes[0]["learning360_reads"] == path_pages + course_pages
               and passes[0]["personio_writes"] == changed and passes[1]["personio_writes"] == 0),
    }


def _pass(settings: Settings, reader: Learning360Client, people_reader: PersonioClient,
          writer: PersonioWriter, store: Any, lms: Learning360Emulator, personio: PersonioEmulator,
          links: dict[int, Link], cursors: dict[str, dt.datetime]) -> dict[str, Any]:
    """One full sync's write-back part: read the stats from the cursor, plan, write."""
    lms.stats.reset()
    personio.stats.reset()
    started = time.perf_counter()
    completions = read_completions(settings, reader, cursors, links)
    employees: dict[int, Employee] = {e.id: e for e in people_reader.iter_employees(
        attributes=["id", "email", ATTRIBUTE, COURSE_ATTRIBUTE])}
    ops = plan_writeback(settings, completions, links, employees)
    run_id = store.runs.start("bench writeback", "test")
    executor = Executor(reader, store, run_id, send_invitations=False, writer=writer)
    executor.apply(Plan(operations=tuple(ops)))
    return {"learning360_reads": lms.stats.count("read"), "personio_writes": personio.stats.count("write"),
            "personio_reads": personio.stats.count("read"), "operations": len(ops),
            "errors": len(executor.errors), "seconds": round(time.perf_counter() - started, 2)}


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    result = measure(*args)
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["ok"] else 1)
