"""R2/R6 matching, R8 custom fields and values, and the R13 safeguards (pure modules)."""

from __future__ import annotations

import datetime as dt

import pytest

from personio360.config import Settings
from personio360.domain import CustomField, CustomValue, Employee, LmsUser
from personio360.errors import RunStopped
from personio360.sync.custom import NEW, plan_fields, plan_values, values_context
from personio360.sync.matching import Match, mail_index, resolve
from personio360.sync.operations import (
    CreateCustomField,
    DeleteUser,
    FieldChange,
    Plan,
    SetCustomValues,
    UpdateUser,
)
from personio360.sync.safety import check_snapshot, hold_back_deletions
from personio360.sync.snapshot import Snapshot
from strategies import employee, link, mapping, settings, snapshot

# --- R2 matching -----------------------------------------------------------------------------


def test_an_open_link_wins() -> None:
    """R2: the link comes first, whatever the mail or mappings say."""
    snap = snapshot(users=[LmsUser("u1", "other@x.example"), LmsUser("u2", "e1@acme.example")],
                    links=[link(1, "u1")], external_ids=[mapping("u2", 1)])
    matches, errors = resolve(snap, {1: "e1@acme.example"})
    assert matches == {1: Match(1, "link", "u1")}
    assert errors == []


def test_an_external_id_mapping_comes_before_the_email() -> None:
    """R2(1): the user our platform's mapping ties to the employee id."""
    snap = snapshot(users=[LmsUser("u1", "old@x.example"), LmsUser("u2", "e1@acme.example")],
                    external_ids=[mapping("u1", 1)])
    assert resolve(snap, {1: "e1@acme.example"}) == ({1: Match(1, "external_id", "u1")}, [])


def test_a_mapping_to_a_user_that_no_longer_exists_is_ignored() -> None:
    """A mapping whose target is not among the users falls through to the email."""
    snap = snapshot(users=[LmsUser("u2", "e1@acme.example")], external_ids=[mapping("u-gone", 1)])
    assert resolve(snap, {1: "e1@acme.example"}) == ({1: Match(1, "email", "u2")}, [])


def test_the_email_adopts_whatever_its_case_and_spaces() -> None:
    """R2(2): the user whose mail equals the employee's email, trimmed and case-insensitive."""
    snap = snapshot(users=[LmsUser("u1", "  Anna.Becker@ACME.example ")])
    assert resolve(snap, {7: "anna.becker@acme.example"}) == ({7: Match(7, "email", "u1")}, [])


def test_no_user_means_create() -> None:
    """R2(3): nobody matches: a new user."""
    assert resolve(snapshot(), {3: "e3@acme.example"}) == ({3: Match(3, "create")}, [])


def test_a_deleted_user_is_restored_by_link_or_by_mail() -> None:
    """R4/R5: a linked or mail-matched deleted user comes back through restore-on-create."""
    snap = snapshot(users=[LmsUser("u1", "e1@acme.example", status="deleted"),
                           LmsUser("u2", "e2@acme.example", status="deleted")],
                    links=[link(1, "u1")])
    matches, _ = resolve(snap, {1: "e1@acme.example", 2: "e2@acme.example"})
    assert matches == {1: Match(1, "restore", "u1"), 2: Match(2, "restore", "u2")}


def test_a_linked_user_missing_from_360learning_is_restored() -> None:
    """A link whose user is gone entirely is served by a create (restore) again."""
    matches, _ = resolve(snapshot(links=[link(1, "u-gone")]), {1: "e1@acme.example"})
    assert matches == {1: Match(1, "restore", "u-gone")}


def test_a_live_user_wins_the_mail_over_a_deleted_one() -> None:
    """Two users may hold one mail when one is deleted: the live one is adopted."""
    users = {u.id: u for u in [LmsUser("u9", "a@x.example", status="deleted"),
                               LmsUser("u1", "A@x.example")]}
    assert mail_index(users) == {"a@x.example": "u1"}


def test_a_user_claimed_by_another_employee_is_never_given_away() -> None:
    """R15: the email belongs to another employee's user: an error, and nothing linked."""
    snap = snapshot(users=[LmsUser("u1", "shared@acme.example")], links=[link(5, "u1")])
    matches, errors = resolve(snap, {5: "five@acme.example", 9: "shared@acme.example"})
    assert matches == {5: Match(5, "link", "u1")}
    assert [(e.employee_id, e.code) for e in errors] == [(9, "email_in_use")]
    assert errors[0].message == (
        "the email shared@acme.example belongs to the 360Learning user linked to employee 5; "
        "nothing was linked (it resolves once employee 5's email differs)")


def test_a_mapping_to_a_claimed_user_is_not_followed() -> None:
    """R2/R6: a mapping naming employee 9 on employee 5's user does not take the user from 5."""
    snap = snapshot(users=[LmsUser("u1", "five@acme.example")], links=[link(5, "u1")],
                    external_ids=[mapping("u1", 9)])
    matches, errors = resolve(snap, {5: "five@acme.example", 9: "nine@acme.example"})
    assert matches[9] == Match(9, "create")
    assert errors == []


def test_one_user_is_adopted_by_one_employee_only() -> None:
    """Two employees whose emails reach one user: the lower id adopts it, the other gets an error."""
    snap = snapshot(users=[LmsUser("u1", "same@acme.example")])
    matches, errors = resolve(snap, {1: "same@acme.example", 2: "same@acme.example"})
    assert matches == {1: Match(1, "email", "u1")}
    assert [(e.employee_id, e.code) for e in errors] == [(2, "email_in_use")]


def test_a_mapping_claims_its_user_before_any_email_does() -> None:
    """R2/R15: the user mapped to employee 2 is never adopted by employee 1 through its email."""
    snap = snapshot(users=[LmsUser("u1", "two@acme.example")], external_ids=[mapping("u1", 2)])
    matches, errors = resolve(snap, {1: "two@acme.example", 2: "two.new@acme.example"})
    assert matches == {2: Match(2, "external_id", "u1")}
    assert [(e.employee_id, e.code) for e in errors] == [(1, "email_in_use")]


def test_external_id_match_ignores_mapping_order() -> None:
    """Determinism: two mappings with one value resolve to the same user whatever their order."""
    users = [LmsUser("u1", "old@x.example", status="deleted"), LmsUser("u2", "new@x.example")]
    one = snapshot(users=users, external_ids=[mapping("u1", 3), mapping("u2", 3)])
    other = snapshot(users=users, external_ids=[mapping("u2", 3), mapping("u1", 3)])
    assert resolve(one, {3: "e3@acme.example"}) == resolve(other, {3: "e3@acme.example"})


# --- R8 custom fields ------------------------------------------------------------------------

FIELDS = {"department": "Department", "dynamic_1": "Start date"}


def test_a_missing_field_is_created_with_the_attribute_type() -> None:
    """R8: a configured field missing from 360Learning is created; date attributes make date fields."""
    snap = snapshot([employee(1, department="Sales", dynamic_1=dt.date(2024, 1, 2))])
    ops, ids = plan_fields(snap, settings(custom_fields=FIELDS))
    assert ops == [
        CreateCustomField(None, None, attribute="department", name="Department", type="string"),
        CreateCustomField(None, None, attribute="dynamic_1", name="Start date", type="date"),
    ]
    assert ids == {"Department": None, "Start date": None}


def test_an_existing_field_with_the_name_is_taken_over() -> None:
    """R8: a field already named like the config (trimmed, any case) is owned, not duplicated."""
    snap = snapshot(custom_fields=[CustomField("f2", " department"), CustomField("f1", "DEPARTMENT")])
    ops, ids = plan_fields(snap, settings(custom_fields={"department": "Department"}))
    assert ops == [CreateCustomField(None, None, attribute="department", name="Department",
                                     type="string", existing_id="f1")]
    assert ids == {"Department": "f1"}


def values_of(snap: Snapshot, config: Settings, emp: Employee, user_id: str,
              ids: dict[str, str | None]) -> SetCustomValues | None:
    """``plan_values`` for ``user_id`` with the values the snapshot read for it."""
    return plan_values(config, emp, user_id, snap.custom_values.get(user_id, ()),
                       values_context(snap, config, ids))


def test_an_owned_field_needs_nothing() -> None:
    """R8: the field the store says we own, still named so, is used as is (the newest one)."""
    snap = snapshot(custom_fields=[CustomField("f1", "Department"), CustomField("f2", "Department")],
                    owned_fields={"f2": "Department", "f1": "Department"})
    assert plan_fields(snap, settings(custom_fields={"department": "Department"})) == \
        ([], {"Department": "f1"})


def test_a_field_of_groups_is_not_a_field_of_users() -> None:
    """Only ``targetType = users`` fields count."""
    snap = snapshot(custom_fields=[CustomField("f1", "Department", target_type="groups")])
    ops, _ = plan_fields(snap, settings(custom_fields={"department": "Department"}))
    assert [op.existing_id for op in ops] == [None]


def test_a_renamed_owned_field_gets_a_new_field_and_loses_its_values() -> None:
    """R8: the renamed field stays but its synced users' values go; a new field is created."""
    emp = employee(1, department="Sales")
    snap = snapshot([emp], custom_fields=[CustomField("f-old", "Dept (old)"), CustomField("f-x", "Hobby")],
                    owned_fields={"f-old": "Department"},
                    custom_values={"u1": [CustomValue("f-old", "string", "Sales"),
                                          CustomValue("f-x", "string", "Chess")]})
    config = settings(custom_fields={"department": "Department"})
    ops, ids = plan_fields(snap, config)
    assert ops == [CreateCustomField(None, None, attribute="department", name="Department")]
    values = values_of(snap, config, emp, "u1", ids)
    assert values == SetCustomValues(
        employee_id=1, user_id="u1",
        values=(FieldChange("Dept (old)", "Sales", None), FieldChange("Department", None, "Sales")),
        final=(("f-x", "string", "Chess"), (f"{NEW}Department", "string", "Sales")),
    )


def test_values_keep_unsynced_fields_in_the_put_list() -> None:
    """R8: the PUT replaces the whole list, so fields the connector does not sync ride along unchanged."""
    emp = employee(1, department="Tech")
    snap = snapshot([emp], custom_fields=[CustomField("f-d", "Department"), CustomField("f-x", "Hobby")],
                    owned_fields={"f-d": "Department"},
                    custom_values={"u1": [CustomValue("f-x", "string", "Chess"),
                                          CustomValue("f-d", "string", "Sales")]})
    config = settings(custom_fields={"department": "Department"})
    _, ids = plan_fields(snap, config)
    assert values_of(snap, config, emp, "u1", ids) == SetCustomValues(
        employee_id=1, user_id="u1", values=(FieldChange("Department", "Sales", "Tech"),),
        final=(("f-x", "string", "Chess"), ("f-d", "string", "Tech")))


def test_values_in_step_need_nothing_and_an_empty_value_clears() -> None:
    """R8: equal values plan nothing; an empty Personio value removes the value."""
    snap = snapshot(custom_fields=[CustomField("f-d", "Department")], owned_fields={"f-d": "Department"},
                    custom_values={"u1": [CustomValue("f-d", "string", "Sales")]})
    config = settings(custom_fields={"department": "Department"})
    _, ids = plan_fields(snap, config)
    assert values_of(snap, config, employee(1, department=" Sales "), "u1", ids) is None
    cleared = values_of(snap, config, employee(1, department=None), "u1", ids)
    assert cleared is not None
    assert cleared.values == (FieldChange("Department", "Sales", None),)
    assert cleared.final == ()


def test_a_removed_value_is_set_again() -> None:
    """R8: a value removed by hand in 360Learning comes back."""
    snap = snapshot(custom_fields=[CustomField("f-d", "Department")], owned_fields={"f-d": "Department"})
    config = settings(custom_fields={"department": "Department"})
    _, ids = plan_fields(snap, config)
    values = values_of(snap, config, employee(1, department="Sales"), "u1", ids)
    assert values is not None
    assert values.final == (("f-d", "string", "Sales"),)


def test_date_fields_take_yyyy_mm_dd() -> None:
    """R8: dates render as YYYY-MM-DD; a datetime-looking text is cut to its date for a date field."""
    snap = snapshot(custom_fields=[CustomField("f-s", "Start", type="date")], owned_fields={"f-s": "Start"})
    config = settings(custom_fields={"hire_date": "Start"})
    _, ids = plan_fields(snap, config)
    values = (dt.date(2023, 5, 1), dt.datetime(2023, 5, 1, 8, tzinfo=dt.UTC), "2023-05-01T08:00:00+02:00")
    for value in values:
        planned = values_of(snap, config, employee(1, hire_date=value), "u1", ids)
        assert planned is not None
        assert planned.final == (("f-s", "date", "2023-05-01"),)
    assert values_of(snap, config, employee(1, hire_date="soon"), "u1", ids) is None


def test_no_configured_field_plans_no_value() -> None:
    """Without ``[custom_fields]`` nothing is read or written."""
    assert values_of(snapshot(), settings(), employee(1, department="x"), "u1", {}) is None


# --- R13 -------------------------------------------------------------------------------------


def test_no_in_scope_employee_while_users_are_managed_stops_the_run() -> None:
    """R13a: an empty (or out-of-scope) Personio answer never becomes a mass deletion."""
    snap = snapshot([employee(1, status="inactive")], links=[link(1, "u1"), link(2, "u2")])
    with pytest.raises(RunStopped) as caught:
        check_snapshot(snap, settings())
    assert str(caught.value) == ("Personio returned no in-scope employee (1 employees read) while 2 "
                                 "users are managed: the run stopped before any change")
    assert caught.value.exit_code == 3
    assert caught.value.hint is not None
    assert "[[groups]] filters" in caught.value.hint


def test_an_empty_personio_is_fine_when_nobody_is_managed() -> None:
    """R13a: a first run on an empty company is not a failure; one in-scope employee is enough."""
    check_snapshot(snapshot(), settings())
    check_snapshot(snapshot([employee(1), employee(2, status="inactive")],
                            links=[link(2, "u2")]), settings())


def _leavers(count: int, limit: int) -> Plan:
    update = UpdateUser(employee_id=99, user_id="u99", fields_changed=(FieldChange("job", "a", "b"),))
    deletes = tuple(DeleteUser(employee_id=i, user_id=f"u{i}", reason="left") for i in range(count))
    return Plan(operations=(update, *deletes), deletion_limit=limit, managed=100)


@pytest.mark.parametrize(("count", "limit", "held"), [(3, 3, 0), (4, 3, 4), (1, 0, 1), (0, 0, 0)])
def test_deletions_over_the_limit_are_held_back(count: int, limit: int, held: int) -> None:
    """R13b: over the limit ALL deletions are held back (reported, not applied); the rest goes on."""
    planned = _leavers(count, limit)
    guarded = hold_back_deletions(planned, allow_deletions=False)
    assert len(guarded.held_back) == held
    if held:
        assert [op.kind for op in guarded.operations] == ["update_user"]
        assert guarded.notes == (
            f"{count} users would be removed, more than the limit of {limit} per 24h "
            "(safety.max_deletions): held back; review them, then run sync --allow-deletions",)
    else:
        assert guarded == planned


@pytest.mark.parametrize(("already", "count", "held"), [(0, 3, 0), (2, 1, 0), (3, 1, 1), (2, 2, 2)])
def test_the_limit_is_a_budget_over_the_window(already: int, count: int, held: int) -> None:
    """R13b across runs (R17): the users earlier runs of the window removed count against the
    same limit, so a trickle is held back once the budget is spent, all of this run's at once."""
    planned = _leavers(count, 3)
    guarded = hold_back_deletions(planned, allow_deletions=False, already=already, window="24h")
    assert len(guarded.held_back) == held
    if held:
        assert guarded.notes[-1].startswith(
            f"{count} users would be removed, after {already} already removed in the last 24h, "
            "more than the limit of 3 per 24h")
    assert hold_back_deletions(planned, allow_deletions=True, already=already) == planned


def test_allow_deletions_lets_them_through() -> None:
    """R13b: ``--allow-deletions`` applies every deletion."""
    planned = _leavers(30, 3)
    assert hold_back_deletions(planned, allow_deletions=True) == planned
