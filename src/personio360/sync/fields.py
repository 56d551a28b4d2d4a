"""R4 and R8: render Personio values as 360Learning text, and compare them the way the rules say."""

from __future__ import annotations

__all__ = ["EMAIL", "MEMO_LIMIT", "clean_email", "fold", "raw_key", "render", "same_text"]

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence

from personio360.domain import AttributeValue

#: How many distinct values a plan remembers what it decided for (R1 filters, R7 targets, R4
#: and R8 texts): company-wide values repeat (a few hundred), an attribute unique to each
#: employee would only fill memory.
MEMO_LIMIT = 10_000

EMAIL = re.compile(r"^[^@\s,;<>()\[\]\\\"]+@[^@\s,;<>()\[\]\\\"]+\.[^@\s,;<>()\[\]\\\".]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def render(value: AttributeValue) -> str | None:  # noqa: PLR0911 (one return per value kind)
    """R8: objects by their name (the client already gives names), lists joined with ", ",
    dates as YYYY-MM-DD; empty values are ``None`` (they clear the field)."""
    if value is None:
        return None
    if type(value) is str and value.isprintable() and "  " not in value:
        return value.strip() or None  # the common case, without the regular expressions
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        parts = [p for p in (render(v) for v in value) if p]
        return ", ".join(parts) or None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = _CONTROL.sub(" ", str(value)).strip()
    text = re.sub(r"\s{2,}", " ", text)
    return text or None


def raw_key(attributes: Mapping[str, AttributeValue], names: Sequence[str]) -> tuple[object, ...]:
    """The values of ``names`` as a key of what was decided for them (R1 filters, R7 levels,
    R8 values, SPEC §6): numbers and booleans with their type (``1 == 1.0 == True`` render
    differently)."""
    if not names:
        return ()
    values = tuple(map(attributes.get, names))
    for value in values:
        if value is not None and type(value) is not str:
            return tuple([v if v is None or type(v) is str else (type(v), v) for v in values])
    return values


def fold(text: str) -> str:
    """The comparison key of ``same_text``: NFC, trimmed, case-folded."""
    return _fold(text)


def same_text(a: str | None, b: str | None) -> bool:
    """R7 and filters: equal once trimmed and compared case-insensitively (NFC)."""
    if a is None or b is None:
        return a is None and b is None
    return _fold(a) == _fold(b)


@functools.lru_cache(maxsize=65536)
def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().casefold()


def clean_email(value: str | None) -> str | None:
    """The employee's email, trimmed and lower-cased (R2 matching); ``None`` if missing or invalid."""
    if value is None:
        return None
    text = value.strip()
    if not text.islower():  # an already lower-case email is kept, not copied (SPEC §6)
        text = text.lower()
    return text if EMAIL.match(text) else None
