"""The domain vocabulary shared by clients, store and sync: frozen, slotted, I/O-free.

Wire models (the APIs' own payload shapes) stay in ``personio/wire.py`` and
``learning360/wire.py``; they convert to these types at the client boundary, so the sync
never sees an API's field names.
"""

from __future__ import annotations

__all__ = [
    "LEARNER",
    "AttributeInfo",
    "AttributeValue",
    "BulkMembership",
    "BulkOperation",
    "BulkResult",
    "Completion",
    "CustomField",
    "CustomValue",
    "Employee",
    "ExternalId",
    "Group",
    "GroupRole",
    "Link",
    "LmsUser",
    "NewUser",
    "UserChanges",
]

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: A Personio attribute's value once normalised by the client: objects (office, department,
#: team, subcompany, supervisor...) become their ``name``; lists of objects (cost centers)
#: a tuple of names; ``date`` attributes a ``datetime.date``; empty values ``None``.
AttributeValue = str | int | float | bool | dt.date | tuple[str, ...] | None

#: The role the connector manages (R7): it never touches any other role.
LEARNER = "learner"

_EMPTY: Mapping[str, AttributeValue] = MappingProxyType({})


# --- Personio ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Employee:
    """One Personio employee, as the credentials may read them.

    ``attributes`` holds every attribute the API returned, keyed by its API key
    (``office``, ``department``, ``dynamic_1234567``...), normalised as ``AttributeValue``
    says. An attribute the credentials may not read is *absent*, not ``None``: R11 and
    ``check`` tell the two apart.
    """

    id: int
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    status: str | None = None
    position: str | None = None
    supervisor_id: int | None = None
    attributes: Mapping[str, AttributeValue] = field(default_factory=lambda: _EMPTY, hash=False)
    #: ``last_modified_at`` as Personio wrote it, whole (R17 compares it; ``attributes`` keeps
    #: only its day, as for every date)
    last_modified_at: str | None = None


@dataclass(frozen=True, slots=True)
class AttributeInfo:
    """One entry of Personio's attribute catalogue: an attribute these credentials may read."""

    key: str
    label: str
    type: str | None = None
    universal_id: str | None = None


# --- 360Learning ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LmsUser:
    """A 360Learning user (``UserDTO``); ``status`` is ``active``, ``invited`` or ``deleted``."""

    id: str
    mail: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    job: str | None = None
    status: str = "active"
    username: str | None = None
    to_be_deactivated_at: str | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    """R18: one row of ``/paths/stats`` (a user's path session) or ``/courses/stats`` (an attempt).

    ``kind`` is ``path`` or ``course``; ``completed_at`` as 360Learning wrote it
    (``YYYY-MM-DDThh:mm:ss.sssZ``, UTC), ``None`` while not completed; ``status`` the path
    status type (``successful``...), ``None`` for a course (its statistics have none).
    """

    kind: str
    item_id: str
    user_id: str
    completed_at: str | None = None
    status: str | None = None
    score: int | None = None


@dataclass(frozen=True, slots=True)
class NewUser:
    """What ``POST /api/v2/users`` needs (``InputUserDTO``): membership is required (R3)."""

    mail: str
    group_id: str
    role: str = LEARNER
    first_name: str | None = None
    last_name: str | None = None
    job: str | None = None


@dataclass(frozen=True, slots=True)
class UserChanges:
    """A ``PATCH /api/v2/users/{id}`` body (``UpdateUserDTO``): only the fields set are sent.

    ``CLEAR`` (an empty string) asks to clear a field: the client sends ``null``.
    """

    mail: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    job: str | None = None
    to_be_deactivated_at: str | None = None

    CLEAR = ""


@dataclass(frozen=True, slots=True)
class ExternalId:
    """An external-ID mapping (``ExternalIdDTO``): ties ``value`` on ``platform`` to a target."""

    id: str
    platform: str
    target_type: str
    target_id: str
    value: str


@dataclass(frozen=True, slots=True)
class Group:
    """A 360Learning group; ``parent_id`` is ``None`` on the root group."""

    id: str
    name: str
    parent_id: str | None = None
    public: bool | None = None


@dataclass(frozen=True, slots=True)
class GroupRole:
    """One membership: ``user_id`` has ``role`` in ``group_id`` (roles as in bodies: ``userAdmin``)."""

    group_id: str
    user_id: str
    role: str


@dataclass(frozen=True, slots=True)
class CustomField:
    """A 360Learning custom field (``CustomFieldDTO``); ``type`` is ``string`` or ``date``."""

    id: str
    name: str
    type: str = "string"
    target_type: str = "users"


@dataclass(frozen=True, slots=True)
class CustomValue:
    """One custom field value of one user (``CustomFieldValueDTO``)."""

    custom_field_id: str
    type: str
    value: str


@dataclass(frozen=True, slots=True)
class BulkMembership:
    """One item of a bulk memberships call: add or remove ``role`` of ``user_id`` in ``group_id``."""

    group_id: str
    user_id: str
    role: str = LEARNER


@dataclass(frozen=True, slots=True)
class BulkResult:
    """The outcome of one item of a bulk operation; ``error`` is the API's code when it failed."""

    index: int
    ok: bool
    error: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class BulkOperation:
    """A bulk operation's state: ``pending``, ``queued``, ``running``, ``completed``, ``errored``."""

    id: str
    status: str
    results: tuple[BulkResult, ...] = ()

    @property
    def done(self) -> bool:
        return self.status in ("completed", "errored")


# --- the state store --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    """R2: the employee ``employee_id`` is linked to the 360Learning user ``user_id``.

    ``origin`` is ``created`` or ``adopted``; a closed link (``closed_at`` set) is history.
    """

    employee_id: int
    user_id: str
    origin: str
    since: dt.datetime
    closed_at: dt.datetime | None = None
