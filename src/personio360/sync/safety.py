"""R13: the guards that stand between a Plan and 360Learning (pure)."""

from __future__ import annotations

__all__ = ["check_attributes", "check_snapshot", "hold_back_deletions"]

from dataclasses import replace

from personio360.config import Settings
from personio360.errors import RunStopped
from personio360.sync.operations import DeactivateUser, DeleteUser, Plan
from personio360.sync.scope import in_scope
from personio360.sync.snapshot import Snapshot


def check_snapshot(snapshot: Snapshot, settings: Settings) -> None:
    """R13a: Personio answered, but with no in-scope employee while users are managed: stop."""
    if snapshot.links and not any(in_scope(e, settings.groups) for e in snapshot.employees.values()):
        raise RunStopped(
            f"Personio returned no in-scope employee ({len(snapshot.employees)} employees read) "
            f"while {len(snapshot.links)} users are managed: the run stopped before any change",
            hint="check the Personio credentials' attribute whitelist and the [[groups]] filters; "
            "if everyone really left, disable the groups one by one",
        )


#: The default fields whose loss would change or skip everyone: R4 would clear every job
#: title, R9 every manager, R15 would skip every employee for a missing email.
DEFAULT_ATTRIBUTES = {"email": "the default fields (R2, R4)", "position": "the default fields (R4)",
                      "supervisor": "the managers (R9)"}


def check_attributes(snapshot: Snapshot, settings: Settings) -> None:
    """R13a: an attribute the sync relies on that no employee carries is unreadable, not empty.

    Personio leaves out what the credentials may not read (an unset value comes as null), so
    syncing on would clear that field for everyone (R4, R8, R9) or move everyone to the top
    group (R7). The attributes the config names count, and the default fields above.
    """
    if not snapshot.employees:
        return
    where = {**DEFAULT_ATTRIBUTES, **settings.attributes_named()}
    missing = sorted(
        key for key in where if key != "id"
        and not any(key in e.attributes for e in snapshot.employees.values())
    )
    if missing:
        names = ", ".join(f"{key} ({where[key]})" for key in missing)
        named = [key for key in missing if key in settings.attributes_named()]
        raise RunStopped(
            f"Personio returned no value at all for {names}: these credentials may no longer read "
            "it; the run stopped before any change",
            hint="in Personio, let the API credentials read " + ", ".join(missing)
            + (", or stop naming it in the config (personio360 check lists what is readable)"
               if named else ""),
        )


def hold_back_deletions(plan: Plan, *, allow_deletions: bool, already: int = 0,
                        window: str = "24h") -> Plan:
    """R13b: over the limit, every deletion is held back (reported, not applied) unless allowed.

    The limit is a budget over a sliding ``window`` (R17): ``already`` users were removed by
    the runs of that window, full or changes, so 50 terminations arriving one webhook at a time
    are held back once the budget is spent, as 50 in one run are, and approved the same way."""
    leavers = [op for op in plan.operations if isinstance(op, DeleteUser | DeactivateUser)]
    if allow_deletions or not leavers or already + len(leavers) <= plan.deletion_limit:
        return plan
    kept = tuple(op for op in plan.operations if not isinstance(op, DeleteUser | DeactivateUser))
    earlier = f", after {already} already removed in the last {window}" if already else ""
    note = (f"{len(leavers)} users would be removed{earlier}, more than the limit of "
            f"{plan.deletion_limit} per {window} (safety.max_deletions): held back; review them, "
            "then run sync --allow-deletions")
    return replace(plan, operations=kept, held_back=tuple(leavers), notes=(*plan.notes, note))
