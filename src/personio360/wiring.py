"""The composition root: builds the clients and the store from Settings (and nothing else does).

Personio's per-IP limit (2,000 v1 calls a minute, ``http/ratelimit.py``) is one budget for a
whole deployment, not per company: a worker installs the deployment's shared budget once at
start-up (``share_personio_budget``, from ``service/worker.py``), and every Personio v1 client
``open_context`` builds from then on (the reader and R18's writer) counts its every call
against it, on top of its own per-endpoint pacing. Nothing is installed in single-company mode.
"""

from __future__ import annotations

__all__ = ["Context", "Target", "load_target", "open_context", "open_store_only", "personio_budget",
           "share_personio_budget"]

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from personio360.config import Settings, load_config, load_credentials, load_write_credentials
from personio360.errors import ConfigError
from personio360.http.ratelimit import Pacer
from personio360.http.redact import register_secret
from personio360.learning360 import Learning360Client
from personio360.personio import PersonioClient
from personio360.personio.writer import PersonioWriter
from personio360.store import Store, open_store

#: the deployment's Personio v1 budget, when this process is one of its workers (None: none)
_personio_budget: Pacer | None = None


def share_personio_budget(budget: Pacer | None) -> None:
    """From now on, every Personio client ``open_context`` builds in this process also counts
    its calls against ``budget`` (``None``: no longer)."""
    global _personio_budget  # noqa: PLW0603 (one per process: installed by the worker at start-up)
    _personio_budget = budget


def personio_budget() -> Pacer | None:
    """The installed deployment budget, if any."""
    return _personio_budget


@dataclass
class Context:
    """Everything one command needs: settings, both clients and the state store."""

    settings: Settings
    personio: PersonioClient
    lms: Learning360Client
    store: Store
    #: R18: the Personio client of the write credential (``None``: write-back off, or its
    #: credential missing: ``writer_missing`` says why; ``check`` reports it, ``sync`` stops)
    writer: PersonioWriter | None = None
    writer_missing: ConfigError | None = None


@dataclass(frozen=True)
class Target:
    """What a command works on: a config file's settings (single-company mode: the process's
    environment and ``.env`` hold the secrets), or one company of a deployment (issue 15)."""

    settings: Settings
    environ: Mapping[str, str] | None = field(default=None, repr=False)
    company: str | None = None


def load_target(config: str | None, *, company: str | None = None, database: str | None = None) -> Target:
    """THE one place a command's ``--config`` or ``--company NAME`` (with ``--database URL`` or
    ``$PERSONIO360_DATABASE_URL``) becomes its settings and secrets; a company's store is scoped to
    that company alone (``service.database.company_state_url``)."""
    if company is None:
        return Target(load_config(config))
    if config:
        raise ConfigError("--config and --company cannot be combined",
                          hint="a company's config is stored in the deployment: pass --company NAME alone")
    from personio360.service.companies import Registry  # noqa: PLC0415 (multi-company mode only)
    from personio360.service.database import Database, database_url  # noqa: PLC0415
    from personio360.service.sealing import Sealer  # noqa: PLC0415

    sealer = Sealer.from_environ()
    db = Database(database_url(database))
    try:
        opened = Registry(db).target(company, sealer)
    finally:
        db.close()
    return Target(opened.settings, opened.environ, opened.name)


@contextlib.contextmanager
def open_context(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    rate_limit_factor: float = 1.0,
) -> Iterator[Context]:
    """Credentials (env/.env), both clients and the store; all closed on exit."""
    creds = load_credentials(settings, environ)
    for secret in (creds.personio_client_secret, creds.learning360_client_secret):
        register_secret(secret.get_secret_value())
    store = open_store(settings.state_url)
    personio = PersonioClient.connect(
        settings.personio.base_url,
        creds.personio_client_id.get_secret_value(),
        creds.personio_client_secret.get_secret_value(),
        rate_limit_factor=rate_limit_factor,
        partner_id=settings.personio.partner_id,
        app_id=settings.personio.app_id,
        shared_limit=_personio_budget,
    )
    lms = Learning360Client.connect(
        settings.learning360.base_url,
        creds.learning360_client_id.get_secret_value(),
        creds.learning360_client_secret.get_secret_value(),
        rate_limit_factor=rate_limit_factor,
    )
    writer, missing = _writer(settings, environ, rate_limit_factor)
    try:
        yield Context(settings, personio, lms, store, writer, missing)
    finally:
        if writer is not None:
            writer.close()
        lms.close()
        personio.close()
        store.close()


def _writer(settings: Settings, environ: Mapping[str, str] | None,
            rate_limit_factor: float) -> tuple[PersonioWriter | None, ConfigError | None]:
    """R18's writer, from its own credential (never the read one), when write-back is on."""
    try:
        creds = load_write_credentials(settings, environ)
    except ConfigError as exc:
        return None, exc
    if creds is None:
        return None, None
    register_secret(creds.client_secret.get_secret_value())
    return PersonioWriter.connect(
        settings.personio.base_url, creds.client_id.get_secret_value(),
        creds.client_secret.get_secret_value(), rate_limit_factor=rate_limit_factor,
        partner_id=settings.personio.partner_id, app_id=settings.personio.app_id,
        shared_limit=_personio_budget), None


def open_store_only(settings: Settings) -> Store:
    """The store alone, for commands that read history (``runs``) and need no credentials."""
    return open_store(settings.state_url)
