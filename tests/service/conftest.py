"""A real PostgreSQL for the multi-company tests (issue 15), and companies made from Sandboxes.

The machine provides PostgreSQL at 127.0.0.1:5432 (trust authentication, database ``test``;
``$PERSONIO360_TEST_POSTGRES`` names another). Each test session gets a fresh database, dropped
at the end. Without a PostgreSQL listening, these tests are skipped, and the test summary says so.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import stamina

from personio360.emulators.sandbox import Sandbox
from personio360.service.sealing import new_key
from skips import say_skipped

ADMIN_URL = os.environ.get("PERSONIO360_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SKIP_PREFIX = "PostgreSQL tests skipped: "


def _postgres_missing() -> str | None:
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"no PostgreSQL answered at {ADMIN_URL} ({str(exc).strip().splitlines()[0]})"
    return None


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say plainly, at the end of ``make test``, that the PostgreSQL tests did not run and why."""
    say_skipped(terminalreporter, SKIP_PREFIX, "multi-company PostgreSQL tests skipped",
                "The tests of tests/service did not run: {reason}; "
                ".ci/run starts one from Debian's postgresql package.")


@pytest.fixture(scope="session")
def _database() -> Iterator[str]:
    reason = _postgres_missing()
    if reason:
        pytest.skip(f"{SKIP_PREFIX}{reason}")
    name = f"p360_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(_database: str) -> Iterator[str]:
    """The session's fresh database, emptied of companies and jobs after each test."""
    yield _database
    with psycopg.connect(_database.replace("+psycopg", ""), autocommit=True) as conn:
        schemas = [r[0] for r in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'company\\_%' OR nspname = 'personio360'")]
        for schema in schemas:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(autouse=True)
def _stamina_testing() -> Iterator[None]:
    stamina.set_testing(True, attempts=3)
    yield
    stamina.set_testing(False)


@dataclass
class CompanyFiles:
    """One company's emulators, its config (no ``[state]``) and its secrets file."""

    sandbox: Sandbox
    config: Path
    secrets: Path


@pytest.fixture
def secret_key() -> str:
    return new_key()


@pytest.fixture
def deployment_env(database_url: str, secret_key: str) -> dict[str, str]:
    """The environment of a deployment's commands and workers (no credentials of any company)."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("PERSONIO", "LEARNING360"))}
    return {**keep, "PERSONIO360_DATABASE_URL": database_url, "PERSONIO360_SECRET_KEY": secret_key}


@pytest.fixture
def make_company(tmp_path: Path) -> Iterator[Any]:
    """Start a Sandbox and write the company's files: ``make_company("acme", size=10, ...)``."""
    with contextlib.ExitStack() as stack:

        def make(name: str, **options: Any) -> CompanyFiles:
            directory = tmp_path / name
            options.setdefault("size", 10)
            options.setdefault("rate_limits", False)
            sb = stack.enter_context(Sandbox(directory, **options))
            text = sb.config_path.read_text(encoding="utf-8")
            head, _, tail = text.partition("[state]")
            config = directory / f"{name}.toml"
            config.write_text(head + "\n".join(tail.splitlines()[2:]), encoding="utf-8")
            secrets_file = directory / f"{name}.env"
            secrets_file.write_text((directory / ".env").read_text(encoding="utf-8"), encoding="utf-8")
            (directory / ".env").unlink()  # no .env beside: the deployment holds the secrets
            return CompanyFiles(sb, config, secrets_file)

        yield make
