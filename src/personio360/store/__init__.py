"""The state store (SPEC §4): links, owned custom fields, runs; SQLAlchemy 2 + Alembic.

Nothing above ``store/`` sees a Session: callers use the repositories, and the executor
records an operation and its link change together through ``Store.transaction()``.
"""

from __future__ import annotations

__all__ = ["Store", "open_store"]

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from personio360.errors import ConfigError
from personio360.store.activation import ActivationRepository
from personio360.store.events import ChangeFeed
from personio360.store.links import LinkRepository
from personio360.store.lock import RunLock
from personio360.store.notices import NoticeRepository
from personio360.store.previews import StoredPreviews
from personio360.store.runs import RunRepository
from personio360.store.tallies import RunTallies
from personio360.store.writeback import WritebackCursors


class Store:
    """An opened, migrated state store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.links = LinkRepository(self.sessions)
        self.runs = RunRepository(self.sessions)
        self.activation = ActivationRepository(self.sessions)
        self.feed = ChangeFeed(self.sessions)
        self.notices = NoticeRepository(self.sessions)
        self.tallies = RunTallies(self.sessions)
        self.writeback = WritebackCursors(self.sessions)
        self.previews = StoredPreviews(self.sessions)  # a deployment's queued previews (issue 15)
        self.lock = RunLock(engine)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str) -> Store:
    """Open the store at ``url`` (any SQLAlchemy URL) and bring its schema to the newest migration."""
    try:
        engine = create_engine(url)
    except (ArgumentError, ImportError, ValueError) as exc:
        raise ConfigError(f"state.url {url!r} is not a usable database URL: {exc}",
                          hint="use e.g. sqlite:///personio360-test.db or postgresql+psycopg://...") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        database = engine.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.set_main_option("script_location", "personio360.store:migrations")
    try:
        with _one_migration_at_a_time(engine), engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_KEY})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise ConfigError(f"cannot open the state store {engine.url!r}: {exc.orig}",
                          hint="check state.url in the config and that the database is reachable") from None
    return Store(engine)


#: PostgreSQL advisory lock key of the migrations (the run lock has its own).
_MIGRATION_KEY = 360_360_361


@contextlib.contextmanager
def _one_migration_at_a_time(engine: Engine) -> Iterator[None]:
    """Two runs started together on a new store would both create its tables, and the second
    failed with "table ... already exists" (exit 2) instead of reaching the run lock (exit 4):
    a SQLite file's migrations take a blocking lock beside it (``<database>.migrate.lock``)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with (Path(database).parent / (Path(database).name + ".migrate.lock")).open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
