"""Credentials sealed at rest (issue 15): AES-256-GCM under ``PERSONIO360_SECRET_KEY``.

Each company's secrets (its ``.env`` lines) are sealed as one JSON object, with the company's
name as associated data: a sealed value copied onto another company does not open, and a wrong
key opens nothing (the authentication tag fails before any byte is returned). The key is 32
random bytes, URL-safe base64 (``personio360 companies new-key`` prints one).
"""

from __future__ import annotations

__all__ = ["SECRET_KEY_ENV", "Sealer", "new_key"]

import base64
import binascii
import json
import os
import secrets
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from personio360.errors import ConfigError

SECRET_KEY_ENV = "PERSONIO360_SECRET_KEY"
_VERSION = b"p360v1"
_NONCE = 12


def new_key() -> str:
    """A fresh key for ``PERSONIO360_SECRET_KEY``."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


class Sealer:
    """Seals and opens one company's secrets; never holds them, never prints the key."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "Sealer([secure])"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Sealer:
        raw = (environ if environ is not None else os.environ).get(SECRET_KEY_ENV, "").strip()
        if not raw:
            raise ConfigError(f"{SECRET_KEY_ENV} is not set: the companies' credentials cannot be sealed "
                              "or opened", hint=f"set {SECRET_KEY_ENV} to the deployment's key "
                              "(a new deployment: personio360 companies new-key prints one)")
        try:
            key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise ConfigError(f"{SECRET_KEY_ENV} is not a key (32 bytes, URL-safe base64)",
                              hint="personio360 companies new-key prints one")
        return cls(key)

    def seal(self, company: str, values: Mapping[str, str]) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        plain = json.dumps(dict(values), sort_keys=True).encode()
        return _VERSION + nonce + self._aead.encrypt(nonce, plain, _aad(company))

    def open(self, company: str, sealed: bytes) -> dict[str, str]:
        """The company's secrets, or ``ConfigError`` naming the company: nothing is decrypted."""
        if not sealed.startswith(_VERSION):
            raise ConfigError(f"the stored credentials of company {company!r} are not sealed by this version")
        body = sealed[len(_VERSION):]
        try:
            plain = self._aead.decrypt(body[:_NONCE], body[_NONCE:], _aad(company))
        except InvalidTag:
            raise ConfigError(f"the credentials of company {company!r} do not open with this "
                              f"{SECRET_KEY_ENV}", hint=f"set {SECRET_KEY_ENV} to the key the company was "
                              "added with; nothing was decrypted or changed") from None
        values = json.loads(plain)
        return {str(k): str(v) for k, v in values.items()}


def _aad(company: str) -> bytes:
    return f"personio360 company {company}".encode()
