"""A run's page reads one page of people from the store, and searches them there (issue 9).

Against a real SQLite state store: the pages hold each person whole, in the order each first
appears, and the search finds the same people as reading every operation (``Person.search_text``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from personio360.cli.render import Names
from personio360.store import Store, open_store
from personio360.store.runs import OperationRecord, PeoplePage, RunSearch
from personio360.web import present

ANNA, BERND, JURGEN, UNNAMED, RENAMED = 101, 102, 103, 104, 105
GROUP, ACADEMY = "650000000000000000000001", "650000000000000000000002"
BOSS = "660000000000000000000009"


def _op(kind: str, employee: int | None, user: str | None, *changes: tuple[str, str | None, str | None],
        outcome: str = "applied") -> OperationRecord:
    return OperationRecord(kind, employee, user, outcome,
                           [{"name": n, "before": b, "after": a} for n, b, a in changes])


#: A run whose people's operations are interleaved, as a sync records them (phase by phase).
OPERATIONS = [
    _op("create_custom_field", None, None, ("custom field", None, "Cost centre")),
    _op("create_user", ANNA, "u-anna", ("mail", None, "anna.schmidt@acme.example"),
        ("first name", None, "Anna"), ("last name", None, "Schmidt"), ("learner of", None, GROUP)),
    _op("create_user", JURGEN, "u-jurgen", ("mail", None, "jurgen@acme.example"),
        ("first name", None, "Jürgen"), ("last name", None, "Müller"), ("learner of", None, ACADEMY)),
    _op("update_user", BERND, "u-bernd", ("job title", "Engineer", "Senior 100% Engineer")),
    _op("update_user", UNNAMED, "u-dora", ("job title", None, "Ärztin")),
    _op("create_user", RENAMED, "u-renamed", ("first name", None, "Carla"), ("last name", None, "Old")),
    _op("set_manager", ANNA, "u-anna", ("manager", None, BOSS)),
    _op("move_user", BERND, "u-bernd", ("learner of", GROUP, ACADEMY), outcome="failed"),
    _op("set_external_id", JURGEN, "u-jurgen", ("external id", None, "103")),
    _op("close_link", None, None, ("link", "7", None)),
]
#: What the latest Preview knew: Bernd and a renamed Carla; the groups; the boss's email.
NAMES = Names(employees={BERND: "Bernd Becker", RENAMED: "Carla New", 999: "Nobody Here"},
              groups={GROUP: "Everyone", ACADEMY: "London academy"},
              users={BOSS: "the.boss@acme.example", "u-anna": "anna.schmidt@acme.example"})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite store with run 1 (the operations above) and run 2 (one other operation)."""
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    first = store.runs.start("sync", "test")
    with store.transaction() as session:
        for op in OPERATIONS:
            store.runs.add_operation(session, first, op)
    store.runs.finish(first, "completed", {}, None)
    second = store.runs.start("sync", "test")
    with store.transaction() as session:
        store.runs.add_operation(session, second, _op("update_user", ANNA, "u-anna", ("job title", "a", "b")))
    store.runs.finish(second, "completed", {}, None)
    yield store
    store.close()


def _who(page: PeoplePage) -> list[int | None]:
    return list(dict.fromkeys(op.employee_id for op in page.operations))


def _search(store: Store, query: str, names: Names = NAMES, limit: int = 100) -> list[int | None]:
    """The run page's search, as ``Admin.run_view`` makes it."""
    runs = store.runs
    search = present.run_search(
        query, names, lambda ids: present.recorded_names(runs.changes_of(1, present.NAMED_FIELDS, ids)),
        lambda: runs.changes_of(1, present.SHOWN_BY_NAME))
    return _who(runs.people(1, limit=limit, search=search))


def _read_everything(store: Store, query: str, names: Names = NAMES) -> list[int | None]:
    """What the page found before (issue 9): every operation read, each person's text searched."""
    detail = store.runs.detail(1)
    assert detail is not None
    people = present.by_person(present.run_rows(detail.operations, names))
    return [p.employee_id for p in people if query.casefold() in p.search_text()]


def test_migration_0003_indexes_operations_by_run_and_employee(store: Store) -> None:
    """A new store has the index the run page's people query reads."""
    indexes = {i["name"]: i["column_names"] for i in inspect(store.engine).get_indexes("operations")}
    assert indexes["ix_operations_run_employee"] == ["run_id", "employee_id"]


def test_people_come_in_the_order_each_first_appears_with_every_operation(store: Store) -> None:
    """The first page holds each of its people whole, though their operations are interleaved."""
    page = store.runs.people(1, offset=0, limit=2)
    assert page.total == 6
    assert _who(page) == [None, ANNA]
    kinds = [op.kind for op in page.operations]
    assert kinds == ["create_custom_field", "create_user", "set_manager", "close_link"]
    assert page.operations[1].changes[1] == {"name": "first name", "before": None, "after": "Anna"}
    assert page.operations[1].at is not None
    assert page.operations[1].at.tzinfo is not None


def test_pages_split_people_never_their_operations(store: Store) -> None:
    """Page by page (one person each), every operation of the run appears once, with its person."""
    seen: list[OperationRecord] = []
    people: list[int | None] = []
    for offset in range(6):
        page = store.runs.people(1, offset=offset, limit=1)
        assert page.total == 6
        assert len(_who(page)) == 1
        people += _who(page)
        seen += page.operations
    assert people == [None, ANNA, JURGEN, BERND, UNNAMED, RENAMED]
    detail = store.runs.detail(1)
    assert detail is not None
    assert sorted(seen, key=detail.operations.index) == detail.operations
    assert len(seen) == len(detail.operations)


def test_past_the_last_page_is_empty_with_the_total(store: Store) -> None:
    """Beyond the last person: no operation, the same total; an unknown run has no one."""
    assert store.runs.people(1, offset=5, limit=2).total == 6
    assert store.runs.people(1, offset=6, limit=2) == PeoplePage(6, [])
    assert store.runs.people(1, offset=60, limit=100) == PeoplePage(6, [])
    assert store.runs.people(99) == PeoplePage(0, [])
    assert store.runs.operation_count(1) == len(OPERATIONS)


def test_search_in_sql_finds_what_operations_store(store: Store) -> None:
    """User id, employee id, email, field name, a value with %, non-ASCII, the outcome, no wildcard."""
    def found(text: str, **extra: Any) -> list[int | None]:
        return _who(store.runs.people(1, search=RunSearch(text, **extra)))

    assert found("U-BERND") == [BERND]
    assert found("10") == [ANNA, JURGEN, BERND, UNNAMED, RENAMED]  # the ids; 103 is also a value
    assert found("103") == [JURGEN]
    assert found("anna.SCHMIDT@") == [ANNA]
    assert found("job title") == [BERND, UNNAMED]
    assert found("100% eng") == [BERND]
    assert found("%") == [BERND]  # a wildcard is looked for as itself
    assert found("_") == []  # and so is the other (no stored value holds one)
    assert found("müller") == [JURGEN]  # stored escaped (\u00fc) in the JSON
    assert found("Ärztin") == found("ÄRZTIN") == [UNNAMED]  # as typed, or in lower case
    assert found("failed") == [BERND]
    assert found("employee 104") == [UNNAMED]
    assert found("name") == [ANNA, JURGEN, RENAMED]  # first and last name: the JSON keys are not searched
    assert found("null") == []
    assert found("nothing like it") == []
    assert found("zzz", kinds=frozenset({"close_link"})) == [None]
    assert found("zzz", employees=frozenset({RENAMED, None, 999})) == [None, RENAMED]
    assert _who(store.runs.people(2, search=RunSearch("u-anna"))) == [ANNA]


@pytest.mark.parametrize("query", [
    "Anna", "anna schmidt", "Schmidt (101)", "JÜRGEN MÜLLER", "müller", "Bernd Becker", "becker",
    "Carla Old", "Carla New", "carla", "employee 104", "platform", "form", "London academy",
    "everyone", "the.boss@", "acme.example", "create user", "set manager", "move user (group)", "applied",
    "failed", "u-jurgen", "10", "105", "job title", "senior 100%", "cost centre", "custom field",
    "name", "r", "zzz",
])
def test_search_finds_the_same_people_as_reading_every_operation(store: Store, query: str) -> None:
    """The store's search, with the names resolved beside it, finds who the page found before."""
    assert _search(store, query) == _read_everything(store, query)


@pytest.mark.parametrize(("query", "now", "before"), [
    ("employee", [ANNA, JURGEN, BERND, UNNAMED, RENAMED], [UNNAMED]),  # the placeholder, for anyone
    ("ee 10", [ANNA, JURGEN, BERND, UNNAMED, RENAMED], [UNNAMED]),
    ("∅", [], [None, ANNA, JURGEN, UNNAMED, RENAMED]),  # the sign of an empty value, not stored
    ("r ", [ANNA, JURGEN, BERND], [ANNA, JURGEN, BERND, UNNAMED, RENAMED]),  # "create use[r a]pplied"
    (") ", [], [ANNA, JURGEN, BERND, RENAMED]),  # "Schmidt (101[) ]101"
    ("ärztin", [], [UNNAMED]),  # a stored Ä is found as Ä only (SQLite lowers ASCII letters only)
])
def test_search_differs_only_where_the_readme_says(store: Store, query: str, now: list[int | None],
                                                   before: list[int | None]) -> None:
    """The differences: "employee" finds everyone, "∅" no one, text across two parts of a row (the
    name and the id, the kind and the outcome) is no longer found, nor a capital Ä typed as ä."""
    assert (_search(store, query), _read_everything(store, query)) == (now, before)


def test_search_without_a_preview_uses_the_names_the_run_recorded(store: Store) -> None:
    """With no Preview (no names known), people are found by the names their run recorded."""
    assert _search(store, "jürgen m", Names()) == _read_everything(store, "jürgen m", Names()) == [JURGEN]
    assert _search(store, "employee 102", Names()) == [BERND]


def test_a_search_pages_too(store: Store) -> None:
    """Searched, the total is the people found, and a page holds its limit."""
    search = present.run_search("acme", NAMES, lambda _ids: {}, lambda: [])
    first = store.runs.people(1, limit=1, search=search)
    second = store.runs.people(1, offset=1, limit=1, search=search)
    assert (first.total, _who(first), _who(second)) == (2, [ANNA], [JURGEN])
