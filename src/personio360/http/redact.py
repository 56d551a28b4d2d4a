"""The one redaction helper: secrets and tokens never reach a log, a record or an error (R16).

Known secrets are registered at start-up (the credentials, and every token as it is
issued); anything that looks like a bearer token is masked too.
"""

from __future__ import annotations

__all__ = ["LIBRARY_LOGGERS", "RedactingFilter", "mask", "redact", "register_secret", "structlog_processor"]

import logging
import re
import threading
from collections.abc import MutableMapping
from typing import Any

_lock = threading.Lock()
_secrets: set[str] = set()
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_PAPI = re.compile(r"papi-[A-Za-z0-9._-]+")
_REPLACEMENT = "[redacted]"


def register_secret(value: str | None) -> None:
    """Remember a secret so that ``redact`` removes it wherever it appears."""
    if value and len(value) >= 8:  # shorter strings are words, not secrets: never mask them
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret and bearer token replaced by ``[redacted]``."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, _REPLACEMENT)
    text = _BEARER.sub(lambda m: m.group(1) + _REPLACEMENT, text)
    return _PAPI.sub(_REPLACEMENT, text)


def mask(value: str | None) -> str:
    """Show enough of an identifier (a client id) to recognise it, never the whole of it."""
    if not value:
        return "(not set)"
    if len(value) <= 8:
        return value[:2] + "…"
    return f"{value[:4]}…{value[-4:]}"


def structlog_processor(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact every string value of an event."""
    for key, value in list(event.items()):
        if isinstance(value, str):
            event[key] = redact(value)
    return event


class RedactingFilter(logging.Filter):
    """Redacts a library's log record before any handler sees it (R16).

    httpcore logs whole response headers at DEBUG, and Personio echoes the bearer token in an
    ``Authorization`` response header (research §2.2): without this, ``PERSONIO360_LOG_LEVEL=DEBUG``
    printed the token.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


#: The loggers of the HTTP stack; a logger's filters apply to the records it creates itself,
#: so each one that logs gets the filter (httpcore names one logger per module).
LIBRARY_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2",
                   "httpcore.proxy", "httpcore.socks")
_FILTER = RedactingFilter()
for _name in LIBRARY_LOGGERS:
    logging.getLogger(_name).addFilter(_FILTER)
