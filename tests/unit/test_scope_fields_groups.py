"""R1 scope, R4/R8 value rendering, and R7 target groups and the learner-removal cascade."""

from __future__ import annotations

import datetime as dt

import pytest

from personio360.domain import AttributeValue, Group
from personio360.sync.fields import clean_email, render, same_text
from personio360.sync.groups import cascade, target_group
from personio360.sync.scope import IN_SCOPE_STATUSES, in_scope, matches, selecting_groups
from personio360.sync.snapshot import Hierarchy
from strategies import (
    BERLIN,
    BERLIN_SALES,
    LEADERSHIP,
    OTHER,
    PARIS,
    PARIS_SALES,
    PARIS_TECH,
    TECH_AI,
    TOP,
    employee,
    hierarchy,
    settings,
)

# --- R1 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "expected"), [
    ("active", True), ("onboarding", True), ("leave", True), (" Active ", True),
    ("inactive", False), ("", False), (None, False), ("terminated", False),
])
def test_only_active_onboarding_and_leave_are_in_scope(status: str | None, expected: bool) -> None:
    """R1: the status decides first (trimmed, case-insensitive)."""
    assert in_scope(employee(1, status=status), settings().groups) is expected
    assert frozenset({"active", "onboarding", "leave"}) == IN_SCOPE_STATUSES


def test_a_filter_with_one_value_matches_trimmed_and_case_insensitively() -> None:
    """R1: ``where = { subcompany = "ACME France" }`` compares trimmed, case-insensitive text."""
    config = settings(groups=[{"id": TOP, "where": {"subcompany": "ACME France"}}])
    assert in_scope(employee(1, subcompany="  acme FRANCE "), config.groups)
    assert not in_scope(employee(2, subcompany="ACME Germany"), config.groups)
    assert not in_scope(employee(3), config.groups)  # the attribute is absent
    assert not in_scope(employee(4, subcompany=None), config.groups)


def test_a_filter_with_a_list_matches_any_listed_value() -> None:
    """R1: a list of values accepts any of them; numbers compare as text."""
    config = settings(groups=[{"id": TOP, "where": {"office": ["Paris", "Lyon"], "dynamic_9": 7}}])
    group = config.groups[0]
    assert matches(employee(1, office="lyon", dynamic_9=7), group)
    assert matches(employee(2, office="Paris", dynamic_9="7"), group)
    assert not matches(employee(3, office="Paris", dynamic_9=8), group)
    assert not matches(employee(4, office="Berlin", dynamic_9=7), group)


def test_a_list_valued_attribute_matches_its_rendered_text() -> None:
    """Filters compare the rendered value: a tuple of cost centers renders as "a, b"."""
    group = settings(groups=[{"id": TOP, "where": {"cost_centers": "Ops, R&D"}}]).groups[0]
    assert matches(employee(1, cost_centers=("Ops", "R&D")), group)


def test_disabled_groups_select_nobody() -> None:
    """R1: only enabled synced groups count; ``selecting_groups`` keeps config order."""
    config = settings(groups=[
        {"id": TOP, "enabled": False},
        {"id": OTHER, "where": {"subcompany": "B"}},
    ])
    assert not in_scope(employee(1, subcompany="A"), config.groups)
    assert in_scope(employee(2, subcompany="B"), config.groups)
    both = settings(groups=[{"id": OTHER, "where": {"subcompany": "B"}}, {"id": TOP}])
    assert [g.id for g in selecting_groups(employee(3, subcompany="b"), both.groups)] == [OTHER, TOP]


# --- rendering -------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    (None, None),
    ("", None),
    ("   ", None),
    ("Engineering", "Engineering"),
    ("  padded  ", "padded"),
    (("Ops", "R&D"), "Ops, R&D"),
    (("Ops", "", None), "Ops"),
    ((), None),
    (dt.date(2024, 2, 29), "2024-02-29"),
    (dt.datetime(2024, 2, 29, 23, 59, tzinfo=dt.UTC), "2024-02-29"),
    (True, "true"),
    (False, "false"),
    (42, "42"),
    (40.0, "40"),
    (37.5, "37.5"),
    ("line\nbreak\ttab\x00nul", "line break tab nul"),
    ("a\x7f\x85b", "a b"),
    ("Zoë 李", "Zoë 李"),
])
def test_render(value: AttributeValue, text: str | None) -> None:
    """R8: objects by name (done by the client), lists joined ", ", dates YYYY-MM-DD, empty → None,
    control characters become single spaces."""
    assert render(value) == text


def test_same_text_folds_case_spaces_and_unicode_forms() -> None:
    """R7 and filters: trimmed, case-insensitive, NFC-normalised; None equals only None."""
    assert same_text(" Zoë ", "ZOE\u0308")
    assert same_text("Straße", "STRASSE")
    assert not same_text("Paris", "Pari")
    assert same_text(None, None)
    assert not same_text(None, "")


@pytest.mark.parametrize(("raw", "clean"), [
    ("Anna.Becker@Example.COM", "anna.becker@example.com"),
    ("  padded@example.com ", "padded@example.com"),
    (None, None),
    ("", None),
    ("anna(at)example.com", None),
    ("anna@example", None),
    ("anna@@example.com", None),
    ("a b@example.com", None),
    ("anna@example.com.", None),
    ("anna@example.com, bob@example.com", None),
    ("<anna@example.com>", None),
])
def test_clean_email(raw: str | None, clean: str | None) -> None:
    """R2/R15: trimmed and lower-cased when valid, else None (the employee is skipped)."""
    assert clean_email(raw) == clean


# --- R7 --------------------------------------------------------------------------------------

LEVELS = ("office", "department")


@pytest.mark.parametrize(("attributes", "target"), [
    ({"office": "Paris", "department": "Sales"}, PARIS_SALES),   # full match
    ({"office": " paris ", "department": "SALES"}, PARIS_SALES),  # trimmed, case-insensitive
    ({"office": "Berlin", "department": "sales"}, BERLIN_SALES),  # group named "  berlin " / "SALES "
    ({"office": "Paris", "department": "HR"}, PARIS),             # partial: deepest reached
    ({"office": "Paris"}, PARIS),                                 # no department at all
    ({"office": "Paris", "department": None}, PARIS),
    ({"office": "Rome", "department": "Sales"}, TOP),             # no match: the synced group
    ({"department": "Sales"}, TOP),                               # stops at the first level
    ({}, TOP),
    ({"office": "Leadership"}, LEADERSHIP),                       # private groups are targets too
])
def test_target_group(attributes: dict[str, AttributeValue], target: str) -> None:
    """R7: descend level by level into the child named like the value; stop at the first miss."""
    assert target_group(hierarchy(), employee(1, **attributes), LEVELS) == target


def test_without_levels_the_target_is_the_synced_group() -> None:
    """R7: without group structure, the target is the synced group itself."""
    assert target_group(hierarchy(), employee(1, office="Paris"), ()) == TOP


def test_two_children_with_one_name_resolve_to_the_lowest_id() -> None:
    """Ambiguous names resolve the same way every run (deterministic R7)."""
    top = Group(TOP, "All", None)
    tree = Hierarchy(top=top, children={TOP: (Group("g-b", "Paris", TOP), Group("g-a", " PARIS", TOP))})
    assert target_group(tree, employee(1, office="paris"), ("office",)) == "g-a"


def test_cascade_goes_down_public_subgroups_to_the_first_private_one() -> None:
    """API v2: removing a learner also removes it from public subgroups down to the first private one."""
    tree = hierarchy()
    assert cascade(tree, [TOP]) == {TOP, PARIS, PARIS_SALES, BERLIN, BERLIN_SALES}
    assert cascade(tree, [PARIS]) == {PARIS, PARIS_SALES}
    assert cascade(tree, [PARIS_TECH]) == {PARIS_TECH, TECH_AI}  # below a private one: its public child
    assert cascade(tree, [LEADERSHIP]) == {LEADERSHIP}
    assert cascade(tree, [PARIS_SALES, BERLIN]) == {PARIS_SALES, BERLIN, BERLIN_SALES}
    assert cascade(tree, []) == frozenset()


def test_a_subgroup_of_unknown_visibility_is_treated_as_public() -> None:
    """``public=None`` (not sent) cascades, the cautious reading: the planner re-adds if needed."""
    top = Group(TOP, "All", None)
    tree = Hierarchy(top=top, children={TOP: (Group("g-x", "X", TOP, public=None),)})
    assert cascade(tree, [TOP]) == {TOP, "g-x"}


def test_hierarchy_lookups() -> None:
    """``group_ids`` lists the whole subtree; ``group`` finds any group in it, or None."""
    tree = hierarchy()
    assert tree.group_ids == {TOP, PARIS, BERLIN, LEADERSHIP, PARIS_SALES, PARIS_TECH, TECH_AI,
                              BERLIN_SALES}
    assert tree.group(TOP) == tree.top
    group = tree.group(TECH_AI)
    assert group is not None
    assert group.name == "AI"
    assert tree.group("nope") is None
