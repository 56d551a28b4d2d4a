"""Helpers for the R1, R7, R8 and R12 end-to-end tests: hand-written configs, R7 restated, snapshots.

``configure`` rewrites a sandbox's config with other ``[[groups]]`` (filters, disabled ones),
levels or custom fields, keeping its state store, and loads it into ``env.settings``; the
other helpers read outcomes from the emulator states, never call order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from personio360.config import Settings, load_config

if TYPE_CHECKING:
    from .conftest import SyncEnv

Where = Mapping[str, Any]


def group(group_id: str, *, enabled: bool = True, where: Where | None = None) -> dict[str, Any]:
    """One ``[[groups]]`` entry."""
    return {"id": group_id, "enabled": enabled, "where": dict(where or {})}


def config_text(env: SyncEnv, *, groups: Sequence[Mapping[str, Any]] | None = None,
                levels: Sequence[str] | None = None, custom_fields: Mapping[str, str] | None = None,
                environment: str | None = None, state_url: str | None = "keep") -> str:
    """The sandbox's config with the given parts replaced (``state_url=None``: the default store)."""
    sb = env.sb
    groups = groups if groups is not None else [group(env.synced_group)]
    levels = levels if levels is not None else sb.levels
    fields = custom_fields if custom_fields is not None else sb.custom_fields
    lines = [
        f"environment = {_toml(environment or sb.environment)}",
        "",
        "[personio]",
        f"base_url = {_toml(sb.personio_url)}",
        "",
        "[learning360]",
        f"base_url = {_toml(sb.lms_url)}",
        f"connector_admin_email = {_toml(sb.installed.connector_admin_email)}",
    ]
    for entry in groups:
        lines += ["", "[[groups]]", f"id = {_toml(entry['id'])}",
                  f"enabled = {_toml(entry.get('enabled', True))}"]
        if entry.get("where"):
            pairs = ", ".join(f"{key} = {_toml(value)}" for key, value in entry["where"].items())
            lines.append(f"where = {{ {pairs} }}")
    lines += ["", "[group_structure]", f"levels = {_toml(list(levels))}"]
    lines += ["", "[custom_fields]", *(f"{key} = {_toml(name)}" for key, name in fields.items())]
    url = env.settings.state_url if state_url == "keep" else state_url
    if url is not None:
        lines += ["", "[state]", f"url = {_toml(url)}"]
    return "\n".join(lines) + "\n"


def configure(env: SyncEnv, *, name: str = "world", **parts: Any) -> Settings:
    """Write ``config_text(env, **parts)`` beside the sandbox's config and make it the env's settings."""
    path = env.sb.directory / f"{name}.toml"
    path.write_text(config_text(env, **parts), encoding="utf-8")
    env.settings = load_config(path)
    return env.settings


def write_config(directory: Path, text: str, name: str) -> Settings:
    """A config file named ``name`` in ``directory`` (credentials come from ``env.sb.environ``)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: same escapes
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


# --- 360Learning groups -----------------------------------------------------------------------


def groups_snapshot(env: SyncEnv) -> list[tuple[str, str, str | None, bool | None]]:
    """Every group as (id, name, parent, public): compared before and after (R7: no creation)."""
    return [(g.id, g.name, g.parent_id, g.public) for g in env.lms.groups()]


def roles_snapshot(env: SyncEnv, group_ids: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """Who holds which role in each of ``group_ids``."""
    return {gid: sorted((r.user_id, r.role) for r in env.lms.roles_of_group(gid)) for gid in group_ids}


def gid(env: SyncEnv, key: str) -> str:
    """The 360Learning id of the company's group spec ``key`` (``office:Berlin/Sales``...)."""
    return env.installed.group_ids[key]


def subtree(env: SyncEnv, top: str) -> set[str]:
    """``top`` and every group below it."""
    ids, frontier = {top}, [top]
    groups = env.lms.groups()
    while frontier:
        parent = frontier.pop()
        for g in groups:
            if g.parent_id == parent:
                ids.add(g.id)
                frontier.append(g.id)
    return ids


def expected_target(env: SyncEnv, employee: Mapping[str, Any], top: str | None = None,
                    levels: Sequence[str] | None = None) -> str:
    """R7 restated: descend level by level into the child named like the value (trimmed,
    case-insensitive), stop at the first level without a match."""
    current = top or env.synced_group
    groups = env.lms.groups()
    for level in levels if levels is not None else env.settings.group_structure.levels:
        value = str(employee.get(level) or "").strip().casefold()
        child = next((g.id for g in sorted(groups, key=lambda g: g.id) if g.parent_id == current
                      and value and g.name.strip().casefold() == value), None)
        if child is None:
            break
        current = child
    return current


def learner_in(env: SyncEnv, user_id: str, top: str | None = None) -> set[str]:
    """The groups of ``top``'s hierarchy where the user is a learner."""
    return env.learner_groups(user_id) & subtree(env, top or env.synced_group)


def roles_of(env: SyncEnv, user_id: str) -> set[tuple[str, str]]:
    return {(r.group_id, r.role) for r in env.lms.roles_of_user(user_id)}


def plain_ids(env: SyncEnv) -> list[int]:
    """Clean, in-scope employees that were not pre-created in 360Learning (no adoption)."""
    adoptable = set(env.edge("adoptable"))
    return [i for i in env.clean_ids() if i not in adoptable]


def where(env: SyncEnv, **wanted: Any) -> list[int]:
    """Clean, plain employees whose Personio values equal ``wanted`` (exactly)."""
    out = []
    for employee_id in plain_ids(env):
        employee = env.personio.employee(employee_id)
        if all(employee.get(key) == value for key, value in wanted.items()):
            out.append(employee_id)
    return out


# --- users, values ------------------------------------------------------------------------------


def platform_state(env: SyncEnv, skip: Iterable[str] = ()) -> dict[str, Any]:
    """Everything 360Learning holds about every user but ``skip``, plus groups and fields."""
    skipped = set(skip)
    return {
        "users": {u.id: env.full_state(u.id) for u in env.lms.users() if u.id not in skipped},
        "groups": groups_snapshot(env),
        "fields": [(f.id, f.name, f.type) for f in env.lms.custom_fields()],
    }


def values_by_name(env: SyncEnv, user_id: str) -> dict[str, str]:
    """The user's custom values keyed by field name."""
    names = {f.id: f.name for f in env.lms.custom_fields()}
    return {names[v.custom_field_id]: v.value for v in env.lms.custom_values(user_id)}


def field_named(env: SyncEnv, name: str) -> list[Any]:
    return [f for f in env.lms.custom_fields() if f.name == name]

