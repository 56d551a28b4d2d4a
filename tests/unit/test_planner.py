"""The pure planner on hand-built snapshots: R3-R9 and R15 operation by operation, R6, order."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from personio360.domain import CustomField, CustomValue, Employee, LmsUser
from personio360.sync.custom import NEW
from personio360.sync.operations import (
    PHASES,
    AdoptUser,
    CloseLink,
    CreateCustomField,
    CreateUser,
    DeactivateUser,
    DeleteUser,
    EmployeeError,
    FieldChange,
    MoveUser,
    Operation,
    SetCustomValues,
    SetExternalId,
    SetManager,
    UpdateUser,
    phase_of,
)
from personio360.sync.planner import plan
from strategies import (
    ADMIN,
    BERLIN_SALES,
    DISABLED,
    OTHER,
    PARIS,
    PARIS_SALES,
    PARIS_TECH,
    TECH_AI,
    TOP,
    employee,
    flat,
    hierarchy,
    link,
    mapping,
    settings,
    snapshot,
    user_for,
)

CONFIG = settings()
PARIS_SALES_ATTRS = {"office": "Paris", "department": "Sales"}


def kinds(ops: tuple[Operation, ...]) -> list[tuple[str, int | None]]:
    return [(op.kind, op.employee_id) for op in ops]


def unsequenced(ops: tuple[Operation, ...]) -> tuple[Operation, ...]:
    """The operations without the mail changes' apply order (tested on its own)."""
    return tuple(replace(op, sequence=0) if isinstance(op, UpdateUser) else op for op in ops)


def linked_in_step(emp_id: int, target: str = PARIS_SALES, **attributes: object) -> dict[str, object]:
    """One employee linked to ``u<id>``, in step with it in every synced respect."""
    emp = employee(emp_id, **{**PARIS_SALES_ATTRS, **attributes})  # type: ignore[arg-type]
    user_id = f"u{emp_id}"
    return {"emp": emp, "user": user_for(emp, user_id), "link": link(emp_id, user_id),
            "mapping": mapping(user_id, emp_id), "learners": {user_id: {target}}}


def in_step_snapshot(*people: dict[str, object], **extra: object):  # type: ignore[no-untyped-def]
    learners: dict[str, set[str]] = {}
    for p in people:
        learners.update(p["learners"])  # type: ignore[arg-type]
    return snapshot([p["emp"] for p in people], [p["user"] for p in people],  # type: ignore[misc]
                    [p["link"] for p in people], external_ids=[p["mapping"] for p in people],  # type: ignore[misc]
                    hierarchies=[hierarchy(learners)], **extra)  # type: ignore[arg-type]


def test_a_company_in_step_plans_nothing() -> None:
    """R14: everything already in step: an empty plan."""
    planned = plan(in_step_snapshot(linked_in_step(1), linked_in_step(2, supervisor_id=1),
                                    managers={"u2": {"u1"}}), CONFIG)
    assert planned.empty
    assert planned.errors == ()
    assert (planned.in_scope, planned.managed, planned.deletion_limit) == (2, 2, 10)


# --- R3 creates ------------------------------------------------------------------------------


def test_a_new_employee_is_created_in_its_target_group() -> None:
    """R3: default fields and the target group as creation-time membership; then the external id."""
    emp = employee(1, email="  Anna.Becker@ACME.example ", first_name=" Anna ", last_name="Becker",
                   position="Chef\tde cuisine", **PARIS_SALES_ATTRS)
    planned = plan(snapshot([emp]), CONFIG)
    assert planned.operations == (
        CreateUser(employee_id=1, user_id=None, mail="Anna.Becker@ACME.example", first_name="Anna",
                   last_name="Becker", job="Chef de cuisine", group_id=PARIS_SALES),
        SetExternalId(employee_id=1, user_id=None, platform="personio"),
    )


def test_a_new_employee_gets_custom_values_in_fields_created_now() -> None:
    """R3/R8: the fields are created first; the values refer to them by name until they exist."""
    emp = employee(1, department="Sales", dynamic_1="XL")
    config = settings(custom_fields={"department": "Department", "dynamic_1": "Shirt"})
    planned = plan(snapshot([emp], custom_fields=[CustomField("f-shirt", "Shirt")],
                            owned_fields={"f-shirt": "Shirt"}), config)
    assert planned.operations[0] == CreateCustomField(None, None, attribute="department", name="Department")
    values = [op for op in planned.operations if isinstance(op, SetCustomValues)]
    assert values == [SetCustomValues(
        employee_id=1, user_id=None,
        values=(FieldChange("Department", None, "Sales"), FieldChange("Shirt", None, "XL")),
        final=((f"{NEW}Department", "string", "Sales"), ("f-shirt", "string", "XL")),
    )]


def test_an_employee_selected_by_two_hierarchies_is_created_in_the_first_and_added_to_the_second() -> None:
    """R7: one learner role per selected hierarchy; creation-time membership covers the first."""
    config = settings(groups=[{"id": TOP}, {"id": OTHER, "where": {"subcompany": "B"}},
                              {"id": DISABLED, "enabled": False}])
    emp = employee(1, subcompany="B", **PARIS_SALES_ATTRS)
    planned = plan(snapshot([emp], hierarchies=[hierarchy(), flat(OTHER, "B")]), config)
    assert [op for op in planned.operations if isinstance(op, CreateUser | MoveUser)] == [
        CreateUser(employee_id=1, user_id=None, mail="e1@acme.example", first_name="First1",
                   last_name="Last1", job="Engineer", group_id=PARIS_SALES),
        MoveUser(employee_id=1, user_id=None, add=(OTHER,)),
    ]


# --- R2 adoption -----------------------------------------------------------------------------


def test_an_existing_user_with_the_email_is_adopted_then_updated() -> None:
    """R2(2): adopt (any case), map the external id, update what differs, add to the target group."""
    emp = employee(1, email="anna@acme.example", first_name="Anna", last_name="Becker",
                   position="Chef", **PARIS_SALES_ATTRS)
    user = LmsUser("u1", "ANNA@acme.example", "Anna", "Old", None,
                   to_be_deactivated_at="2025-04-01T00:00:00.000Z")
    planned = plan(snapshot([emp], [user], external_ids=[mapping("u1", 77, "m-1")]), CONFIG)
    assert planned.operations == (
        AdoptUser(employee_id=1, user_id="u1", how="email"),
        SetExternalId(employee_id=1, user_id="u1", platform="personio", mapping_id="m-1", before="77"),
        UpdateUser(employee_id=1, user_id="u1", fields_changed=(
            FieldChange("last name", "Old", "Becker"), FieldChange("job", None, "Chef"),
            FieldChange("to be deactivated at", "2025-04-01T00:00:00.000Z", None))),
        MoveUser(employee_id=1, user_id="u1", add=(PARIS_SALES,)),
    )


def test_a_user_mapped_to_the_employee_is_relinked_without_a_mapping_write() -> None:
    """R2(1): the mapping already says the employee id: adopt and nothing more (a lost store)."""
    emp = employee(1, **PARIS_SALES_ATTRS)
    planned = plan(snapshot([emp], [user_for(emp, "u1", mail="old@acme.example")],
                            external_ids=[mapping("u1", 1)],
                            hierarchies=[hierarchy({"u1": {PARIS_SALES}})]), CONFIG)
    assert unsequenced(planned.operations) == (
        AdoptUser(employee_id=1, user_id="u1", how="external_id"),
        UpdateUser(employee_id=1, user_id="u1",
                   fields_changed=(FieldChange("mail", "old@acme.example", "e1@acme.example"),)),
    )


def test_a_deleted_linked_user_is_restored_and_set_again() -> None:
    """R4: a managed user deleted by hand comes back by a create with its mail, in its group;
    its external-ID mapping survived the delete, so it is not written again."""
    emp = employee(1, **PARIS_SALES_ATTRS)
    gone = user_for(emp, "u1", status="deleted")
    planned = plan(snapshot([emp], [gone], [link(1, "u1")], external_ids=[mapping("u1", 1)]), CONFIG)
    assert planned.operations == (
        CreateUser(employee_id=1, user_id=None, mail="e1@acme.example", first_name="First1",
                   last_name="Last1", job="Engineer", group_id=PARIS_SALES, restore_of="u1"),
    )


def test_a_restore_uses_the_deleted_users_mail_then_changes_it() -> None:
    """R4/R5: 360Learning restores only on the deleted user's own mail; a new email follows as an update."""
    emp = employee(1, email="new@acme.example", **PARIS_SALES_ATTRS)
    gone = user_for(emp, "u1", mail="old@acme.example", status="deleted")
    planned = plan(snapshot([emp], [gone], [link(1, "u1")]), CONFIG)
    assert unsequenced(planned.operations) == (
        CreateUser(employee_id=1, user_id=None, mail="old@acme.example", first_name="First1",
                   last_name="Last1", job="Engineer", group_id=PARIS_SALES, restore_of="u1"),
        SetExternalId(employee_id=1, user_id="u1", platform="personio"),
        UpdateUser(employee_id=1, user_id="u1",
                   fields_changed=(FieldChange("mail", "old@acme.example", "new@acme.example"),)),
    )


# --- R4 default fields -----------------------------------------------------------------------


def test_default_fields_that_differ_are_overwritten() -> None:
    """R4: first name, last name, job and mail follow Personio; a case-only mail difference is no change."""
    person = linked_in_step(1)
    emp = person["emp"]
    person["user"] = user_for(emp, "u1", mail="E1@ACME.EXAMPLE", first_name="Old",  # type: ignore[arg-type]
                              last_name=" Last1", job="Intern")
    planned = plan(in_step_snapshot(person), CONFIG)
    assert planned.operations == (UpdateUser(employee_id=1, user_id="u1", fields_changed=(
        FieldChange("first name", "Old", "First1"), FieldChange("last name", " Last1", "Last1"),
        FieldChange("job", "Intern", "Engineer"))),)


def test_an_email_change_changes_the_mail_of_the_same_user() -> None:
    """R4: an email change in Personio changes the 360Learning mail: same user, no create."""
    person = linked_in_step(1, email="new@acme.example")
    person["user"] = user_for(person["emp"], "u1", mail="e1@acme.example")  # type: ignore[arg-type]
    planned = plan(in_step_snapshot(person), CONFIG)
    assert unsequenced(planned.operations) == (UpdateUser(employee_id=1, user_id="u1", fields_changed=(
        FieldChange("mail", "e1@acme.example", "new@acme.example"),)),)


def test_an_empty_position_clears_the_job_but_names_are_never_cleared() -> None:
    """R4: an empty position clears the job; 360Learning requires names, so a missing one stays."""
    emp = Employee(id=1, first_name=None, last_name="Last1", email="e1@acme.example",
                   status="active", position="  ", attributes=PARIS_SALES_ATTRS)
    person = linked_in_step(1)
    person["emp"] = emp
    person["user"] = user_for(emp, "u1", first_name="Anna", job="Chef")
    planned = plan(in_step_snapshot(person), CONFIG)
    assert planned.operations == (UpdateUser(employee_id=1, user_id="u1", fields_changed=(
        FieldChange("job", "Chef", None),)),)


# --- R7 movers -------------------------------------------------------------------------------


def test_a_mover_is_added_to_the_new_target_and_removed_from_the_old() -> None:
    """R7: add to the new target, remove the learner role from the old one."""
    planned = plan(in_step_snapshot(linked_in_step(1, office="Berlin")), CONFIG)
    assert planned.operations == (
        MoveUser(employee_id=1, user_id="u1", add=(BERLIN_SALES,), remove=(PARIS_SALES,)),)


def test_a_removal_whose_cascade_reaches_the_target_re_adds_it() -> None:
    """R7 + API v2 cascade: leaving Paris also drops Paris/Sales, so the target is added back."""
    person = linked_in_step(1)
    person["learners"] = {"u1": {PARIS, PARIS_SALES}}
    planned = plan(in_step_snapshot(person), CONFIG)
    assert planned.operations == (
        MoveUser(employee_id=1, user_id="u1", add=(PARIS_SALES,), remove=(PARIS,)),)


def test_a_removal_stops_at_a_private_subgroup() -> None:
    """R7: removing Paris's learner role does not reach the AI team below the private Tech
    group, so the target (AI) is not added again."""
    person = linked_in_step(1)
    person["emp"] = employee(1, office="Paris", department="Tech", team="AI")
    config = settings(levels=("office", "department", "team"))
    person["learners"] = {"u1": {PARIS, TECH_AI}}
    planned = plan(in_step_snapshot(person), config)
    assert planned.operations == (MoveUser(employee_id=1, user_id="u1", remove=(PARIS,)),)
    assert PARIS_TECH not in planned.operations[0].remove  # type: ignore[union-attr]


def test_leaving_a_hierarchy_removes_its_learner_role() -> None:
    """R7: a hierarchy the filter no longer selects loses the learner role; the other stays."""
    config = settings(groups=[{"id": TOP}, {"id": OTHER, "where": {"subcompany": "B"}}])
    person = linked_in_step(1, subcompany="A")
    snap = in_step_snapshot(person)
    snap = type(snap)(**{**{f: getattr(snap, f) for f in snap.__dataclass_fields__},
                         "hierarchies": {TOP: hierarchy({"u1": {PARIS_SALES}}),
                                         OTHER: flat(OTHER, "B", {"u1": {OTHER}})}})
    assert plan(snap, config).operations == (MoveUser(employee_id=1, user_id="u1", remove=(OTHER,)),)


# --- R9 managers -----------------------------------------------------------------------------


def test_a_supervisor_created_in_the_same_run_resolves_by_employee_id() -> None:
    """R9: managers come after creations; an op names the supervisor's employee id until it exists."""
    planned = plan(snapshot([employee(1, **PARIS_SALES_ATTRS),
                             employee(2, supervisor_id=1, **PARIS_SALES_ATTRS)]), CONFIG)
    managers = [op for op in planned.operations if isinstance(op, SetManager)]
    assert managers == [SetManager(employee_id=2, user_id=None, manager_employee_id=1)]
    assert phase_of(managers[0]) > max(phase_of(op) for op in planned.operations
                                       if isinstance(op, CreateUser))


def test_a_linked_supervisor_resolves_to_its_user() -> None:
    """R9: the supervisor's link gives the manager's user id."""
    planned = plan(in_step_snapshot(linked_in_step(1), linked_in_step(2, supervisor_id=1),
                                    managers={"u2": {"u-other"}}), CONFIG)
    assert planned.operations == (SetManager(employee_id=2, user_id="u2", manager_employee_id=1,
                                             manager_user_id="u1", remove=("u-other",)),)


def test_a_correct_manager_with_an_extra_one_only_loses_the_extra() -> None:
    """R9: the managers become exactly the supervisor's user."""
    planned = plan(in_step_snapshot(linked_in_step(1), linked_in_step(2, supervisor_id=1),
                                    managers={"u2": {"u1", "u-x"}}), CONFIG)
    assert planned.operations == (SetManager(employee_id=2, user_id="u2", remove=("u-x",)),)


@pytest.mark.parametrize("supervisor", ["leaver", "unknown", "unlinked"])
def test_an_out_of_scope_or_unlinked_supervisor_clears_the_manager(supervisor: str) -> None:
    """R9: a supervisor who left, is not in Personio, or has no user (skipped) clears the manager."""
    boss = {"leaver": linked_in_step(1, status="inactive"),
            "unknown": None,
            "unlinked": {"emp": employee(1, email=None, **PARIS_SALES_ATTRS)}}[supervisor]
    report = linked_in_step(2, supervisor_id=1)
    people = [report] if boss is None or "user" not in boss else [boss, report]
    snap = in_step_snapshot(*people, managers={"u2": {"u1"}})
    if boss is not None and "user" not in boss:
        snap = type(snap)(**{**{f: getattr(snap, f) for f in snap.__dataclass_fields__},
                             "employees": {**snap.employees, 1: boss["emp"]}})
    ops = [op for op in plan(snap, CONFIG).operations if isinstance(op, SetManager)]
    assert ops == [SetManager(employee_id=2, user_id="u2", remove=("u1",))]


def test_being_ones_own_supervisor_is_ignored() -> None:
    """R9: a self-supervisor (bad HR data) never makes a user its own manager."""
    assert plan(in_step_snapshot(linked_in_step(1, supervisor_id=1)), CONFIG).empty
    ops = plan(snapshot([employee(1, supervisor_id=1)]), CONFIG).operations
    assert not any(isinstance(op, SetManager) for op in ops)


# --- R5 leavers ------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "reason"), [
    ({"status": "inactive"}, "the employee's status is inactive"),
    ({"status": None}, "the employee's status is empty"),
    ({"subcompany": "C"}, "the employee no longer matches any enabled synced group"),
    (None, "the employee is no longer in Personio"),
])
def test_a_leaver_is_deleted_with_the_reason(change: dict[str, object] | None, reason: str) -> None:
    """R5: inactive, filtered out or gone from Personio: delete the user, close the link."""
    config = settings(groups=[{"id": TOP, "where": {"subcompany": "A"}}])
    person = linked_in_step(1, **{"subcompany": "A", **(change or {})})
    snap = in_step_snapshot(person)
    if change is None:
        snap = type(snap)(**{**{f: getattr(snap, f) for f in snap.__dataclass_fields__}, "employees": {}})
    planned = plan(snap, config)
    assert planned.operations == (
        DeleteUser(employee_id=1, user_id="u1", reason=reason, mail="e1@acme.example"),)
    assert planned.in_scope == 0


def test_deactivate_schedules_the_next_midnight_utc() -> None:
    """R5 with ``leavers = "deactivate"``: ``toBeDeactivatedAt`` the next midnight UTC, account kept."""
    config = settings(leavers="deactivate")
    planned = plan(in_step_snapshot(linked_in_step(1, status="inactive")), config)
    assert planned.operations == (DeactivateUser(
        employee_id=1, user_id="u1", reason="the employee's status is inactive",
        mail="e1@acme.example", at="2025-03-15T00:00:00.000Z"),)


def test_an_already_scheduled_deactivation_only_closes_the_link() -> None:
    """R5: deactivation already scheduled: nothing to send, the link closes."""
    person = linked_in_step(1, status="inactive")
    person["user"] = user_for(person["emp"], "u1", to_be_deactivated_at="2025-03-20T00:00:00.000Z")  # type: ignore[arg-type]
    planned = plan(in_step_snapshot(person), settings(leavers="deactivate"))
    assert planned.operations == (CloseLink(
        employee_id=1, user_id="u1",
        reason="the employee's status is inactive; deactivation already scheduled"),)


@pytest.mark.parametrize("user_state", ["deleted", "gone"])
def test_a_leaver_whose_user_is_already_deleted_only_closes_the_link(user_state: str) -> None:
    """R5: nothing to delete (deleted by hand, or gone): the link closes without an API call."""
    person = linked_in_step(1, status="inactive")
    snap = in_step_snapshot(person)
    users = {"u1": user_for(person["emp"], "u1", status="deleted")} if user_state == "deleted" else {}  # type: ignore[arg-type]
    snap = type(snap)(**{**{f: getattr(snap, f) for f in snap.__dataclass_fields__}, "users": users})
    assert plan(snap, CONFIG).operations == (CloseLink(
        employee_id=1, user_id="u1",
        reason="the employee's status is inactive; the user is already deleted"),)


def test_the_connector_admin_is_never_deleted() -> None:
    """R5/R10: a leaving employee linked to the connector admin's user: an error, no deletion."""
    person = linked_in_step(1, status="inactive", email=ADMIN.upper())
    planned = plan(in_step_snapshot(person), CONFIG)
    assert planned.operations == ()
    assert planned.errors == (EmployeeError(
        1, "protected_user",
        f"the employee's status is inactive, but the user {ADMIN.upper()} is the connector admin: "
        "it is never deleted or deactivated by the connector; change "
        "learning360.connector_admin_email first"),)


# --- R6 unmanaged users ----------------------------------------------------------------------


def test_unmanaged_users_are_never_touched() -> None:
    """R6: unlinked users, in synced groups, with a mapping to a leaver, or managing someone:
    no operation names them (adoption aside)."""
    person = linked_in_step(1)
    stranger = LmsUser("u-x", "stranger@partner.example", "Camille", "Trainer", "Coach")
    snap = in_step_snapshot(person, managers={"u-x": {"u1"}})
    fields = {f: getattr(snap, f) for f in snap.__dataclass_fields__}
    snap = type(snap)(**{**fields, "users": {**snap.users, "u-x": stranger},
                         "employees": {**snap.employees, 5: employee(5, status="inactive")},
                         "external_ids": {**snap.external_ids, "u-x": mapping("u-x", 5)},
                         "hierarchies": {TOP: hierarchy({"u1": {PARIS_SALES}, "u-x": {TOP, PARIS}})}})
    planned = plan(snap, CONFIG)
    assert planned.empty
    assert planned.errors == ()


# --- R15 per-employee errors -----------------------------------------------------------------


def test_email_problems_skip_the_employee_and_say_why() -> None:
    """R15: missing, invalid and duplicate (case-insensitive) emails skip exactly those employees."""
    people = [employee(1, email=None), employee(2, email="bad(at)acme.example"),
              employee(3, email="same@acme.example"), employee(4, email=" SAME@acme.example"),
              employee(5), employee(6, email="   ")]
    planned = plan(snapshot(people), CONFIG)
    assert planned.errors == (
        EmployeeError(1, "missing_email", "the employee has no email in Personio; skipped"),
        EmployeeError(2, "invalid_email",
                      "the employee has an invalid email 'bad(at)acme.example' in Personio; skipped"),
        EmployeeError(3, "duplicate_email", "the email same@acme.example is also the email of "
                      "employee(s) 4 in Personio; skipped until it is unique"),
        EmployeeError(4, "duplicate_email", "the email same@acme.example is also the email of "
                      "employee(s) 3 in Personio; skipped until it is unique"),
        EmployeeError(6, "missing_email", "the employee has no email in Personio; skipped"),
    )
    assert {op.employee_id for op in planned.operations} == {5}
    assert planned.in_scope == 6


def test_an_employee_with_a_broken_email_keeps_its_user() -> None:
    """R15: a linked employee whose email became invalid is skipped, never deleted or relinked."""
    planned = plan(in_step_snapshot(linked_in_step(1, email="broken")), CONFIG)
    assert planned.operations == ()
    assert [e.code for e in planned.errors] == ["invalid_email"]


# --- single person and order -----------------------------------------------------------------


def test_an_employee_id_plan_holds_only_that_person() -> None:
    """``sync --employee ID``: that person's operations and errors only; the counts stay global."""
    snap = snapshot([employee(1), employee(2, supervisor_id=1), employee(3, email=None)])
    one = plan(snap, CONFIG, employee_id=2)
    assert kinds(one.operations) == [("create_user", 2), ("set_external_id", 2)]
    assert one.errors == ()
    assert one.in_scope == 3
    assert [e.employee_id for e in plan(snap, CONFIG, employee_id=3).errors] == [3]


def test_an_employee_id_plan_reaches_a_leaver() -> None:
    """``sync --employee ID`` of someone who left: their deletion alone."""
    snap = in_step_snapshot(linked_in_step(1, status="inactive"), linked_in_step(2, office="Berlin"))
    assert kinds(plan(snap, CONFIG, employee_id=1).operations) == [("delete_user", 1)]


def test_an_employee_id_plan_keeps_the_field_creations_its_values_need() -> None:
    """R8 with ``--employee``: a value in a field created in this run comes with that field's creation."""
    config = settings(custom_fields={"department": "Department"})
    one = plan(snapshot([employee(1, department="Sales")]), config, employee_id=1)
    needed = {ref.removeprefix(NEW) for op in one.operations if isinstance(op, SetCustomValues)
              for ref, _t, _v in op.final if ref.startswith(NEW)}
    created = {op.name for op in one.operations if isinstance(op, CreateCustomField)}
    assert needed <= created


def test_an_employee_id_plan_never_waits_for_a_supervisor_it_does_not_create() -> None:
    """R9 with ``--employee``: a supervisor not created by this plan is unlinked: no manager yet."""
    one = plan(snapshot([employee(1), employee(2, supervisor_id=1)]), CONFIG, employee_id=2)
    created = {op.employee_id for op in one.operations if isinstance(op, CreateUser)}
    for op in one.operations:
        if isinstance(op, SetManager) and op.manager_employee_id is not None \
                and op.manager_user_id is None:
            assert op.manager_employee_id in created


def test_operations_come_in_phase_order_then_by_employee() -> None:
    """Deterministic order: phase (STYLE §7.4), then employee id, then kind."""
    config = settings(custom_fields={"department": "Department"})
    snap = in_step_snapshot(linked_in_step(5, office="Berlin", status="inactive"),
                            linked_in_step(4, office="Berlin"), linked_in_step(6, position="Boss"))
    fields = {f: getattr(snap, f) for f in snap.__dataclass_fields__}
    snap = type(snap)(**{**fields, "employees": {**snap.employees, 3: employee(3, supervisor_id=4),
                                                 1: employee(1, department="HR")}})
    planned = plan(snap, config)
    order = [(phase_of(op), op.employee_id or 0, op.kind) for op in planned.operations]
    assert order == sorted(order)
    assert [name for name, _ in PHASES] == ["custom fields", "users", "updates", "memberships",
                                            "managers", "custom values", "leavers", "write-back"]
    assert kinds(planned.operations)[:3] == [("create_custom_field", None), ("create_user", 1),
                                             ("create_user", 3)]
    assert kinds(planned.operations)[-1] == ("delete_user", 5)
    assert plan(snap, config) == planned


def test_the_plan_serialises_to_json() -> None:
    """``plan --json``: counts, every operation with its rule and changes, errors, notes."""
    planned = plan(snapshot([employee(1), employee(2, email=None)]), CONFIG)
    data = json.loads(json.dumps(planned.to_dict()))
    assert data["counts"] == {"create_user": 1, "set_external_id": 1}
    assert data["operations"][0]["kind"] == "create_user"
    assert data["operations"][0]["rule"] == "R3"
    assert {"name": "learner of", "before": None, "after": TOP} in data["operations"][0]["changes"]
    assert data["errors"] == [{"employee_id": 2, "code": "missing_email",
                               "message": "the employee has no email in Personio; skipped"}]
    assert (data["in_scope"], data["managed"], data["deletion_limit"]) == (2, 0, 10)


def test_custom_values_in_step_plan_nothing_for_a_linked_user() -> None:
    """R8/R14: owned field, equal value: no write."""
    config = settings(custom_fields={"department": "Department"})
    snap = in_step_snapshot(linked_in_step(1), custom_fields=[CustomField("f-d", "Department")],
                            owned_fields={"f-d": "Department"},
                            custom_values={"u1": [CustomValue("f-d", "string", "Sales")]})
    assert plan(snap, config).empty
