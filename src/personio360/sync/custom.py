"""R8: the synced custom fields (which exist, which to create) and each user's values.

The store remembers which 360Learning field the connector owns for each configured name
(SPEC §4), which is how a renamed field is told apart from a deleted one: a renamed owned
field stays in 360Learning but loses its values on synced users, and a new field with the
configured name is created; a deleted one is recreated. Fields the connector does not sync
keep their values: the PUT (which replaces the whole list) carries them unchanged.
"""

from __future__ import annotations

__all__ = ["NEW", "ValuesContext", "plan_fields", "plan_values", "values_context"]

import datetime as dt
from collections.abc import Iterable
from typing import NamedTuple

from personio360.config import Settings
from personio360.domain import CustomField, CustomValue, Employee
from personio360.sync.fields import MEMO_LIMIT, raw_key, render, same_text
from personio360.sync.operations import CreateCustomField, FieldChange, SetCustomValues
from personio360.sync.snapshot import Snapshot

NEW = "new:"


def plan_fields(
    snapshot: Snapshot, settings: Settings
) -> tuple[list[CreateCustomField], dict[str, str | None]]:
    """Ops that make each configured field exist, and each configured name's field id (None = created now)."""
    ops: list[CreateCustomField] = []
    ids: dict[str, str | None] = {}
    live = {f.id: f for f in snapshot.custom_fields if f.target_type == "users"}
    for attribute, name in sorted(settings.custom_fields.items()):
        owned = [
            fid
            for fid, n in snapshot.owned_fields.items()
            if n == name and fid in live and same_text(live[fid].name, name)
        ]
        if owned:
            ids[name] = owned[-1]
            continue
        existing = next(
            (f for f in sorted(live.values(), key=lambda f: f.id) if same_text(f.name, name)), None
        )
        if existing is not None:
            ids[name] = existing.id
            ops.append(
                CreateCustomField(
                    employee_id=None,
                    user_id=None,
                    attribute=attribute,
                    name=name,
                    type=existing.type,
                    existing_id=existing.id,
                )
            )
            continue
        ids[name] = None
        ops.append(
            CreateCustomField(
                employee_id=None,
                user_id=None,
                attribute=attribute,
                name=name,
                type=_field_type(snapshot, attribute),
            )
        )
    return ops, ids


def plan_values(
    settings: Settings,
    emp: Employee,
    user_id: str | None,
    have_values: Iterable[CustomValue],
    context: ValuesContext,
) -> SetCustomValues | None:
    """The user's whole value list when a synced value differs (or a renamed field still holds one).

    ``have_values`` is the user's current list (its own read, R8; empty for a user created now),
    so the values of each user can be planned as soon as that user is read (issue 5).
    """
    if not settings.custom_fields:
        return None
    current = {v.custom_field_id: v for v in have_values}
    attributes = emp.attributes
    key = raw_key(attributes, context.attributes)
    wants = context.wanted.get(key)
    if wants is None:
        wants = tuple([_rendered(attributes.get(c[0]), c[3]) for c in context.configured])
        if len(context.wanted) < MEMO_LIMIT:
            context.wanted[key] = wants
    if current:
        if _unchanged(context, current, wants):
            return None  # the common case of a no-change sync: no lists built
        changes, final = _lists(context, current, wants)
    else:  # a user created now (or without values): the same lists for the same values
        lists = context.fresh.get(wants)
        if lists is None:
            lists = _lists(context, current, wants)
            if len(context.fresh) < MEMO_LIMIT:
                context.fresh[wants] = lists
        changes, final = lists
    if not changes:
        return None
    return SetCustomValues(emp.id, user_id, changes, final)  # (employee_id, user_id, values, final)


def _unchanged(
    context: ValuesContext, current: dict[str, CustomValue], wants: tuple[str | None, ...],
) -> bool:
    """Every synced value is the wanted one and no renamed field still holds one."""
    for (_attribute, _name, synced_id, _ftype, _ref), want in zip(context.configured, wants, strict=True):
        have = current[synced_id].value if synced_id and synced_id in current else None
        if want != have:
            return False
    return not (context.stale and not context.stale.isdisjoint(current))


def _lists(
    context: ValuesContext, current: dict[str, CustomValue], wants: tuple[str | None, ...],
) -> tuple[tuple[FieldChange, ...], tuple[tuple[str, str, str], ...]]:
    """The changes and the whole list to PUT, from the user's values and the wanted ones."""
    live, synced_ids, stale = context.live, context.synced_ids, context.stale
    final: list[tuple[str, str, str]] = []
    changes: list[FieldChange] = []
    for value in sorted(current.values(), key=_field_id):
        field_id = value.custom_field_id
        if field_id in stale:
            name = live[field_id].name if field_id in live else field_id
            changes.append(FieldChange(name, value.value, None))
        elif field_id not in synced_ids:
            final.append((field_id, value.type, value.value))
    for (_attribute, name, synced_id, ftype, ref), want in zip(context.configured, wants, strict=True):
        have = current[synced_id].value if synced_id and synced_id in current else None
        if want is not None:
            final.append((ref, ftype, want))
        if want != have:
            changes.append(FieldChange(name, have, want))
    return tuple(changes), tuple(final)


class ValuesContext(NamedTuple):
    """What every user's values are compared against, computed once per plan (100,000
    employees, SPEC §6)."""

    live: dict[str, CustomField]
    #: the field ids the configured names use now
    synced_ids: frozenset[str]
    #: fields the connector owned under a configured name, since renamed (R8: their values go)
    stale: frozenset[str]
    #: (attribute, name, field id, type, the id ``final`` names) of each configured field, by
    #: attribute: what every user's values are compared with, in the order they are listed
    configured: tuple[tuple[str, str, str | None, str, str], ...]
    #: what ``plan_values`` found for a user without values, by wanted values: 100,000 new
    #: users share a few dozen (frozen) lists
    fresh: dict[tuple[str | None, ...], tuple[tuple[FieldChange, ...], tuple[tuple[str, str, str], ...]]]
    #: the configured attributes, and their rendered values by raw ones (``fields.raw_key``)
    attributes: tuple[str, ...]
    wanted: dict[tuple[object, ...], tuple[str | None, ...]]


def values_context(snapshot: Snapshot, settings: Settings, ids: dict[str, str | None]) -> ValuesContext:
    """The ``ValuesContext`` of a plan, from the live fields and the store's owned ones."""
    live = {f.id: f for f in snapshot.custom_fields}
    synced_ids = frozenset(i for i in ids.values() if i)
    names = set(settings.custom_fields.values())
    stale = frozenset(fid for fid, name in snapshot.owned_fields.items()
                      if name in names and fid not in synced_ids)
    types = {}
    for attribute, name in settings.custom_fields.items():
        field_id = ids.get(name)
        types[attribute] = live[field_id].type if field_id in live else _field_type(snapshot, attribute)
    configured = tuple(
        (attribute, name, ids.get(name), types[attribute], ids.get(name) or f"{NEW}{name}")
        for attribute, name in sorted(settings.custom_fields.items())
    )
    return ValuesContext(live, synced_ids, stale, configured, {},
                         tuple(c[0] for c in configured), {})


def _field_id(value: CustomValue) -> str:
    return value.custom_field_id


def _rendered(value: object, ftype: str) -> str | None:
    text = render(value)  # type: ignore[arg-type]
    if text is not None and ftype == "date" and not isinstance(value, dt.date):
        return None if len(text) < 10 else text[:10]
    return text


def _field_type(snapshot: Snapshot, attribute: str) -> str:
    """A field created for a date attribute is a date field (its values sent as YYYY-MM-DD)."""
    for emp in snapshot.employees.values():
        value = emp.attributes.get(attribute)
        if value is not None:
            return "date" if isinstance(value, dt.date) else "string"
    return "string"
