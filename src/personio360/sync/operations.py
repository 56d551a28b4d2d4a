"""The Plan and its typed operations: the data ``plan`` prints and ``sync`` applies (STYLE §7.4).

Every operation names the employee it serves and carries its ``changes`` (field, before,
after) so that the run records say who, what, before → after (R16). An operation on a user
created in the same run has ``user_id=None``: the executor resolves it through the link the
create records, so a supervisor created in the same run still becomes a manager (R9).
"""

from __future__ import annotations

__all__ = [
    "PHASES",
    "AdoptUser",
    "CloseLink",
    "CreateCustomField",
    "CreateUser",
    "DeactivateUser",
    "DeleteUser",
    "EmployeeError",
    "FieldChange",
    "MoveUser",
    "Operation",
    "Plan",
    "SetCustomValues",
    "SetExternalId",
    "SetManager",
    "UpdateUser",
    "WriteAttribute",
    "in_apply_order",
    "phase_of",
]

from collections.abc import Iterable
from dataclasses import MISSING, dataclass, field, fields
from operator import attrgetter
from typing import Any, ClassVar, TypeVar

_T = TypeVar("_T")


def _quick_init(cls: type[_T]) -> type[_T]:
    """The same ``__init__`` as the frozen dataclass's, writing each slot through its own
    descriptor rather than ``object.__setattr__`` (the cost the dataclasses documentation
    warns of for ``frozen=True``): half the time, and a first sync of 100,000 employees
    makes 400,000 operations (SPEC §6). Still frozen: assignment after it raises as before."""
    params, body, scope = [], [], {}
    for f in fields(cls):  # type: ignore[arg-type]
        scope[f"_set_{f.name}"] = getattr(cls, f.name).__set__
        if f.default is MISSING:
            params.append(f.name)
        else:
            scope[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        body.append(f"    _set_{f.name}(self, {f.name})")
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body) + "\n"
    exec(source, scope)  # as dataclasses builds its own __init__
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


@_quick_init
@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field's change: ``name`` goes from ``before`` to ``after`` (``None`` = empty)."""

    name: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True)
class _Op:
    kind: ClassVar[str] = ""
    rule: ClassVar[str] = ""
    employee_id: int | None
    user_id: str | None

    @property
    def changes(self) -> tuple[FieldChange, ...]:
        return ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "rule": self.rule}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [
                    {"name": v.name, "before": v.before, "after": v.after}
                    if isinstance(v, FieldChange) else v for v in value
                ]
            data[f.name] = value
        data["changes"] = [
            {"name": c.name, "before": c.before, "after": c.after} for c in self.changes
        ]
        return data


@_quick_init
@dataclass(frozen=True, slots=True)
class CreateCustomField(_Op):
    """R8: create the 360Learning custom field ``name`` for ``attribute``."""

    kind: ClassVar[str] = "create_custom_field"
    rule: ClassVar[str] = "R8"
    attribute: str = ""
    name: str = ""
    type: str = "string"
    existing_id: str | None = None

    @property
    def changes(self) -> tuple[FieldChange, ...]:
        if self.existing_id:
            return (FieldChange("custom field owned", None, f"{self.name} ({self.existing_id})"),)
        return (FieldChange("custom field", None, self.name),)


@_quick_init
@dataclass(frozen=True, slots=True)
class CreateUser(_Op):
    """R3: create the user (or restore a deleted one with the same mail, R4/R5) in ``group_id``."""

    kind: ClassVar[str] = "create_user"
    rule: ClassVar[str] = "R3"
    mail: str = ""
    first_name: str | None = None
    last_name: str | None = None
    job: str | None = None
    group_id: str = ""
    restore_of: str | None = None

    @property
    def changes(self) -> tuple[FieldChange, ...]:
        return tuple(
            FieldChange(name, None, value)
            for name, value in (("mail", self.mail), ("first name", self.first_name),
                                ("last name", self.last_name), ("job", self.job),
                                ("learner of", self.group_id))
            if value
        )


@_quick_init
@dataclass(frozen=True, slots=True)
class AdoptUser(_Op):
    """R2: link an existing user, found by ``how`` (``external_id`` or ``email``)."""

    kind: ClassVar[str] = "adopt_user"
    rule: ClassVar[str] = "R2"
    how: str = "email"

    @property
    def changes(self) -> tuple[FieldChange, ...]:
        return (FieldChange("link", None, f"{self.user_id} (matched by {self.how})"),)


@_quick_init
@dataclass(frozen=True, slots=True)
class SetExternalId(_Op):
    """R2: make the platform's external-ID mapping of the user say the employee id."""

    kind: ClassVar[str] = "set_external_id"
    rule: ClassVar[str] = "R2"
    platform: str = "personio"
    mapping_id: str | None = None
    before: str | None = None

    @property
    def changes(self) -> tuple[FieldChange, ...]:
        return (FieldChange("external id", self.before, str(self.employee_id)),)


@_quick_init
@dataclass(frozen=True, slots=True)
class UpdateUser(_Op):
    """R4: overwrite the default fields that differ from Personio."""

    kind: ClassVar[str] = "update_user"
    rule: ClassVar[str] = "R4"
    fields_changed: tuple[FieldChange, ...] = ()
    #: mail changes are applied one after another in this order (0: no mail change), so that a
    #: mail freed by one user can be taken by another in the same run (swaps, R4)
    sequence: int = 0

    @property
    def changes(self) -> tuple[FieldChange, ...]:
        return self.fields_changed


@_quick_init
@dataclass(frozen=True, slots=True)
class MoveUser(_Op):
    """R7: make the user a learner of ``add`` and no longer of ``remove`` (removals first)."""

    kind: ClassVar[str] = "move_user"
    rule: ClassVar[str] = "R7"
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    @property
    def changes(self) -> tuple[FieldChange, ...]:
        return (FieldChange("learner of", ", ".join(self.remove) or None,
                            ", ".join(self.add) or None),)


@_quick_init
@dataclass(frozen=True, slots=True)
class SetManager(_Op):
    """R9: the user's managers become exactly the supervisor's user (or none)."""

    kind: ClassVar[str] = "set_manager"
    rule: ClassVar[str] = "R9"
    manager_employee_id: int | None = None
    manager_user_id: str | None = None
    remove: tuple[str, ...] = ()

    @property
    def changes(self) -> tuple[FieldChange, ...]:
        after = None
        if self.manager_employee_id is not None:
            after = self.manager_user_id or f"employee {self.manager_employee_id}"
        return (FieldChange("manager", ", ".join(self.remove) or None, after),)


@_quick_init
@dataclass(frozen=True, slots=True)
class SetCustomValues(_Op):
    """R8: the user's synced custom field values, by configured field name."""

    kind: ClassVar[str] = "set_custom_values"
    rule: ClassVar[str] = "R8"
    values: tuple[FieldChange, ...] = ()
    #: the whole list to PUT: (field id, or "new:<name>" for a field created in this run, type, value)
    final: tuple[tuple[str, str, str], ...] = ()

    @property
    def changes(self) -> tuple[FieldChange, ...]:
        return self.values


@_quick_init
@dataclass(frozen=True, slots=True)
class DeleteUser(_Op):
    """R5: the employee left the scope: delete the user (a soft delete) and close the link."""

    kind: ClassVar[str] = "delete_user"
    rule: ClassVar[str] = "R5"
    reason: str = ""
    mail: str | None = None

    @property
    def changes(self) -> tuple[FieldChange, ...]:
        return (FieldChange("status", "active", "deleted"),)


@_quick_init
@dataclass(frozen=True, slots=True)
class DeactivateUser(_Op):
    """R5 with ``leavers = "deactivate"``: schedule deactivation, keep the account, close the link."""

    kind: ClassVar[str] = "deactivate_user"
    rule: ClassVar[str] = "R5"
    reason: str = ""
    mail: str | None = None
    at: str = ""

    @property
    def changes(self) -> tuple[FieldChange, ...]:
        return (FieldChange("to be deactivated at", None, self.at),)


@_quick_init
@dataclass(frozen=True, slots=True)
class CloseLink(_Op):
    """R5: the employee left and the user is already gone: only the link closes (no API call)."""

    kind: ClassVar[str] = "close_link"
    rule: ClassVar[str] = "R5"
    reason: str = ""

    @property
    def changes(self) -> tuple[FieldChange, ...]:
        return (FieldChange("link", self.user_id, None),)


@_quick_init
@dataclass(frozen=True, slots=True)
class WriteAttribute(_Op):
    """R18: write the user's completion into the employee's Personio custom attribute.

    ``item`` names the configured path or course (the cursor's key), ``completed_at`` the
    completion written (a failed write is read again from there)."""

    kind: ClassVar[str] = "write_attribute"
    rule: ClassVar[str] = "R18"
    attribute: str = ""
    before: str | None = None
    after: str | None = None
    item: str = ""
    completed_at: str = ""

    @property
    def changes(self) -> tuple[FieldChange, ...]:
        return (FieldChange(f"Personio {self.attribute}", self.before, self.after),)


Operation = (
    CreateCustomField | CreateUser | AdoptUser | SetExternalId | UpdateUser | MoveUser
    | SetManager | SetCustomValues | DeleteUser | DeactivateUser | CloseLink | WriteAttribute
)

#: The executor's phases, in order (STYLE §7.4): fields, users, updates, memberships,
#: managers (after creations: R9), custom values, then leavers (subject to R13b), then the
#: write-back to Personio (R18: last, so its problems never hold back a 360Learning change).
PHASES: tuple[tuple[str, tuple[type[_Op], ...]], ...] = (
    ("custom fields", (CreateCustomField,)),
    ("users", (CreateUser, AdoptUser)),
    ("updates", (UpdateUser, SetExternalId)),
    ("memberships", (MoveUser,)),
    ("managers", (SetManager,)),
    ("custom values", (SetCustomValues,)),
    ("leavers", (DeleteUser, DeactivateUser, CloseLink)),
    ("write-back", (WriteAttribute,)),
)


_PHASE_OF: dict[type, int] = {kind: index for index, (_name, kinds) in enumerate(PHASES) for kind in kinds}


def phase_of(op: Operation) -> int:
    """The index of the executor phase that applies ``op`` (a table lookup: called per operation)."""
    try:
        return _PHASE_OF[type(op)]
    except KeyError:
        raise AssertionError(f"no phase for {type(op).__name__}") from None


def in_apply_order(ops: Iterable[Operation]) -> list[Operation]:
    """``ops`` by phase, then the R4 mail-change ``sequence``, then employee (``None``: 0), then
    kind; equal ones keep their order (a stable sort, deterministic).

    The same order as one sort on that key, built per phase (SPEC §6: a first sync of 100,000
    employees has 400,000 operations) as stable sorts on one key each, the least significant
    first (kind, then employee, then sequence when one is set), with no key tuple per
    operation."""
    buckets: list[list[Operation]] = [[] for _ in PHASES]
    try:
        for op in ops:
            buckets[_PHASE_OF[type(op)]].append(op)
    except KeyError as exc:
        raise AssertionError(f"no phase for {exc.args[0].__name__}") from None
    out: list[Operation] = []
    for bucket in buckets:
        ordered = bucket
        if len({type(op) for op in bucket}) > 1:
            ordered = sorted(ordered, key=_KIND)
        try:
            ordered = sorted(ordered, key=_EMPLOYEE)
        except TypeError:  # an operation without an employee (a custom field)
            ordered = sorted(ordered, key=_employee_or_zero)
        if any(type(op) is UpdateUser and op.sequence for op in ordered):
            ordered = sorted(ordered, key=_sequence)
        out.extend(ordered)
    return out


_KIND = attrgetter("kind")
_EMPLOYEE = attrgetter("employee_id")


def _employee_or_zero(op: Operation) -> int:
    return op.employee_id or 0


def _sequence(op: Operation) -> int:
    return op.sequence if isinstance(op, UpdateUser) else 0


@dataclass(frozen=True, slots=True)
class EmployeeError:
    """R15: why one employee was skipped (or one of their changes could not be made)."""

    employee_id: int | None
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"employee_id": self.employee_id, "code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class Plan:
    """What a sync will do: operations in apply order, per-employee errors, held-back deletions."""

    operations: tuple[Operation, ...] = ()
    errors: tuple[EmployeeError, ...] = ()
    held_back: tuple[Operation, ...] = ()
    in_scope: int = 0
    managed: int = 0
    deletion_limit: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not self.operations and not self.held_back

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for op in self.operations:
            out[op.kind] = out.get(op.kind, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "in_scope": self.in_scope,
            "managed": self.managed,
            "deletion_limit": self.deletion_limit,
            "counts": self.counts(),
            "operations": [op.to_dict() for op in self.operations],
            "held_back": [op.to_dict() for op in self.held_back],
            "errors": [e.to_dict() for e in self.errors],
            "notes": list(self.notes),
        }
