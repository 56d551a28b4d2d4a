"""The review commands through the CLI (issue 8): ``plan --out/--json`` give the published document,
``sync --plan`` applies it or refuses with ``error:``/``fix:`` and its exit code, ``explain --json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result

from personio360.cli.main import cli
from personio360.sync.operations import PHASES

from .conftest import SCHEMA, validated

if TYPE_CHECKING:
    from .conftest import ReviewEnv


def run(env: ReviewEnv, *args: str) -> Result:
    """One ``personio360`` command in-process, against the sandbox's emulators over HTTP."""
    return CliRunner().invoke(cli, [*args, "--config", str(env.sb.config_path)], env=env.sb.environ)


def saved_document(path: Path) -> dict[str, Any]:
    return validated(json.loads(path.read_text(encoding="utf-8")))


def test_plan_out_and_json_give_the_same_published_document(env: ReviewEnv) -> None:
    """``plan --out FILE --json`` prints exactly what it saves, and the JSON Schema accepts it."""
    path = env.sb.directory / "plan.json"

    result = run(env, "plan", "--json", "--out", str(path))

    assert result.exit_code == 0, result.output
    printed = validated(json.loads(result.stdout))
    assert printed == saved_document(path)
    assert printed["format"] == "personio360-plan"
    assert printed["version"] == 1
    creates = [e for e in printed["operations"] if e["kind"] == "create_user"]
    assert creates
    assert all(e["target"]["email"] and e["target"]["employee_id"] for e in creates)
    assert set(printed["inputs"]["employees"]) >= {str(e["target"]["employee_id"]) for e in creates}
    assert env.writes() == 0


def test_sync_plan_applies_the_saved_file(env: ReviewEnv) -> None:
    """``plan --out`` then ``sync --plan``: the run applies it; a fresh plan has nothing left to do."""
    path = env.sb.directory / "plan.json"
    assert run(env, "plan", "--out", str(path)).exit_code == 0
    saved_document(path)

    result = run(env, "sync", "--plan", str(path))

    assert result.exit_code == 1, result.output  # the company's planted R15 email problems
    assert "completed with errors" in result.output
    assert env.prepare().plan.empty


def test_sync_plan_refused_prints_error_and_fix_and_exits_3(synced: ReviewEnv) -> None:
    """A drifted plan: exit 3, an ``error:`` line naming the change, a ``fix:`` line, no traceback."""
    env = synced
    target = env.plain_employees()[0]
    env.sb.personio.state.update(target, position="Staff Engineer")
    path = env.sb.directory / "plan.json"
    assert run(env, "plan", "--out", str(path)).exit_code == 0
    saved_document(path)
    env.sb.personio.state.update(target, position="Principal Engineer")
    env.sb.lms.stats.reset()

    result = run(env, "sync", "--plan", str(path))

    assert result.exit_code == 3
    assert f"employee {target}'s position changed in Personio" in result.stderr
    assert "error:" in result.stderr
    assert "fix:" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert env.writes() == 0


@pytest.mark.parametrize("extra", [["--employee", "1001"], ["--allow-deletions"]])
def test_sync_plan_with_flags_the_plan_decides_is_a_usage_error(env: ReviewEnv, extra: list[str]) -> None:
    """``--employee`` and ``--allow-deletions`` belong to the saved plan: with ``--plan`` they exit 2."""
    path = env.sb.directory / "plan.json"
    path.write_text("{}", encoding="utf-8")

    result = run(env, "sync", "--plan", str(path), *extra)

    assert result.exit_code == 2
    assert "--plan cannot be combined" in result.stderr
    assert env.writes() == 0


def test_sync_plan_with_a_missing_file_is_a_usage_error(env: ReviewEnv) -> None:
    """No file at the path: exit 2 and no call to either API."""
    env.sb.lms.stats.reset()

    result = run(env, "sync", "--plan", str(env.sb.directory / "nope.json"))

    assert result.exit_code == 2
    assert "no saved plan at" in result.stderr
    assert env.sb.lms.stats.count("read") == 0


def test_explain_json(synced: ReviewEnv) -> None:
    """``explain EMAIL --json`` gives the explanation as data: scope, link, placements, fields, operations."""
    env = synced
    employee_id = env.plain_employees()[0]
    mail = env.sb.company.employee(employee_id).email or ""

    result = run(env, "explain", mail, "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["employee_id"] == employee_id
    assert data["in_scope"] is True
    assert data["link"] == "link"
    assert data["placements"][0]["steps"]
    assert {row["name"] for row in data["fields"]} >= {"email", "first name", "last name", "job title"}
    assert data["operations"] == []


def test_schema_describes_every_operation_kind() -> None:
    """Every Operation the planner can make has its kind and detail in the published schema."""
    from dataclasses import fields

    schema_kinds = {block["if"]["properties"]["kind"]["const"]: block["then"]["properties"]["detail"]
                    for block in SCHEMA["$defs"]["operation"]["allOf"]}
    for _phase, kinds in PHASES:
        for kind in kinds:
            assert kind.kind in schema_kinds, kind.kind
            own = {f.name for f in fields(kind)} - {"employee_id", "user_id", "fields_changed", "values"}
            assert own <= set(schema_kinds[kind.kind]["properties"]), (kind.kind, own)
