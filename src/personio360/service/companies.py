"""The registry of companies (issue 15): each company's config, its sealed credentials, its timetable.

A company is today's whole config (without ``[state]``: its state is its own schema, see
``database.py``) and its own ``.env`` lines, sealed (``sealing.py``). ``Registry.target`` turns a
name into what every command and task needs: the company's ``Settings`` (its store URL scoped to
its schema), its secrets as the environment the composition root reads, and its name.
"""

from __future__ import annotations

__all__ = ["REQUIRED_SECRETS", "Company", "CompanyTarget", "Registry"]

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from dotenv import dotenv_values
from sqlalchemy import RowMapping, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from personio360.config import Settings, StateSettings, load_config, load_config_text
from personio360.errors import ConfigError, ConfigProblem
from personio360.http.redact import register_secret
from personio360.service.database import Database, company_schema, company_state_url, valid_company_name
from personio360.service.sealing import Sealer
from personio360.service.tables import companies
from personio360.store import Store, open_store

#: what a company's ``--secrets`` file must hold (the four credentials, as a ``.env`` does today)
REQUIRED_SECRETS = ("PERSONIO_CLIENT_ID", "PERSONIO_CLIENT_SECRET", "LEARNING360_CLIENT_ID",
                    "LEARNING360_CLIENT_SECRET")
_STATE = re.compile(r"^\s*\[\s*state\s*\]")
_MIGRATION_KEY = 360_360_362


@dataclass(frozen=True, slots=True)
class Company:
    """A registered company as listed: never its secrets, only their names."""

    name: str
    config_file: str
    environment: str
    personio_company_id: str | None
    secret_names: tuple[str, ...]
    added_at: dt.datetime
    next_full_at: dt.datetime | None
    next_poll_at: dt.datetime | None


@dataclass(frozen=True)
class CompanyTarget:
    """A company opened for a command or a job: its settings, scoped store URL and secrets."""

    name: str
    settings: Settings
    environ: Mapping[str, str]

    def __repr__(self) -> str:
        return f"CompanyTarget({self.name!r}, [secure])"


class Registry:
    """The companies of one deployment, in the shared schema of its PostgreSQL."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._migrated = False

    def migrate(self) -> None:
        """The shared schema brought to its newest migration (once per process, under a lock)."""
        if self._migrated:
            return
        self.database.ensure_schema(companies.schema or "")
        config = Config()
        config.set_main_option("script_location", "personio360.service:migrations")
        with self.database.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_KEY})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        self._migrated = True

    # --- adding, listing, removing -------------------------------------------------------

    def add(self, file: Path, secrets_file: Path | None, sealer: Sealer, *, name: str | None = None,
            now: dt.datetime | None = None) -> Company:
        """Validate the config (errors name key and line) and the secrets, then register the
        company and create its schema; a problem leaves nothing behind."""
        name = valid_company_name(name) if name else _name_of(file)
        settings = load_config(file)
        text_ = file.read_text(encoding="utf-8")
        _refuse_state(text_, file)
        secrets = _read_secrets(secrets_file)
        for value in secrets.values():
            register_secret(value)
        self.migrate()
        hooks = settings.webhooks
        row = {
            "name": name, "config_file": str(file), "config_toml": text_,
            "secrets": sealer.seal(name, secrets), "secret_names": json.dumps(sorted(secrets)),
            "environment": settings.environment,
            "personio_company_id": hooks.personio_company_id if hooks else None,
            "added_at": now or dt.datetime.now(dt.UTC),
        }
        try:
            with self.database.begin() as connection:
                connection.execute(insert(companies).values(**row))
        except IntegrityError:
            raise ConfigError(f"a company named {name!r} or with Personio company_id "
                              f"{hooks.personio_company_id if hooks else None} is already registered",
                              hint="choose another --name, or personio360 companies remove NAME first"
                              ) from None
        try:
            self.database.ensure_schema(company_schema(name))
            self._open_store(name).close()  # its tables, migrated as any store's
        except BaseException:
            self.remove(name)
            raise
        return self.get(name)

    def list(self) -> list[Company]:
        self.migrate()
        with self.database.begin() as connection:
            rows = connection.execute(select(companies).order_by(companies.c.name)).mappings().all()
        return [_company(row) for row in rows]

    def get(self, name: str) -> Company:
        """The company named ``name``, else a ``ConfigError`` listing the way to find the names."""
        self.migrate()
        with self.database.begin() as connection:
            row = connection.execute(select(companies).where(companies.c.name == name)).mappings().first()
        if row is None:
            raise ConfigError(f"no company named {name!r} in this deployment",
                              hint="personio360 companies list shows them; companies add FILE adds one")
        return _company(row)

    def remove(self, name: str) -> None:
        """The company and its whole state (its schema) removed."""
        self.migrate()
        with self.database.begin() as connection:
            connection.execute(delete(companies).where(companies.c.name == name))
        self.database.drop_schema(company_schema(name))

    def by_personio_company(self, company_id: str) -> str | None:
        """The company whose ``[webhooks] personio_company_id`` is ``company_id`` (webhook routing)."""
        self.migrate()
        with self.database.begin() as connection:
            return connection.execute(select(companies.c.name).where(
                companies.c.personio_company_id == company_id)).scalar()

    # --- opening one company --------------------------------------------------------------

    def target(self, name: str, sealer: Sealer) -> CompanyTarget:
        """The company's settings (store scoped to its schema) and its opened secrets."""
        self.migrate()
        with self.database.begin() as connection:
            row = connection.execute(select(companies).where(companies.c.name == name)).mappings().first()
        if row is None:
            self.get(name)  # raises the unknown-company error
        assert row is not None
        secrets = sealer.open(name, row["secrets"])
        for value in secrets.values():
            register_secret(value)
        settings = load_config_text(row["config_toml"], Path(f"{row['config_file']} (company {name})"),
                                    stored=True)
        state = StateSettings(url=company_state_url(self.database.url, name))
        return CompanyTarget(name, settings.model_copy(update={"state": state}), secrets)

    def settings_of(self, name: str) -> Settings:
        """The company's settings alone (its intervals), its secrets left sealed."""
        with self.database.begin() as connection:
            row = connection.execute(select(companies.c.config_toml, companies.c.config_file).where(
                companies.c.name == name)).first()
        if row is None:
            self.get(name)
        assert row is not None
        return load_config_text(row.config_toml, Path(f"{row.config_file} (company {name})"), stored=True)

    def _open_store(self, name: str) -> Store:
        return open_store(company_state_url(self.database.url, name))

    # --- the timetable (tasks.tick) -------------------------------------------------------

    def set_next(self, name: str, *, full: dt.datetime | None = None,
                 poll: dt.datetime | None = None) -> None:
        values = {k: v for k, v in (("next_full_at", full), ("next_poll_at", poll)) if v is not None}
        if values:
            with self.database.begin() as connection:
                connection.execute(update(companies).where(companies.c.name == name).values(**values))


def _name_of(file: Path) -> str:
    """NAME defaults to the file's stem, lower-cased, anything else than letters and digits as ``_``."""
    stem = re.sub(r"[^a-z0-9]+", "_", file.stem.lower()).strip("_")
    return valid_company_name(stem if stem[:1].isalpha() else f"c_{stem}")


def _refuse_state(text_: str, file: Path) -> None:
    for number, line in enumerate(text_.splitlines(), start=1):
        if _STATE.match(line):
            raise ConfigError(f"the config file {file} has 1 problem:", problems=(ConfigProblem(
                "state", "a company's state is kept by the deployment: remove [state]", number, str(file)),),
                hint="delete the [state] table; the deployment's PostgreSQL holds each company's state")


def _read_secrets(file: Path | None) -> dict[str, str]:
    """The company's ``.env`` lines (never printed); the four credentials must be there."""
    if file is None:
        raise ConfigError("a company needs its credentials: --secrets ENVFILE",
                          hint=f"write {', '.join(REQUIRED_SECRETS)} in a file (VAR=value lines) "
                          "and pass --secrets FILE")
    if not file.is_file():
        raise ConfigError(f"no secrets file at {file}",
                          hint="pass --secrets ENVFILE, a file of VAR=value lines")
    values = {k: v for k, v in dotenv_values(file).items() if v}
    missing = [var for var in REQUIRED_SECRETS if var not in values]
    if missing:
        raise ConfigError(f"the secrets file {file} lacks {', '.join(missing)}",
                          hint="add each as VAR=value (one a line), as a .env holds them today")
    return values


def _company(row: RowMapping) -> Company:
    return Company(
        name=row["name"], config_file=row["config_file"], environment=row["environment"],
        personio_company_id=row["personio_company_id"], secret_names=tuple(json.loads(row["secret_names"])),
        added_at=row["added_at"], next_full_at=row["next_full_at"], next_poll_at=row["next_poll_at"])
