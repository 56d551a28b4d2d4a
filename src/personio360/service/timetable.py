"""When each company's periodic jobs fall due (issue 15): its own intervals, spread by a stable offset.

Every company's slots are ``k * every + offset`` (epoch-aligned), the offset a stable hash of its
name within the interval: 500 companies with ``every = "1h"`` spread over the hour instead of
all starting at its top, and a restarted worker finds the same slots. A company never synced
is due at once (as ``Timetable`` runs its first full sync at once in single-company mode).
"""

from __future__ import annotations

__all__ = ["Due", "due_jobs", "next_slot", "offset_of"]

import datetime as dt
import hashlib
from dataclasses import dataclass

_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def offset_of(name: str, every: dt.timedelta) -> dt.timedelta:
    """A stable offset within ``every`` for the company ``name`` (the same on every worker)."""
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return dt.timedelta(seconds=digest % max(1, int(every.total_seconds())))


def next_slot(after: dt.datetime, every: dt.timedelta, offset: dt.timedelta) -> dt.datetime:
    """The first slot ``_EPOCH + offset + k * every`` strictly after ``after``."""
    step = every.total_seconds()
    passed = (after - _EPOCH - offset).total_seconds()
    return _EPOCH + offset + dt.timedelta(seconds=(passed // step + 1) * step)


@dataclass(frozen=True, slots=True)
class Due:
    """What a tick defers for one company, and when its next ones fall due."""

    full: bool
    changes: bool
    next_full_at: dt.datetime
    next_poll_at: dt.datetime | None


def due_jobs(name: str, now: dt.datetime, *, full_every: dt.timedelta, poll_every: dt.timedelta | None,
             next_full_at: dt.datetime | None, next_poll_at: dt.datetime | None) -> Due:
    """Pure: which of the company's periodic jobs are due at ``now``; none twice for one slot."""
    full = next_full_at is None or next_full_at <= now
    changes = poll_every is not None and not full and (next_poll_at is None or next_poll_at <= now)
    new_full = next_slot(now, full_every, offset_of(name, full_every)) if full else next_full_at
    assert new_full is not None
    new_poll = None
    if poll_every is not None:
        new_poll = next_slot(now, poll_every, offset_of(name, poll_every)) \
            if full or changes or next_poll_at is None else next_poll_at
    return Due(full, changes, new_full, new_poll)
