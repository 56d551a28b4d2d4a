"""Issue 5 (SPEC §6, 100,000 employees): what the planner's speed and the snapshot's size rest on
keeps the rules' results: apply order, the paused collector, shared values and texts."""

from __future__ import annotations

import gc
import random
from dataclasses import FrozenInstanceError, replace

import pytest

from personio360.domain import CustomValue
from personio360.personio import wire
from personio360.sync.operations import (
    CloseLink,
    CreateCustomField,
    CreateUser,
    DeleteUser,
    FieldChange,
    MoveUser,
    Operation,
    SetExternalId,
    UpdateUser,
    in_apply_order,
    phase_of,
)
from personio360.sync.planner import plan
from personio360.sync.snapshot import Snapshot
from strategies import NOW, employee, settings, snapshot


def one_sort(ops: list[Operation]) -> list[Operation]:
    """The apply order as one sort on the whole key (what ``in_apply_order`` must equal)."""
    return sorted(ops, key=lambda op: (phase_of(op), getattr(op, "sequence", 0),
                                       op.employee_id or 0, op.kind))


def some_operations(rng: random.Random) -> list[Operation]:
    ops: list[Operation] = []
    for _ in range(rng.randint(0, 60)):
        emp = rng.choice([None, 0, *range(1, 8)])
        ops.append(rng.choice([
            CreateCustomField(employee_id=None, user_id=None, name=f"f{rng.randint(0, 3)}"),
            CreateUser(employee_id=emp, user_id=None, mail=f"m{rng.randint(0, 9)}"),
            SetExternalId(employee_id=emp, user_id="u"),
            UpdateUser(employee_id=emp, user_id="u", sequence=rng.choice([0, 0, -1, 1, 2])),
            MoveUser(employee_id=emp, user_id="u", add=(str(rng.randint(0, 9)),)),
            DeleteUser(employee_id=emp, user_id="u"),
            CloseLink(employee_id=emp, user_id="u", reason=str(rng.randint(0, 9))),
        ]))
    return ops


@pytest.mark.parametrize("seed", range(40))
def test_apply_order_is_one_stable_sort_on_phase_sequence_employee_kind(seed: int) -> None:
    """STYLE §7.4: the per-phase sorts give exactly the order (and tie order) of the one sort."""
    ops = some_operations(random.Random(seed))
    assert in_apply_order(ops) == one_sort(ops)
    assert [id(op) for op in in_apply_order(ops)] == [id(op) for op in one_sort(ops)]


def test_operations_stay_frozen_dataclasses() -> None:
    """The quicker ``__init__`` keeps the dataclass: defaults, equality, ``replace``, frozen."""
    op = CreateUser(7, None, "a@b.example")
    assert op == CreateUser(employee_id=7, user_id=None, mail="a@b.example", group_id="")
    assert replace(op, mail="c@d.example").mail == "c@d.example"
    assert FieldChange("job", None, "x") == FieldChange(name="job", before=None, after="x")
    with pytest.raises(FrozenInstanceError):
        op.mail = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        CreateUser(7)  # type: ignore[call-arg]


@pytest.mark.parametrize("enabled", [True, False])
def test_planning_leaves_the_collector_as_it_found_it(enabled: bool) -> None:
    """The collector is paused while a plan is built, then restored, on or off."""
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        plan(snapshot([employee(1), employee(2, email=None)]), settings())
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_equal_managers_learners_and_values_become_one_object() -> None:
    """The snapshot shares equal read values (memory, SPEC §6); they stay equal."""
    managers = {"u1": frozenset({"boss"}), "u2": frozenset({"boss"})}
    values = {"u1": (CustomValue("f", "string", "HR"),), "u2": (CustomValue("f", "string", "HR"),)}
    snap = Snapshot(taken_at=NOW, employees={}, users={}, links={}, managers=managers,
                    custom_values=values)
    assert snap.managers == {"u1": frozenset({"boss"}), "u2": frozenset({"boss"})}
    assert snap.managers["u1"] is snap.managers["u2"]
    assert snap.custom_values["u1"] is snap.custom_values["u2"]


def test_parsed_employees_share_repeated_text_not_emails() -> None:
    """Personio's repeated values (keys, department, status) are one string each once parsed."""
    def parsed(employee_id: int) -> wire.EmployeeData:
        return wire.EmployeeData.model_validate({"attributes": {
            "id": {"label": "ID", "value": employee_id},
            "email": {"label": "Email", "value": "".join(["a", "@b.example"])},
            "department": {"label": "Department", "value": {"type": "Department", "attributes": {
                "id": 3, "name": "".join(["Sa", "les"])}}},
            "status": {"label": "Status", "value": "".join(["act", "ive"])},
        }})
    first, second = wire.to_domain(parsed(1)), wire.to_domain(parsed(2))
    assert first.attributes["department"] == "Sales"
    assert first.attributes["department"] is second.attributes["department"]
    assert first.status is second.status
    assert first.email == second.email


def test_a_plan_is_the_same_with_repeated_and_distinct_values() -> None:
    """Decisions remembered per distinct value (texts, targets, values) change no result:
    ``1``, ``1.0`` and ``True`` render differently, so they are never taken for one another."""
    config = settings(custom_fields={"department": "Department"})
    people = [employee(i, office="Paris", department=d)
              for i, d in enumerate(["Sales", 1, 1.0, True, "Sales", None, 1], start=1)]
    planned = plan(snapshot(people), config)
    wanted = {op.employee_id: op.values[0].after for op in planned.operations
              if op.kind == "set_custom_values"}  # type: ignore[union-attr]
    assert wanted == {1: "Sales", 2: "1", 3: "1", 4: "true", 5: "Sales", 7: "1"}
