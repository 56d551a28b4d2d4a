"""``explain`` end to end (issue 8): scope and its deciding filter, the link and how it is made, the
target group and why a deeper level did not match, fields on both sides, the manager, the operations;
a 360Learning-only email is unmanaged (R6). Explaining reads what ``plan`` reads and writes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from personio360.errors import ConfigError
from personio360.sync.explain import Explanation, explain

if TYPE_CHECKING:
    from .conftest import ReviewEnv


def explained(env: ReviewEnv, who: str | int) -> Explanation:
    """``explain`` over what ``plan`` reads (focused on the employee when given an id)."""
    focus = who if isinstance(who, int) else None
    return explain(env.prepare(employee_id=focus).snapshot, env.settings, str(who))


def ordinary(env: ReviewEnv) -> list[int]:
    """In-scope employees without a planted edge case."""
    odd = {i for ids in env.sb.company.edge_cases.values() for i in ids}
    return [e["id"] for e in env.sb.personio.state.employees()
            if e["id"] not in odd and e.get("status") in ("active", "onboarding", "leave")]


def test_not_yet_created_employee_will_be_created(env: ReviewEnv) -> None:
    """Before the first sync, an ordinary employee has no user: the link says a sync creates it (R3)."""
    employee_id = ordinary(env)[0]

    result = explained(env, employee_id)

    assert result.in_scope
    assert result.link == "create"
    assert result.user_id is None
    assert "creates the user" in result.verdict
    assert "create_user" in {op.kind for op in result.operations}
    assert all(not row.in_step for row in result.fields)
    assert env.writes() == 0


def test_adopted_by_email(env: ReviewEnv) -> None:
    """An employee whose email a 360Learning user already has is adopted by email (R2 2)."""
    employee_id = env.sb.company.edge_cases["adoptable"][0]
    mail = env.sb.company.employee(employee_id).email or ""

    result = explained(env, employee_id)

    assert result.link == "email"
    assert result.user_mail is not None
    assert result.user_mail.lower() == mail.lower()
    assert "the same email (R2 2)" in result.link_detail
    assert "adopt_user" in {op.kind for op in result.operations}
    assert "adopts the 360Learning user with the same email" in result.verdict


def test_in_scope_managed_employee_with_a_pending_change(synced: ReviewEnv) -> None:
    """A linked employee: the link, the fields side by side, the manager, and the one pending update."""
    env = synced
    links = env.ctx.store.links.active()
    employee_id = next(i for i in ordinary(env) + env.sb.company.edge_cases["non_ascii_names"]
                       if i in links and env.sb.personio.state.employee(i).get("supervisor") in links)
    env.sb.personio.state.update(employee_id, position="Staff Engineer")
    boss = env.sb.company.employee(env.sb.personio.state.employee(employee_id)["supervisor"])

    result = explained(env, employee_id)

    assert result.in_scope
    assert result.managed
    assert result.link == "link"
    assert result.user_id == env.user_id_of(employee_id)
    rows = {row.name: row for row in result.fields}
    assert rows["job title"].personio == "Staff Engineer"
    assert not rows["job title"].in_step
    assert rows["first name"].in_step
    assert rows["external id"].learning360 == str(employee_id)
    assert any(row.name.startswith("Department") and row.in_step for row in result.custom_fields)
    assert f"supervisor {boss.first_name} {boss.last_name}" in result.manager
    assert "their linked user" in result.manager
    assert [op.kind for op in result.operations] == ["update_user"]
    assert "a sync would make 1 change" in result.verdict


def test_out_of_scope_names_the_filter(env: ReviewEnv) -> None:
    """With ``where = { office = "Berlin" }``, a London employee is out of scope and the filter says why."""
    berlin_only = 'enabled = true\nwhere = { office = "Berlin" }'
    env.reconfigure(lambda text: text.replace("enabled = true", berlin_only))
    londoner = next(i for i in ordinary(env) if env.sb.personio.state.employee(i).get("office") == "London")

    result = explained(env, londoner)

    assert not result.in_scope
    assert "office is 'London', not 'Berlin'" in result.decided_by
    assert result.verdict.startswith("out of scope")
    assert result.operations == ()
    assert result.placements == ()


def test_out_of_scope_by_status(env: ReviewEnv) -> None:
    """An inactive employee is out of scope because of their status (R1)."""
    leaver = next(e["id"] for e in env.sb.personio.state.employees() if e.get("status") == "inactive")

    result = explained(env, leaver)

    assert not result.in_scope
    assert result.decided_by.startswith("status inactive")


def test_group_partial_match_says_why_the_deeper_level_did_not_match(env: ReviewEnv) -> None:
    """The office matches a subgroup but the department does not: the target stops at the office (R7)."""
    results = [explained(env, i) for i in ordinary(env)]
    partial = next(r for r in results if len(r.placements[0].steps) == 2
                   and r.placements[0].steps[0].group_id and not r.placements[0].steps[1].group_id
                   and r.placements[0].steps[1].value)
    place = partial.placements[0]
    office, department = place.steps

    assert place.target == office.group
    assert place.target_id == office.group_id
    assert f"no subgroup of '{office.group}' is named {department.value!r}" in department.detail
    assert f"stays in '{office.group}'" in department.detail


def test_unmanaged_user_is_not_touched(synced: ReviewEnv) -> None:
    """An email only 360Learning knows is an unmanaged user: explain says a sync never touches it (R6)."""
    env = synced

    result = explained(env, "trainer@partner-academy.example")

    assert result.link == "unmanaged"
    assert result.employee_id is None
    assert not result.managed
    assert "will not touch it (R6)" in result.verdict
    assert result.operations == ()


def test_email_and_id_explain_the_same_employee(synced: ReviewEnv) -> None:
    """An employee's email, in any case, names the same person as their id."""
    env = synced
    employee_id = env.plain_employees()[0]
    mail = (env.sb.company.employee(employee_id).email or "").upper()

    by_mail = explained(env, mail)
    by_id = explained(env, employee_id)

    assert by_mail.employee_id == employee_id
    assert by_mail.verdict == by_id.verdict


@pytest.mark.parametrize("who", ["999999", "nobody@nowhere.example"])
def test_unknown_person_is_a_usage_error(env: ReviewEnv, who: str) -> None:
    """Neither side knows the id or email: ``ConfigError`` (exit 2) naming it."""
    snapshot = env.prepare().snapshot

    with pytest.raises(ConfigError) as caught:
        explain(snapshot, env.settings, who)

    assert who in str(caught.value)
    assert caught.value.exit_code == 2


def test_explain_command_reads_what_plan_reads_and_writes_nothing(synced: ReviewEnv) -> None:
    """``personio360 explain ID`` makes the very read calls of ``plan --employee ID``, and no write."""
    from click.testing import CliRunner

    from personio360.cli.main import cli

    env = synced
    employee_id = env.plain_employees()[0]
    stats = (env.sb.lms.stats, env.sb.personio.stats)
    for s in stats:
        s.reset()
    env.prepare(employee_id=employee_id)
    plan_reads = [dict(s.by_endpoint) for s in stats]
    for s in stats:
        s.reset()

    result = CliRunner().invoke(cli, ["explain", str(employee_id), "--config", str(env.sb.config_path)],
                                env=env.sb.environ)

    assert result.exit_code == 0, result.output
    assert "360Learning user (R2):" in result.output
    assert "Group (R7):" in result.output
    assert "What a sync would do now: nothing" in result.output
    reads = [{k: v for k, v in s.by_endpoint.items() if k.startswith("GET ")} for s in stats]
    assert reads == [{k: v for k, v in r.items() if k.startswith("GET ")} for r in plan_reads]
    assert env.writes() == 0
