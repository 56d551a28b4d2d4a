"""The deployment's PostgreSQL (issue 15) and the one place that scopes a company's state.

Isolation: each company's state lives in its own PostgreSQL schema (``company_<name>``), with
today's tables, repositories and Alembic migrations unchanged. ``company_state_url`` is the
only place that scopes a company: the URL it returns makes every connection of that company's
``Store`` start with ``search_path`` set to that schema alone (a libpq ``options`` parameter), so
every statement (ORM, Core, raw SQL, Alembic's own inspection and version table) resolves to the
company's tables, and a table missing there is an error, never another company's rows. The
registry and the queue live in the shared schema ``personio360``.

Why a schema per company rather than a ``company`` column on every table: the repositories, the
change feed and the migrations stay exactly as they are for single-company mode (SQLite), no
query can forget a ``WHERE company = ...``, a company is removed with one ``DROP SCHEMA``, and
the run lock (a schema-keyed advisory lock) is per company for free. ``schema_translate_map``
was the other candidate; it does not reach raw SQL nor Alembic's inspection of its version
table, where ``search_path`` does.
"""

from __future__ import annotations

__all__ = [
    "DATABASE_ENV",
    "SHARED_SCHEMA",
    "Database",
    "company_schema",
    "company_state_url",
    "database_url",
    "valid_company_name",
]

import contextlib
import os
import re
from collections.abc import Iterator, Mapping

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from personio360.errors import ConfigError, RunStopped
from personio360.http.redact import register_secret
from personio360.service.tables import SHARED

DATABASE_ENV = "PERSONIO360_DATABASE_URL"
#: the registry of companies and procrastinate's queue (``tables.SHARED``)
SHARED_SCHEMA = SHARED
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_UNREACHABLE_HINT = f"check {DATABASE_ENV} (or --database URL) and that PostgreSQL is running and reachable"


def valid_company_name(name: str) -> str:
    """A company's name: lower-case letters, digits and ``_``, starting with a letter (its schema's name)."""
    if not _NAME.match(name):
        raise ConfigError(f"{name!r} is not a usable company name",
                          hint="use lower-case letters, digits and _, starting with a letter (at most 40), "
                          "e.g. --name acme_france")
    return name


def company_schema(name: str) -> str:
    return f"company_{valid_company_name(name)}"


def database_url(option: str | None, environ: Mapping[str, str] | None = None) -> URL:
    """``--database URL``, else ``$PERSONIO360_DATABASE_URL``: a PostgreSQL URL, driven by psycopg 3."""
    env = environ if environ is not None else os.environ
    raw = option or env.get(DATABASE_ENV, "")
    if not raw:
        raise ConfigError("no multi-company database is named",
                          hint=f"set {DATABASE_ENV}=postgresql+psycopg://USER@HOST/DB or pass --database URL")
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError("the database URL is not a URL",
                          hint="use postgresql+psycopg://USER[:PASSWORD]@HOST[:PORT]/DATABASE") from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ConfigError(f"a multi-company deployment needs PostgreSQL, not {url.get_backend_name()}",
                          hint="use postgresql+psycopg://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
    if url.password:
        register_secret(str(url.password))
    return url.set(drivername="postgresql+psycopg")


def company_state_url(database: URL, name: str) -> str:
    """THE one place that scopes a company's state: its store's every connection sees its schema alone."""
    schema = company_schema(name)
    return database.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)


class Database:
    """The deployment's PostgreSQL, seen from the shared schema; unreachable: ``RunStopped`` (exit 3)."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.engine: Engine = create_engine(
            url.update_query_dict({"options": f"-csearch_path={SHARED_SCHEMA}"}),
            pool_pre_ping=True, pool_size=2, max_overflow=4)

    @property
    def libpq_url(self) -> str:
        """The same database for psycopg itself (procrastinate): no SQLAlchemy driver name."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction in the shared schema; a database that cannot be reached stops here, clearly."""
        with reachable(self.url), self.engine.begin() as connection:
            yield connection

    def ensure_schema(self, schema: str) -> None:
        with self.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))

    def drop_schema(self, schema: str) -> None:
        with self.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

    def close(self) -> None:
        self.engine.dispose()


@contextlib.contextmanager
def reachable(url: URL) -> Iterator[None]:
    """PostgreSQL unreachable (refused, unknown host, bad password): one clear ``RunStopped``."""
    try:
        yield
    except OperationalError as exc:
        raise RunStopped(f"cannot reach the deployment's PostgreSQL at {url.host or 'localhost'}:"
                         f"{url.port or 5432}/{url.database}: {_first_line(exc.orig)}",
                         hint=_UNREACHABLE_HINT) from None
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise RunStopped("the connection to the deployment's PostgreSQL was lost",
                             hint=_UNREACHABLE_HINT) from None
        raise


def _first_line(error: BaseException | None) -> str:
    return str(error).strip().splitlines()[0] if error is not None and str(error).strip() else "no answer"
