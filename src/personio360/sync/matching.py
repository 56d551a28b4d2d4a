"""R2 and R6: which 360Learning user serves each in-scope employee, and which never may.

Order of R2: the open link; else the user an external-ID mapping of our platform ties to the
employee id; else the user with the same email (adoption); else a new user. A user claimed
by one employee is never given to another (R15), and a deleted user comes back through
360Learning's restore-on-create (R4, R5).
"""

from __future__ import annotations

__all__ = ["Match", "mail_index", "resolve"]

from collections.abc import Collection, Mapping
from functools import cached_property
from typing import NamedTuple

from personio360.domain import ExternalId, LmsUser
from personio360.sync.operations import EmployeeError
from personio360.sync.snapshot import Snapshot

DELETED = "deleted"


class Match(NamedTuple):
    """How ``employee_id`` is served: ``link``, ``external_id``, ``email`` (adopt), ``create``,
    or ``restore`` (the user was deleted: creating with its mail brings the account back).

    A NamedTuple: one is made per employee, 100,000 per plan (SPEC §6)."""

    employee_id: int
    how: str
    user_id: str | None = None


class _Indexes:
    """The lookups R2(1) and R2(2) need, built only when an employee has no link."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    @cached_property
    def by_mail(self) -> dict[str, str]:
        return mail_index(self.snapshot.users)

    @cached_property
    def by_value(self) -> dict[str, ExternalId]:
        """Mappings by employee id; with two for one id, a live user's wins, then the smaller id."""
        users = self.snapshot.users
        index: dict[str, ExternalId] = {}
        for mapping in sorted(self.snapshot.external_ids.values(), key=lambda m: (
                m.target_id not in users or users[m.target_id].status == "deleted", m.id)):
            index.setdefault(mapping.value, mapping)
        return index


def mail_index(users: Mapping[str, LmsUser]) -> dict[str, str]:
    """Users by trimmed, lower-cased mail; a live user wins over a deleted one."""
    index: dict[str, str] = {}
    for user in sorted(users.values(), key=lambda u: (u.status != DELETED, u.id)):
        if user.mail:
            index[user.mail.strip().lower()] = user.id
    return index


def resolve(
    snapshot: Snapshot, emails: Mapping[int, str], staying: Collection[int] | None = None,
) -> tuple[dict[int, Match], list[EmployeeError]]:
    """Match every employee of ``emails`` (in-scope, valid, unique emails) to a user or a create.

    R2's order holds across employees, not only for each: links first, then every
    external-ID match, and only then email adoptions, so an email never takes a user that a
    mapping ties to someone else. A user linked to an employee who is not ``staying`` (a
    leaver) is free to be adopted: a rehire under a new Personio id gets the old account.
    """
    indexes = _Indexes(snapshot)
    stay = set(emails) if staying is None else set(staying)
    claimed: dict[str, int] = {
        link.user_id: employee_id for employee_id, link in snapshot.links.items() if employee_id in stay
    }
    matches: dict[int, Match] = {}
    errors: list[EmployeeError] = []
    pending: list[int] = []
    links, users = snapshot.links, snapshot.users
    for employee_id in sorted(emails):
        link = links.get(employee_id)
        if link is None:
            pending.append(employee_id)
            continue
        user = users.get(link.user_id)  # as _existing does, once for each of 100,000 (SPEC §6)
        how = "restore" if user is None or user.status == DELETED else "link"
        matches[employee_id] = Match(employee_id, how, link.user_id)
    linked = len(matches)
    by_mapping: list[int] = []
    for employee_id in pending if snapshot.external_ids else ():
        mapping = indexes.by_value.get(str(employee_id))
        if mapping is not None and mapping.target_id in snapshot.users and \
                claimed.get(mapping.target_id, employee_id) == employee_id:
            claimed[mapping.target_id] = employee_id
            matches[employee_id] = _existing(snapshot, employee_id, mapping.target_id, "external_id")
            by_mapping.append(employee_id)
    for employee_id in pending:
        if employee_id in matches:
            continue
        user_id = indexes.by_mail.get(emails[employee_id])
        if user_id is None:
            matches[employee_id] = Match(employee_id, "create")
            continue
        owner = claimed.get(user_id)
        if owner is not None and owner != employee_id:
            errors.append(EmployeeError(
                employee_id, "email_in_use",
                f"the email {emails[employee_id]} belongs to the 360Learning user linked to "
                f"employee {owner}; nothing was linked (it resolves once employee {owner}'s "
                "email differs)",
            ))
            continue
        claimed[user_id] = employee_id
        matches[employee_id] = _existing(snapshot, employee_id, user_id, "email")
    # each of the three passes matches in id order: one alone needs no sorting (SPEC §6)
    passes = (linked, len(by_mapping), len(matches) - linked - len(by_mapping))
    if sum(1 for count in passes if count) <= 1:
        return matches, errors
    return dict(sorted(matches.items())), errors


def _existing(snapshot: Snapshot, employee_id: int, user_id: str, how: str) -> Match:
    user = snapshot.users.get(user_id)
    if user is None or user.status == "deleted":
        return Match(employee_id, "restore", user_id)
    return Match(employee_id, how, user_id)
