"""R11: ``personio360 check`` verifies everything a sync needs, changing nothing.

Each check gives one line, pass or fail, with the fix for a failure. A failed check does not
hide the others: every check that can still run, runs.
"""

from __future__ import annotations

__all__ = ["CheckResult", "run_checks"]

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from personio360.config import Settings, load_webhook_secrets
from personio360.domain import Employee, Group
from personio360.errors import ApiError, ConfigError, RunStopped
from personio360.learning360 import Learning360Client
from personio360.learning360.webhooks import Learning360Webhooks
from personio360.personio import EmployeeSource
from personio360.personio.webhooks import PersonioWebhooks
from personio360.personio.writer import PersonioWriter
from personio360.store.activation import activated
from personio360.subscriptions import (
    inspect_learning360,
    inspect_personio,
    open_webhook_clients,
    target_of,
)
from personio360.sync.check_writeback import writeback_checks
from personio360.sync.fields import render, same_text
from personio360.sync.gather import verify_connector_admin

#: the two webhook management clients ``check`` reads our subscriptions with (R17)
WebhookClients = tuple[PersonioWebhooks, Learning360Webhooks]

#: Attributes Personio always returns (``id``), or that every employee list carries.
ALWAYS_READABLE = frozenset({"id"})
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    fix: str | None = None


def run_checks(settings: Settings, personio: EmployeeSource, lms: Learning360Client, *,
               activation: Mapping[str, bool] | None = None,
               webhooks: WebhookClients | None = None,
               writer: PersonioWriter | None = None,
               writer_missing: ConfigError | None = None) -> list[CheckResult]:
    """R11; ``activation``: the admin page's stored group switches (issue 9), shown per group.

    With ``[webhooks]`` configured, one more line per service says whether our subscription
    exists and is enabled (R17); ``webhooks`` are the management clients to read them with
    (built from the environment's credentials when not given). Without it, no extra call.
    R18: whether write-back is configured and, when it is, whether ``writer`` (the write
    credential's client; ``writer_missing`` why there is none) may write, and each item's path
    or course and attribute (``check_writeback.py``)."""
    results: list[CheckResult] = []
    configured = {g.id: g.enabled for g in settings.groups}
    settings = activated(settings, activation or {})
    sample = _personio_checks(settings, personio, results)
    groups = _learning360_checks(settings, lms, results)
    if groups is not None:
        _group_checks(settings, groups, sample, results, configured)
    if settings.webhooks is not None:
        results.extend(_webhook_checks(settings, webhooks))
    results.extend(CheckResult(*line) for line in writeback_checks(settings, lms, writer, writer_missing))
    return results


def _webhook_checks(settings: Settings, clients: WebhookClients | None) -> list[CheckResult]:
    """R17: is each service's subscription of ours in place (360Learning: with its secrets)?"""
    target, secrets = target_of(settings), load_webhook_secrets(settings)
    with contextlib.ExitStack() as stack:
        personio, lms = clients or stack.enter_context(open_webhook_clients(settings))
        verdicts = (
            ("Personio: webhook subscription (R17)",
             inspect_personio(personio, target).verdict(target, token_set=bool(secrets.personio_tokens))),
            ("360Learning: webhook subscriptions (R17)",
             inspect_learning360(lms, target, secrets.learning360_secrets).verdict(target)),
        )
    return [CheckResult(name, v.ok, v.detail, v.fix) for name, v in verdicts]


def _personio_checks(
    settings: Settings, personio: EmployeeSource, results: list[CheckResult]
) -> list[Employee]:
    sample: list[Employee] = []
    try:
        for employee in personio.iter_employees():
            sample.append(employee)
            if len(sample) >= 100:
                break
    except ApiError as exc:
        results.append(
            CheckResult(
                "Personio: employee read access",
                False,
                str(exc),
                exc.hint or "check PERSONIO_CLIENT_ID / PERSONIO_CLIENT_SECRET and personio.base_url",
            )
        )
        return sample
    results.append(
        CheckResult(
            "Personio: employee read access",
            True,
            f"credentials accepted; {len(sample)} employees read as a sample",
        )
    )
    for required in ("email", "status", "first_name", "last_name", "position", "supervisor"):
        if sample and not any(required in e.attributes for e in sample):
            results.append(
                CheckResult(
                    f"Personio: attribute {required!r} readable",
                    False,
                    f"no employee carries {required!r}: the API credentials may not read it",
                    f"in Personio, Settings > API credentials: whitelist the attribute {required!r}",
                )
            )
    named = settings.attributes_named()
    catalogue: set[str] | None = None
    try:
        catalogue = {a.key for a in personio.list_attributes()}
    except ApiError as exc:
        results.append(
            CheckResult(
                "Personio: attribute catalogue",
                False,
                str(exc),
                exc.hint or "check personio.partner_id and personio.app_id",
            )
        )
    for key, where in sorted(named.items()):
        seen = any(key in e.attributes for e in sample)
        known = catalogue is not None and key in catalogue
        ok = key in ALWAYS_READABLE or seen or known
        results.append(
            CheckResult(
                f"Personio: attribute {key!r} readable ({where})",
                ok,
                "readable" if ok else "not returned to these API credentials",
                None if ok else f"in Personio, whitelist {key!r} for the API credentials, or correct {where}",
            )
        )
    return sample


def _learning360_checks(
    settings: Settings, lms: Learning360Client, results: list[CheckResult]
) -> list[Group] | None:
    try:
        groups = list(lms.iter_groups())
    except ApiError as exc:
        results.append(
            CheckResult(
                "360Learning: API access",
                False,
                str(exc),
                exc.hint
                or "check LEARNING360_CLIENT_ID / LEARNING360_CLIENT_SECRET and learning360.base_url",
            )
        )
        return None
    results.append(
        CheckResult("360Learning: API access", True, f"credentials accepted; {len(groups)} groups")
    )
    _attempt(
        results,
        "360Learning: connector admin (R10)",
        lambda: verify_connector_admin(settings, lms, groups),
        lambda user: f"{user.mail} is a platform owner or admin",
    )
    platform = settings.learning360.external_id_platform
    _attempt(
        results,
        f"360Learning: external ids of platform {platform!r} readable",
        lambda: sum(1 for _ in lms.iter_external_ids(platform=platform)),
        lambda n: f"{n} mappings of users to Personio ids",
    )
    results.append(_platform_accepted(platform))
    return groups


#: Platform names 360Learning is known to keep for itself (its own name); the full list is not
#: published, so a refusal of another name is caught by the sync, which stops and says so.
KNOWN_RESERVED_PLATFORMS = frozenset({"360learning"})


def _platform_accepted(platform: str) -> CheckResult:
    """R2: a platform name 360Learning is known to refuse fails here, without any write."""
    name = f"360Learning: external-ID platform {platform!r}"
    if platform.strip().lower() in KNOWN_RESERVED_PLATFORMS:
        return CheckResult(name, False, f"360Learning reserves the platform name {platform!r}",
                           "set learning360.external_id_platform in the config to another name, "
                           'e.g. "personio-hr"')
    return CheckResult(name, True, "not a name 360Learning is known to reserve (if it refuses it, "
                       "the sync stops and names learning360.external_id_platform)")


def _group_checks(
    settings: Settings, groups: list[Group], sample: list[Employee], results: list[CheckResult],
    configured: Mapping[str, bool],
) -> None:
    by_id = {g.id: g for g in groups}
    synced = {g.id for g in settings.groups}
    for index, group in enumerate(settings.groups):
        label = f"synced group {group.id} (groups[{index}])"
        found = by_id.get(group.id)
        if found is None:
            results.append(
                CheckResult(
                    label,
                    False,
                    "does not exist in 360Learning",
                    "copy the group id from 360Learning's group page into [[groups]]",
                )
            )
            continue
        ancestor = _synced_ancestor(found, by_id, synced)
        if ancestor is not None:
            results.append(
                CheckResult(
                    label,
                    False,
                    f"{found.name!r} is inside the synced group {ancestor}",
                    "sync either the parent group or the subgroup, not both",
                )
            )
            continue
        state = "enabled" if group.enabled else "disabled: left alone entirely"
        if group.enabled != configured.get(group.id, group.enabled):
            state = "activated on the admin page" if group.enabled \
                else "deactivated on the admin page: left alone entirely"
        results.append(CheckResult(label, True, f"{found.name!r}, {state}"))
        levels = settings.group_structure.levels
        if levels and group.enabled and sample and not _any_level_matches(found, groups, levels, sample):
            results.append(
                CheckResult(
                    f"{label}: subgroups",
                    False,
                    f"no subgroup of {found.name!r} is named like any {levels[0]!r} value "
                    "of the sampled employees",
                    "name the subgroups exactly like the Personio values (case and spaces do not matter)",
                )
            )


def _synced_ancestor(group: Group, by_id: dict[str, Group], synced: set[str]) -> str | None:
    seen: set[str] = set()
    parent = group.parent_id
    while parent and parent not in seen:
        if parent in synced:
            return parent
        seen.add(parent)
        parent = by_id[parent].parent_id if parent in by_id else None
    return None


def _any_level_matches(top: Group, groups: list[Group], levels: list[str], sample: list[Employee]) -> bool:
    names = [g.name for g in groups if g.parent_id == top.id]
    values = {render(e.attributes.get(levels[0])) for e in sample}
    return any(same_text(n, v) for n in names for v in values if v)


def _attempt(
    results: list[CheckResult], name: str, action: Callable[[], _T], describe: Callable[[_T], str]
) -> None:
    try:
        value = action()
    except (ApiError, RunStopped) as exc:
        results.append(
            CheckResult(name, False, exc.message if isinstance(exc, RunStopped) else str(exc), exc.hint)
        )
        return
    results.append(CheckResult(name, True, describe(value)))
