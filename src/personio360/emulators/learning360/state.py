"""One emulated 360Learning company: data and invariants behind a lock, no HTTP (STYLE §7.7).

Invariants follow ``shared/api/360learning*.openapi.json`` and 360learning.md: ObjectId-like
ids, one root group (no ``parentId``, never public) owned by one undeletable owner, unique
mails and usernames, soft delete with restore-on-create, one external-ID mapping per
(platform, target), custom values checked by type. Every choice where the documents are
silent is listed in ``docs/emulators.md``.
"""

from __future__ import annotations

__all__ = ["PROFILE_FIELDS", "ROLES", "Learning360State", "UserListener", "UserRecord", "iso"]

import datetime as dt
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from personio360 import domain
from personio360.emulators.learning360.errors import StateError
from personio360.emulators.learning360.learning import LearningState

#: Roles as request and response bodies spell them; lists also report ``owner``.
ROLES = ("admin", "analyst", "coach", "contributor", "editor", "learner", "userAdmin")
#: ``UserDTO``'s optional string fields, by their API names.
PROFILE_FIELDS = ("mail", "username", "firstName", "lastName", "job", "organization", "phone",
                  "custom", "primaryGroupId", "toBeDeactivatedAt", "profileImageId")
_MAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MAX_VALUES = 300
#: The profile fields whose change fires ``user.updated`` (webhook API, ``user.updated``).
_WATCHED = ("mail", "username", "firstName", "lastName", "custom", "job", "organization",
            "phone", "toBeDeactivatedAt", "primaryGroupId")


def iso(moment: dt.datetime) -> str:
    """The documents' date-time format, ``YYYY-MM-DDThh:mm:ss.sssZ``."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class UserRecord:
    """Everything ``UserDTO`` shows of one user; ``profile`` is keyed by API field names."""

    id: str
    status: str = "invited"
    lang: str = "en"
    profile: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    deleted_at: tuple[str, ...] = ()
    reactivated_at: tuple[str, ...] = ()

    def to_domain(self) -> domain.LmsUser:
        p = self.profile
        return domain.LmsUser(id=self.id, mail=p.get("mail"), first_name=p.get("firstName"),
                              last_name=p.get("lastName"), job=p.get("job"), status=self.status,
                              username=p.get("username"),
                              to_be_deactivated_at=p.get("toBeDeactivatedAt"))


#: Called after a user lifecycle change: (event type such as ``user.updated``, the user as it
#: is now, when). The webhooks turn these into deliveries (``webhooks.py``).
UserListener = Callable[[str, UserRecord, str], None]


class Learning360State:
    """A company's users, groups, roles, managers, custom fields and external ids."""

    def __init__(self, *, seed: int = 0, owner_mail: str = "owner@example.com",
                 company_name: str = "Example Company", analyst_available: bool = False,
                 reserved_platforms: Iterable[str] = ("360learning",),
                 max_custom_fields: int = 100,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self._lock = threading.RLock()
        self._prefix = f"{(0x65000000 + seed * 0x1000) & 0xFFFFFFFF:08x}"
        self._counter = 0
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.analyst_available = analyst_available
        self.reserved_platforms = frozenset(p.lower() for p in reserved_platforms)
        self.max_custom_fields = max_custom_fields
        self._users: dict[str, UserRecord] = {}
        self._by_mail: dict[str, str] = {}
        self._by_username: dict[str, str] = {}
        self._groups: dict[str, domain.Group] = {}
        self._roles_by_user: dict[str, set[tuple[str, str]]] = {}
        self._roles_by_group: dict[str, set[tuple[str, str]]] = {}
        self._managers: dict[str, set[str]] = {}
        self._subordinates: dict[str, set[str]] = {}
        self._fields: dict[str, domain.CustomField] = {}
        self._values: dict[str, list[domain.CustomValue]] = {}
        self._external: dict[str, domain.ExternalId] = {}
        self._outbox: list[dict[str, str]] = []
        self._listeners: list[UserListener] = []
        self._activated: set[str] = set()
        #: R18: paths, courses and their completions (``learning.py``)
        self.learning = LearningState(self.new_id, self.now, lambda uid: uid in self._users,
                                      owner=lambda: (self._owner_id, self._root_id))
        root = domain.Group(id=self.new_id(), name=company_name, parent_id=None, public=False)
        self._groups[root.id] = root
        self._root_id = root.id
        owner = self.add_user(owner_mail, "Olivia", "Owner", job="Platform owner")
        self._owner_id = owner.id
        self._grant(root.id, owner.id, "owner")

    # --- change events -----------------------------------------------------------------

    def subscribe(self, listener: UserListener) -> None:
        """Call ``listener`` after every user lifecycle change (webhook events)."""
        with self._lock:
            self._listeners.append(listener)

    def _notify(self, event_type: str, record: UserRecord) -> None:
        if self._listeners:
            at = self.now()
            for listener in list(self._listeners):
                listener(event_type, record, at)

    # --- ids, time ----------------------------------------------------------------------

    def new_id(self) -> str:
        """A 24-hex ObjectId-like id; ids sort in creation order (cursors rely on it)."""
        with self._lock:
            self._counter += 1
            return f"{self._prefix}{self._counter:016x}"

    def now(self) -> str:
        return iso(self.clock())

    @property
    def root_group_id(self) -> str:
        return self._root_id

    @property
    def owner_id(self) -> str:
        return self._owner_id

    # --- users --------------------------------------------------------------------------

    def add_user(self, mail: str, first_name: str | None = None, last_name: str | None = None,
                 job: str | None = None, status: str = "active", *,
                 username: str | None = None, lang: str = "en") -> domain.LmsUser:
        """Seed a user directly (no membership, no invitation email)."""
        profile = {"mail": mail, "firstName": first_name, "lastName": last_name, "job": job,
                   "username": username}
        with self._lock:
            self._check_identifiers(None, mail, username)
            record = UserRecord(id=self.new_id(), status=status, lang=lang,
                                profile=_profile({k: v for k, v in profile.items() if v}))
            self._store(record)
            if status == "active":
                self._activated.add(record.id)
            self._notify("user.created" if status == "active" else "user.invited", record)
            return record.to_domain()

    def create_user(self, profile: Mapping[str, str], group_id: str, role: str, *,
                    lang: str | None = None,
                    send_invitation: bool = True) -> tuple[UserRecord, bool]:
        """``POST /api/v2/users``: returns the user and whether a deleted one was restored."""
        with self._lock:
            if group_id not in self._groups:
                raise StateError("groupNotFound")
            self._check_role(role)
            mail, username = profile.get("mail"), profile.get("username")
            if not mail and not username:
                raise StateError("mailAndUsernameUndefined")
            if mail and not _MAIL.match(mail):
                raise StateError("mailInvalid")
            self._check_deactivation(profile.get("toBeDeactivatedAt"))
            by_mail = self._by_mail.get(mail.lower()) if mail else None
            by_name = self._by_username.get(username.lower()) if username else None
            if by_mail and by_name and by_mail != by_name:
                raise StateError("loginIdentifierMultipleUsersFound")
            existing = self._users.get(by_mail or by_name or "")
            if existing is not None and existing.status != "deleted":
                raise StateError("mailAlreadyUsed" if by_mail else "usernameAlreadyUsed")
            if profile.get("primaryGroupId", group_id) != group_id:
                raise StateError("notMemberOfPrimaryGroup")
            if existing is None:
                record = UserRecord(id=self.new_id(), lang=lang or "en", profile=_profile(profile))
            else:
                kept = {k: v for k, v in existing.profile.items() if k != "toBeDeactivatedAt"}
                record = replace(existing, status="invited", lang=lang or existing.lang,
                                 profile=_profile({**kept, **profile}),
                                 reactivated_at=(*existing.reactivated_at, self.now()))
                self._unindex(existing)
            self._store(record)
            self._grant(group_id, record.id, role)
            if mail and send_invitation:
                self._outbox.append({"kind": "invitation", "to": mail, "user_id": record.id})
            self._notify("user.invited" if existing is None else "user.reactivated", record)
            return record, existing is not None

    def update_user(self, user_id: str, changes: Mapping[str, str | None], *,
                    lang: str | None = None) -> UserRecord:
        """``PATCH /api/v2/users/{userId}``: merge; ``None`` clears a field."""
        with self._lock:
            record = self._user(user_id)
            if "toBeDeactivatedAt" in changes:
                if record.status == "deleted":
                    raise StateError("invalidUpdateOnDeletedUser")
                if user_id == self._owner_id:
                    raise StateError("ownerDeactivationNotAllowed")
                self._check_deactivation(changes["toBeDeactivatedAt"])
            mail, username = changes.get("mail"), changes.get("username")
            if mail and not _MAIL.match(mail):
                raise StateError("mailInvalid")
            self._check_identifiers(user_id, mail, username)
            merged = {**record.profile, **changes}
            if not merged.get("mail") and not merged.get("username"):
                raise StateError("userShouldHaveAtLeastOneValidIdentifier")
            primary = changes.get("primaryGroupId")
            if primary and not any(g == primary for g, _ in self._roles_by_user.get(user_id, ())):
                raise StateError("notMemberOfPrimaryGroup")
            if changes.get("profileImageId"):
                raise StateError("mediaNotFound")
            self._unindex(record)
            updated = replace(record, lang=lang or record.lang,
                              profile=_profile({k: v for k, v in merged.items() if v}))
            self._store(updated)
            if updated.lang != record.lang or any(
                    updated.profile.get(k) != record.profile.get(k) for k in _WATCHED):
                self._notify("user.updated", updated)
            return updated

    def delete_user(self, user_id: str) -> None:
        """Soft delete: status ``deleted``, a ``deletedAt`` stamp; memberships, manager links
        and custom values are dropped (a restore does not bring them back)."""
        with self._lock:
            record = self._user(user_id)
            if user_id == self._owner_id:
                raise StateError("userIsCompanyOwner")
            if record.status == "deleted":
                return
            profile = {k: v for k, v in record.profile.items() if k != "toBeDeactivatedAt"}
            self._users[user_id] = replace(record, status="deleted", profile=_profile(profile),
                                           deleted_at=(*record.deleted_at, self.now()))
            for group_id, role in list(self._roles_by_user.get(user_id, ())):
                self._revoke(group_id, user_id, role)
            for manager_id in list(self._managers.get(user_id, ())):
                self._unlink(user_id, manager_id)
            for subordinate_id in list(self._subordinates.get(user_id, ())):
                self._unlink(subordinate_id, user_id)
            self._values.pop(user_id, None)
            self._notify("user.deleted", self._users[user_id])

    def reactivate_user(self, user_id: str) -> UserRecord:
        """An administrator restoring a deleted user by hand: ``active`` again, stamped."""
        with self._lock:
            record = self._user(user_id)
            if record.status != "deleted":
                raise StateError("invalidRequest", "Only a deleted user can be reactivated.")
            restored = replace(record, status="active",
                               reactivated_at=(*record.reactivated_at, self.now()))
            self._store(restored)  # a deleted user keeps its mail and username
            self._notify("user.reactivated", restored)
            return restored

    def activate_user(self, user_id: str) -> UserRecord:
        """``PUT /api/v2/users/{userId}/activate``."""
        with self._lock:
            record = self._user(user_id)
            if record.status == "deleted":
                raise StateError("userDeleted")
            self._users[user_id] = replace(record, status="active")
            if user_id not in self._activated:
                self._activated.add(user_id)
                self._notify("user.activated", self._users[user_id])
            return self._users[user_id]

    def user_records(self) -> list[UserRecord]:
        """Every user, deleted ones included, in id order."""
        with self._lock:
            return sorted(self._users.values(), key=lambda r: r.id)

    def user_record(self, user_id: str) -> UserRecord:
        with self._lock:
            return self._user(user_id)

    def users(self) -> list[domain.LmsUser]:
        return [r.to_domain() for r in self.user_records()]

    def user(self, user_id: str) -> domain.LmsUser:
        return self.user_record(user_id).to_domain()

    def user_by_mail(self, mail: str) -> domain.LmsUser | None:
        """The user holding ``mail`` (compared case-insensitively), deleted or not."""
        with self._lock:
            user_id = self._by_mail.get(mail.strip().lower())
            return self._users[user_id].to_domain() if user_id else None

    @property
    def outbox(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self._outbox)

    # --- groups and roles ---------------------------------------------------------------

    def add_group(self, name: str, parent_id: str | None = None,
                  public: bool = True) -> domain.Group:
        """Seed a group under ``parent_id`` (the root group when ``None``)."""
        with self._lock:
            parent = parent_id or self._root_id
            if parent not in self._groups:
                raise StateError("groupNotFound")
            group = domain.Group(id=self.new_id(), name=name, parent_id=parent, public=public)
            self._groups[group.id] = group
            return group

    def groups(self) -> list[domain.Group]:
        with self._lock:
            return sorted(self._groups.values(), key=lambda g: g.id)

    def group(self, group_id: str) -> domain.Group:
        with self._lock:
            if group_id not in self._groups:
                raise StateError("groupNotFound")
            return self._groups[group_id]

    def add_role(self, group_id: str, user_id: str, role: str) -> None:
        """Give ``role`` (``userAdmin`` or ``user-admin``) in a group; re-adding is a no-op."""
        role = _body_role(role)
        with self._lock:
            if group_id not in self._groups:
                raise StateError("groupNotFound")
            if self._user(user_id).status == "deleted":
                raise StateError("userDeleted")
            self._check_role(role)
            self._grant(group_id, user_id, role)

    def remove_role(self, group_id: str, user_id: str, role: str) -> None:
        """Remove a role; ``learner`` also leaves the public subgroups down to the first
        private one, excluded (OpenAPI, ``DELETE /api/v2/groups/{groupId}/{role}/{userId}``)."""
        role = _body_role(role)
        with self._lock:
            if group_id not in self._groups:
                raise StateError("groupNotFound")
            self._check_role(role)
            if (group_id, role) not in self._roles_by_user.get(user_id, ()):
                raise StateError("userNotFoundInGroup")
            self._revoke(group_id, user_id, role)
            if role == domain.LEARNER:
                self._cascade_learner_removal(group_id, user_id)

    def roles_of_user(self, user_id: str) -> list[domain.GroupRole]:
        with self._lock:
            return [domain.GroupRole(group_id=g, user_id=user_id, role=r)
                    for g, r in sorted(self._roles_by_user.get(user_id, ()))]

    def roles_of_group(self, group_id: str) -> list[domain.GroupRole]:
        with self._lock:
            return [domain.GroupRole(group_id=group_id, user_id=u, role=r)
                    for u, r in sorted(self._roles_by_group.get(group_id, ()))]

    # --- managers -----------------------------------------------------------------------

    def add_manager(self, user_id: str, manager_id: str) -> None:
        """Make ``manager_id`` a manager of ``user_id``; re-adding is a no-op."""
        with self._lock:
            user, manager = self._user(user_id), self._user(manager_id, "managerNotFound")
            if user.status == "deleted":
                raise StateError("userDeleted")
            if manager.status == "deleted":
                raise StateError("managerDeleted")
            self._managers.setdefault(user_id, set()).add(manager_id)
            self._subordinates.setdefault(manager_id, set()).add(user_id)

    def remove_manager(self, user_id: str, manager_id: str) -> None:
        with self._lock:
            user = self._user(user_id)
            self._user(manager_id, "managerNotFound")
            if user.status == "deleted":
                raise StateError("userDeleted")
            if manager_id not in self._managers.get(user_id, ()):
                raise StateError("managerNotAssignedToUser")
            self._unlink(user_id, manager_id)

    def managers_of(self, user_id: str) -> list[str]:
        with self._lock:
            return sorted(self._managers.get(user_id, ()))

    def subordinates_of(self, user_id: str) -> list[str]:
        with self._lock:
            return sorted(self._subordinates.get(user_id, ()))

    # --- custom fields ------------------------------------------------------------------

    def add_custom_field(self, name: str, type: str = "string",
                         target_type: str = "users") -> domain.CustomField:
        with self._lock:
            if target_type != "users":
                raise StateError("customFieldsTargetTypeNotEnabled")
            self._check_field_name(None, name)
            if len(self._fields) >= self.max_custom_fields:
                raise StateError("customFieldLimitReached")
            created = domain.CustomField(id=self.new_id(), name=name, type=type,
                                         target_type=target_type)
            self._fields[created.id] = created
            return created

    def rename_custom_field(self, field_id: str, name: str) -> domain.CustomField:
        with self._lock:
            current = self._field(field_id)
            self._check_field_name(field_id, name)
            self._fields[field_id] = replace(current, name=name)
            return self._fields[field_id]

    def delete_custom_field(self, field_id: str) -> None:
        """Delete a field; its values disappear from every user."""
        with self._lock:
            self._field(field_id)
            del self._fields[field_id]
            for user_id, values in list(self._values.items()):
                self._values[user_id] = [v for v in values if v.custom_field_id != field_id]

    def custom_fields(self) -> list[domain.CustomField]:
        with self._lock:
            return sorted(self._fields.values(), key=lambda f: f.id)

    def set_custom_values(self, user_id: str, values: list[domain.CustomValue]) -> None:
        """Replace the user's whole list (``PUT .../custom-fields/values``), each value
        checked against its field's type (``date`` = ``YYYY-MM-DD``)."""
        with self._lock:
            self._user(user_id)
            if len(values) > _MAX_VALUES:
                raise StateError("invalidRequest", "At most 300 custom values.")
            seen: set[str] = set()
            for value in values:
                current = self._field(value.custom_field_id)
                if value.custom_field_id in seen:
                    raise StateError("multipleValuesForSingleCustomField")
                seen.add(value.custom_field_id)
                if value.type != current.type or not value.value or (
                        current.type == "date" and not _is_date(value.value)):
                    raise StateError("wrongTypeValue")
            self._values[user_id] = list(values)

    def custom_values(self, user_id: str) -> list[domain.CustomValue]:
        with self._lock:
            self._user(user_id)
            return list(self._values.get(user_id, ()))

    # --- external ids -------------------------------------------------------------------

    def add_external_id(self, platform: str, target_type: str, target_id: str,
                        value: str) -> domain.ExternalId:
        with self._lock:
            self._check_mapping(None, platform, target_type, target_id, value)
            created = domain.ExternalId(id=self.new_id(), platform=platform,
                                        target_type=target_type, target_id=target_id,
                                        value=value)
            self._external[created.id] = created
            return created

    def update_external_id(self, mapping_id: str, platform: str, target_type: str,
                           target_id: str, value: str) -> domain.ExternalId:
        """``PUT /api/v2/external-ids/{mappingId}``: a full replace."""
        with self._lock:
            current = self._mapping(mapping_id)
            if current.platform.lower() in self.reserved_platforms:
                raise StateError("reservedPlatformName")
            self._check_mapping(mapping_id, platform, target_type, target_id, value)
            updated = domain.ExternalId(id=mapping_id, platform=platform,
                                        target_type=target_type, target_id=target_id,
                                        value=value)
            self._external[mapping_id] = updated
            return updated

    def delete_external_id(self, mapping_id: str) -> None:
        with self._lock:
            if self._mapping(mapping_id).platform.lower() in self.reserved_platforms:
                raise StateError("reservedPlatformName")
            del self._external[mapping_id]

    def external_ids(self) -> list[domain.ExternalId]:
        with self._lock:
            return sorted(self._external.values(), key=lambda e: e.id)

    # --- internals (lock held) ----------------------------------------------------------

    def _user(self, user_id: str, code: str = "userNotFound") -> UserRecord:
        record = self._users.get(user_id)
        if record is None:
            raise StateError(code)
        return record

    def _field(self, field_id: str) -> domain.CustomField:
        if field_id not in self._fields:
            raise StateError("customFieldNotFound")
        return self._fields[field_id]

    def _mapping(self, mapping_id: str) -> domain.ExternalId:
        if mapping_id not in self._external:
            raise StateError("mappingIdNotFound")
        return self._external[mapping_id]

    def _store(self, record: UserRecord) -> None:
        self._users[record.id] = record
        if mail := record.profile.get("mail"):
            self._by_mail[mail.lower()] = record.id
        if username := record.profile.get("username"):
            self._by_username[username.lower()] = record.id

    def _unindex(self, record: UserRecord) -> None:
        if mail := record.profile.get("mail"):
            self._by_mail.pop(mail.lower(), None)
        if username := record.profile.get("username"):
            self._by_username.pop(username.lower(), None)

    def _check_identifiers(self, user_id: str | None, mail: str | None,
                           username: str | None) -> None:
        """Mails and usernames are unique across all users, deleted ones included."""
        for value, index, code in ((mail, self._by_mail, "mailAlreadyUsed"),
                                   (username, self._by_username, "usernameAlreadyUsed")):
            holder = index.get(value.lower()) if value else None
            if holder is not None and holder != user_id:
                raise StateError(code)

    def _check_deactivation(self, value: str | None) -> None:
        if value is None:
            return
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise StateError("deactivationDateInvalid") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        if moment <= self.clock():
            raise StateError("deactivationDateInvalid")

    def _check_role(self, role: str) -> None:
        if role not in ROLES:
            raise StateError("invalidRequest", f"Unknown role {role!r}.")
        if role == "analyst" and not self.analyst_available:
            raise StateError("analystUnavailable")

    def _check_field_name(self, field_id: str | None, name: str) -> None:
        if not name.strip():
            raise StateError("invalidName")
        if any(f.name.lower() == name.lower() and f.id != field_id
               for f in self._fields.values()):
            raise StateError("nameAlreadyTaken")

    def _check_mapping(self, mapping_id: str | None, platform: str, target_type: str,
                       target_id: str, value: str) -> None:
        if platform.lower() in self.reserved_platforms:
            raise StateError("reservedPlatformName")
        known = {"user": self._users.keys(), "group": self._groups.keys()}
        if target_id not in known.get(target_type, set()):
            raise StateError("resourceNotFound")
        for other in self._external.values():
            if other.id == mapping_id or other.platform != platform:
                continue
            if other.target_id == target_id and other.target_type == target_type:
                raise StateError("targetAlreadyMapped" if mapping_id else "mappingAlreadyExists")
            if other.target_type == target_type and other.value == value:
                raise StateError("valueAlreadyUsed")

    def _grant(self, group_id: str, user_id: str, role: str) -> None:
        self._roles_by_user.setdefault(user_id, set()).add((group_id, role))
        self._roles_by_group.setdefault(group_id, set()).add((user_id, role))

    def _revoke(self, group_id: str, user_id: str, role: str) -> None:
        self._roles_by_user.get(user_id, set()).discard((group_id, role))
        self._roles_by_group.get(group_id, set()).discard((user_id, role))

    def _cascade_learner_removal(self, group_id: str, user_id: str) -> None:
        for child in self._groups.values():
            if child.parent_id == group_id and child.public:
                self._revoke(child.id, user_id, domain.LEARNER)
                self._cascade_learner_removal(child.id, user_id)

    def _unlink(self, user_id: str, manager_id: str) -> None:
        self._managers.get(user_id, set()).discard(manager_id)
        self._subordinates.get(manager_id, set()).discard(user_id)


def _profile(values: Mapping[str, str | None]) -> Mapping[str, str]:
    return MappingProxyType({k: v for k, v in values.items() if v is not None})


def _body_role(role: str) -> str:
    return "userAdmin" if role == "user-admin" else role


def _is_date(value: str) -> bool:
    if not _DATE.match(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True
