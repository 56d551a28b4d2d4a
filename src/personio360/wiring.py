"""The composition root: builds the clients and the store from Settings (and nothing else does)."""

from __future__ import annotations

__all__ = ["Context", "open_context", "open_store_only"]

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from personio360.config import Settings, load_credentials
from personio360.http.redact import register_secret
from personio360.learning360 import Learning360Client
from personio360.personio import PersonioClient
from personio360.store import Store, open_store


@dataclass
class Context:
    """Everything one command needs: settings, both clients and the state store."""

    settings: Settings
    personio: PersonioClient
    lms: Learning360Client
    store: Store


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
    )
    lms = Learning360Client.connect(
        settings.learning360.base_url,
        creds.learning360_client_id.get_secret_value(),
        creds.learning360_client_secret.get_secret_value(),
        rate_limit_factor=rate_limit_factor,
    )
    try:
        yield Context(settings, personio, lms, store)
    finally:
        lms.close()
        personio.close()
        store.close()


def open_store_only(settings: Settings) -> Store:
    """The store alone, for commands that read history (``runs``) and need no credentials."""
    return open_store(settings.state_url)
