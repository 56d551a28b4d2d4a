"""One run at a time (R14, STYLE §7.4): a lock that a killed process can never leave behind.

SQLite: an OS file lock (``flock``) on ``<database>.lock``, released by the kernel when the
holder dies. PostgreSQL: a session advisory lock (authentik's choice), released when its
connection closes. Other databases: a ``run_lock`` row naming its holder (host and pid); a
row left by a dead process on this host is taken over.
"""

from __future__ import annotations

__all__ = ["RunLock"]

import contextlib
import datetime as dt
import fcntl
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from sqlalchemy import Engine, delete, insert, select, text
from sqlalchemy.exc import IntegrityError

from personio360.errors import RunLocked
from personio360.store.tables import LockRow

_ADVISORY_KEY = 360_360_360
_LOCKED_HINT = "wait for the other run to finish (personio360 runs shows it), then run again"
_memory_locks: dict[str, threading.Lock] = {}


class RunLock:
    """``with RunLock(engine).held(): ...`` or ``RunLocked`` (exit 4) when another run holds it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        dialect = self.engine.dialect.name
        database = self.engine.url.database
        if dialect == "sqlite" and database and database != ":memory:":
            with _file_lock(Path(database).with_suffix(Path(database).suffix + ".lock")):
                yield
        elif dialect == "sqlite":
            with _memory_lock(str(self.engine.url)):
                yield
        elif dialect == "postgresql":
            with self._advisory():
                yield
        else:
            with self._row():
                yield

    @contextlib.contextmanager
    def _advisory(self) -> Iterator[None]:
        with self.engine.connect() as conn:
            # keyed by the schema too: each company of a multi-company deployment (issue 15) has
            # its own schema, so its own run lock; a single store's schema is one constant key
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k, hashtext(current_schema()))"),
                               {"k": _ADVISORY_KEY}).scalar()
            if not got:
                raise RunLocked(
                    "another personio360 run is in progress on this state store", hint=_LOCKED_HINT
                )
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k, hashtext(current_schema()))"),
                             {"k": _ADVISORY_KEY})
                conn.commit()

    @contextlib.contextmanager
    def _row(self) -> Iterator[None]:
        holder = f"{socket.gethostname()}:{os.getpid()}"
        with self.engine.begin() as conn:
            row = conn.execute(select(LockRow).where(LockRow.name == "run")).first()
            if row is not None and _is_dead(row.holder):
                conn.execute(delete(LockRow).where(LockRow.name == "run"))
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(LockRow).values(name="run", holder=holder, acquired_at=dt.datetime.now(dt.UTC))
                )
        except IntegrityError:
            raise RunLocked(
                "another personio360 run is in progress on this state store", hint=_LOCKED_HINT
            ) from None
        try:
            yield
        finally:
            with self.engine.begin() as conn:
                conn.execute(delete(LockRow).where(LockRow.holder == holder))


def _is_dead(holder: str) -> bool:
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    handle: IO[str] = path.open("a")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLocked(
                f"another personio360 run is in progress on this state store ({path.with_suffix('')})",
                hint=_LOCKED_HINT,
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


@contextlib.contextmanager
def _memory_lock(key: str) -> Iterator[None]:
    lock = _memory_locks.setdefault(key, threading.Lock())
    if not lock.acquire(blocking=False):
        raise RunLocked("another personio360 run is in progress in this process", hint=_LOCKED_HINT)
    try:
        yield
    finally:
        lock.release()
