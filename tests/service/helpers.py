"""Shared helpers of the multi-company tests: the CLI in a subprocess, workers, the queue, outcomes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personio360.emulators.learning360.state import Learning360State
from personio360.service.database import Database, database_url
from personio360.service.tasks import jobs_of, opened


@dataclass
class Result:
    code: int
    out: str
    err: str


def cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> Result:
    """``python -m personio360 ARGS`` with ``env``, wide enough that tables do not wrap."""
    done = subprocess.run([sys.executable, "-m", "personio360", *args], env={**env, "COLUMNS": "250"},
                          capture_output=True, text=True, timeout=300, cwd=cwd, check=False)
    return Result(done.returncode, done.stdout, done.stderr)


@contextlib.contextmanager
def workers(env: dict[str, str], count: int, logs: Path, *, stalled_after: float = 5) -> Iterator[Any]:
    """``count`` worker processes; all stopped (SIGTERM, then SIGKILL) at the end."""
    started: list[subprocess.Popen[bytes]] = []
    files: list[Any] = []

    def start() -> subprocess.Popen[bytes]:
        log = (logs / f"worker-{len(started)}.log").open("wb")
        files.append(log)
        proc = subprocess.Popen([sys.executable, "-m", "personio360", "worker", "--concurrency", "2",
                                 "--stalled-after", str(stalled_after)],
                                env={**env, "PERSONIO360_LOG_LEVEL": "INFO"}, stdout=log, stderr=log)
        started.append(proc)
        return proc

    for _ in range(count):
        start()
    try:
        yield start, started
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in started:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in files:
            log.close()


@contextlib.contextmanager
def queue(url: str) -> Iterator[Any]:
    db = Database(database_url(url))
    try:
        with opened(db) as app:
            yield app
    finally:
        db.close()


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def jobs(app: Any, company: str | None = None) -> list[dict[str, Any]]:
    return jobs_of(app, company)


def finished(app: Any, company: str, count: int = 1) -> bool:
    done = [j for j in jobs(app, company) if j["status"] in ("succeeded", "failed")]
    return len(done) >= count and all(j["status"] in ("succeeded", "failed") for j in jobs(app, company))


def outcome(state: Learning360State) -> list[tuple[Any, ...]]:
    """A 360Learning's users as the sync leaves them, ids aside: profile, groups, managers, values."""
    mail_of = {u.id: u.mail for u in state.users()}
    rows = []
    for user in state.users():
        groups = sorted((state.group(r.group_id).name, r.role) for r in state.roles_of_user(user.id))
        managers = sorted(str(mail_of.get(m)) for m in state.managers_of(user.id))
        values = sorted((str(v), ) for v in state.custom_values(user.id))
        rows.append((user.mail, user.first_name, user.last_name, user.job, user.status, tuple(groups),
                     tuple(managers), len(values)))
    return sorted(rows, key=repr)


def environ_without_credentials() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PERSONIO", "LEARNING360"))}
