"""The call budget and the floor of a sync: what the published limits allow, per call kind (issue 5).

The floor is the shortest time the rate limits let a sync make the calls it made. Each limit
is a token bucket (the emulators' model of the published limits, ``docs/emulators.md``): it
starts full, holds ``burst`` calls and refills at ``rate`` per second, so ``n`` calls need at
least ``(n - burst) / rate`` seconds. Limits of different call kinds run side by side, so
the floor of a run is the largest of them: a sync at 1.0x its floor keeps its busiest
limit busy from start to end. Every limit is multiplied by ``factor`` (the benchmarks' time
compression, the same factor the emulators and the client's pacing use).

``no_change_reads`` is the written budget of ``benchmarks/README.md`` as a formula over a
company's sizes: the reads a no-change sync cannot do without.
"""

from __future__ import annotations

__all__ = ["LIMITS", "Bucket", "Counts", "floor", "limit_seconds", "no_change_reads", "pages",
           "sequential_floor"]

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bucket:
    """``rate`` calls per second, ``burst`` at once (the bucket's size)."""

    rate: float
    burst: float


#: The published limits (shared/api/360learning.md "Rate limits", personio.md "Rate limits").
LIMITS: Mapping[str, tuple[Bucket, ...]] = {
    "360 reads": (Bucket(50, 50),),  # 50 GET requests/s per company
    "360 writes": (Bucket(10, 10),),  # 10 write requests/s per company
    "Personio list": (Bucket(15, 15), Bucket(5, 300)),  # 300/min, bursts of 15/s
}


def limit_seconds(calls: int, buckets: tuple[Bucket, ...], factor: float = 1.0) -> float:
    """The least time ``calls`` take through every bucket of one limit."""
    return max(max(0.0, calls - b.burst * factor) / (b.rate * factor) for b in buckets)


def floor(calls: Mapping[str, int], factor: float = 1.0) -> tuple[float, str]:
    """The floor of a run that made ``calls`` (by limit name) and the limit that sets it."""
    seconds = {name: limit_seconds(calls.get(name, 0), LIMITS[name], factor) for name in LIMITS}
    binding = max(seconds, key=lambda name: seconds[name])
    return seconds[binding], binding


def sequential_floor(calls: Mapping[str, int], factor: float = 1.0) -> float:
    """The floor if no write may start before the last read: reads (both services), then writes.

    That is how ``run_sync`` works today (it plans after every read); the strict ``floor``
    is what a sync that overlaps them could reach.
    """
    reads = max(limit_seconds(calls.get(name, 0), LIMITS[name], factor)
                for name in ("360 reads", "Personio list"))
    return reads + limit_seconds(calls.get("360 writes", 0), LIMITS["360 writes"], factor)


def pages(items: int, size: int) -> int:
    """List calls for ``items`` at ``size`` a page: an empty list still takes one call."""
    return max(1, math.ceil(items / size))


@dataclass(frozen=True, slots=True)
class Counts:
    """The sizes a sync's reads depend on (from the emulators' states)."""

    employees: int  # Personio employees the credentials read
    users: int  # 360Learning users the list returns (deleted ones included)
    groups: int  # 360Learning groups
    hierarchy_roles: tuple[int, ...]  # roles in each group of the synced hierarchies
    mappings: int  # external-ID mappings of the platform
    custom_fields: int | None  # custom field definitions; None: no custom field is synced
    followed: int  # linked, in-scope employees whose user is alive (+ users adopted this run)


def no_change_reads(c: Counts) -> dict[str, int]:
    """The budget of a no-change sync, by endpoint: page-sized lists plus two reads per user.

    Per user, ``GET /users/{id}/managers`` (R9) and ``GET /users/{id}/custom-fields/values``
    (R8) are the only sources of a user's managers and custom values: no list carries them.
    R10 reads the connector admin by mail and its roles (two calls).
    """
    budget = {
        "GET /v1/company/employees": pages(c.employees, 100),
        "GET /api/v2/users": pages(c.users, 500) + 1,  # + R10: the admin by mail
        "GET /api/v2/users/{userId}/roles": 1,  # R10: the admin's roles
        "GET /api/v2/groups": pages(c.groups, 500),
        "GET /api/v2/groups/{groupId}/roles": sum(pages(n, 1000) for n in c.hierarchy_roles),
        "GET /api/v2/external-ids": pages(c.mappings, 5000),
        "GET /api/v2/users/{userId}/managers": c.followed,
    }
    if c.custom_fields is not None:
        budget["GET /api/v2/custom-fields"] = pages(c.custom_fields, 1000)
        budget["GET /api/v2/users/{userId}/custom-fields/values"] = c.followed
    return budget
