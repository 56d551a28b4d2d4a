"""Saved plans end to end (issue 8): ``plan --out`` then ``sync --plan`` applies exactly the approved
operations, or refuses with zero writes naming what moved (Personio, 360Learning, config, age)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from personio360.errors import ConfigError
from personio360.sync.report import Outcome, RunReport
from personio360.sync.saved import load_saved

from .conftest import validated

if TYPE_CHECKING:
    from .conftest import ReviewEnv


def assert_refused(env: ReviewEnv, report: RunReport, *phrases: str) -> None:
    """Refused: stopped before any change (exit 3), not one write, the message names each phrase."""
    assert report.outcome is Outcome.STOPPED
    assert report.exit_code == 3
    assert env.writes() == 0
    assert report.message is not None
    assert "Nothing was changed" in report.message or "nothing was changed" in report.message
    for phrase in phrases:
        assert phrase in report.message
    assert report.hint is not None
    assert "plan --out" in report.hint
    detail = env.ctx.store.runs.detail(report.run_id or 0)
    assert detail is not None
    assert detail.operations == []


def assert_applied(report: RunReport) -> None:
    """Applied to the end: completed (the planted R15 email problems stay errors), nothing failed."""
    assert report.outcome in (Outcome.COMPLETED, Outcome.COMPLETED_WITH_ERRORS), report.message
    assert not report.failed


def recorded(env: ReviewEnv, report: RunReport) -> Counter[tuple[int | None, str]]:
    """The operations the run recorded, by employee and kind."""
    detail = env.ctx.store.runs.detail(report.run_id or 0)
    assert detail is not None
    return Counter((op.employee_id, op.kind) for op in detail.operations)


def planned(path: Path, outcome: str = "apply") -> Counter[tuple[int | None, str]]:
    """The saved plan's operations with ``outcome``, by employee and kind."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    return Counter((e["target"]["employee_id"], e["kind"]) for e in doc["operations"]
                   if e["outcome"] == outcome)


def test_first_sync_from_a_saved_plan_makes_exactly_its_operations(env: ReviewEnv) -> None:
    """The first sync of a company, approved as a file, applies each saved operation and nothing else."""
    path = env.save()
    env.sb.lms.stats.reset()

    report = env.sync(path)

    assert_applied(report)
    assert recorded(env, report) == planned(path)
    assert env.prepare().plan.empty


def test_saved_plan_applies_only_what_it_holds_and_ignores_an_unrelated_edit(synced: ReviewEnv) -> None:
    """An edit of someone outside the plan neither blocks it nor slips into it; it waits for the next sync."""
    env = synced
    planned_id, unrelated = env.plain_employees()[:2]
    env.sb.personio.state.update(planned_id, position="Staff Engineer")
    path = env.save()
    env.sb.personio.state.update(unrelated, position="Chief Unrelated Officer")

    report = env.sync(path)

    assert_applied(report)
    assert recorded(env, report) == Counter({(planned_id, "update_user"): 1})
    assert env.sb.lms.state.user(env.user_id_of(planned_id)).job == "Staff Engineer"
    assert env.sb.lms.state.user(env.user_id_of(unrelated)).job != "Chief Unrelated Officer"
    pending = env.prepare().plan.operations
    assert [(op.employee_id, op.kind) for op in pending] == [(unrelated, "update_user")]


def test_personio_edit_of_a_planned_employee_is_refused(synced: ReviewEnv) -> None:
    """Employee N's department moved after the plan: refused, zero writes, "employee N's department"."""
    env = synced
    target = env.plain_employees()[0]
    env.sb.personio.state.update(target, position="Staff Engineer")
    path = env.save()
    env.sb.personio.state.update(target, department="Finance")
    env.sb.lms.stats.reset()

    report = env.sync(path)

    assert_refused(env, report, f"employee {target}'s department changed in Personio")
    assert env.sb.lms.state.user(env.user_id_of(target)).job != "Staff Engineer"


def test_360learning_change_of_a_planned_user_is_refused(synced: ReviewEnv) -> None:
    """Someone edits the planned user in 360Learning after the plan: refused, zero writes, named."""
    env = synced
    target = env.plain_employees()[0]
    env.sb.personio.state.update(target, position="Staff Engineer")
    path = env.save()
    env.sb.lms.state.update_user(env.user_id_of(target), {"lastName": "Changed-By-Hand"})
    env.sb.lms.stats.reset()

    report = env.sync(path)

    assert_refused(env, report, f"employee {target}'s 360Learning user: last name changed")


def test_a_new_360learning_user_with_an_email_the_plan_creates_is_refused(synced: ReviewEnv) -> None:
    """A user now holds the email of a planned create: refused, zero writes, the email named."""
    env = synced
    mail = "neu.zugang@newco.example"
    hired = env.sb.personio.state.hire(first_name="Neu", last_name="Zugang", email=mail, status="active")
    path = env.save()
    assert planned(path)[(hired, "create_user")] == 1
    env.sb.lms.state.add_user(mail, "Neu", "Zugang")
    env.sb.lms.stats.reset()

    report = env.sync(path)

    assert_refused(env, report, f"a 360Learning user now has the email {mail} that the plan gives "
                                f"employee {hired}")


def test_a_config_edit_is_refused(synced: ReviewEnv) -> None:
    """The config changed after the plan (a custom field renamed): refused, zero writes, "the config"."""
    env = synced
    env.sb.personio.state.update(env.plain_employees()[0], position="Staff Engineer")
    path = env.save()
    env.reconfigure(lambda text: text.replace('"T-shirt size"', '"Shirt size"'))
    env.sb.lms.stats.reset()

    report = env.sync(path)

    assert_refused(env, report, "the config changed (custom_fields)")


def test_an_expired_plan_is_refused(synced: ReviewEnv) -> None:
    """A plan older than safety.plan_max_age (default 24 h) is refused before any read or write."""
    env = synced
    env.sb.personio.state.update(env.plain_employees()[0], position="Staff Engineer")
    path = env.save(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))
    env.sb.lms.stats.reset()

    report = env.sync(path)

    assert_refused(env, report, "older than safety.plan_max_age (24h)")
    assert env.sb.lms.stats.count("read") == 0


def test_plan_max_age_is_configurable(synced: ReviewEnv) -> None:
    """With plan_max_age = "30m", a plan made an hour ago is refused."""
    env = synced
    env.reconfigure(lambda text: text + '\n[safety]\nplan_max_age = "30m"\n')
    path = env.save(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    env.sb.lms.stats.reset()

    report = env.sync(path)

    assert_refused(env, report, "older than safety.plan_max_age (30m)")


def test_a_tampered_operation_is_refused(synced: ReviewEnv) -> None:
    """A file can only narrow a sync: an operation edited by hand is not what the planner computes."""
    env = synced
    target = env.plain_employees()[0]
    env.sb.personio.state.update(target, position="Staff Engineer")
    path = env.save()
    doc = json.loads(path.read_text(encoding="utf-8"))
    update = next(e for e in doc["operations"] if e["kind"] == "update_user")
    update["changes"][0]["after"] = "Supreme Leader"
    path.write_text(json.dumps(validated(doc)), encoding="utf-8")
    env.sb.lms.stats.reset()

    report = env.sync(path)

    assert_refused(env, report, f"what a sync would do for employee {target} is no longer what the plan says")


def test_r13b_deletions_the_saved_plan_applies_need_no_allow_deletions(synced: ReviewEnv) -> None:
    """Over safety.max_deletions, a plan saved with --allow-deletions deletes without the flag;
    one saved without it holds the deletion back (exit 1), as it reported."""
    env = synced
    env.reconfigure(lambda text: text + "\n[safety]\nmax_deletions = 0\n")
    leaver = env.plain_employees()[0]
    env.sb.personio.state.terminate(leaver)
    user_id = env.user_id_of(leaver)
    held = env.save("held.json")
    allowed = env.save("allowed.json", allow_deletions=True)
    assert planned(held, "held_back") == Counter({(leaver, "delete_user"): 1})
    assert planned(allowed) == Counter({(leaver, "delete_user"): 1})

    kept = env.sync(held)
    assert kept.outcome is Outcome.HELD_BACK
    assert kept.exit_code == 1
    assert env.sb.lms.state.user(user_id).status != "deleted"
    assert kept.hint is not None
    assert "plan --allow-deletions --out" in kept.hint

    deleted = env.sync(allowed)
    assert_applied(deleted)
    assert env.sb.lms.state.user(user_id).status == "deleted"


def test_a_plan_for_one_employee_applies_to_that_employee(synced: ReviewEnv) -> None:
    """``plan --employee ID --out`` keeps its focus: applying it syncs that person only."""
    env = synced
    first, second = env.plain_employees()[:2]
    for employee_id in (first, second):
        env.sb.personio.state.update(employee_id, position="Staff Engineer")
    path = env.save(employee_id=first)

    report = env.sync(path)

    assert_applied(report)
    assert recorded(env, report) == Counter({(first, "update_user"): 1})


@pytest.mark.parametrize(("content", "phrase"), [
    ("not json", "is not readable JSON"),
    ('{"format": "something-else"}', "is not a personio360 plan"),
    ('{"format": "personio360-plan", "version": 2}', "has format version 2"),
    ('{"format": "personio360-plan", "version": 1, "created_at": "yesterday"}', "is malformed"),
])
def test_an_unreadable_plan_file_is_a_usage_error(tmp_path: Path, content: str, phrase: str) -> None:
    """A file that is not a plan of this format version is refused with exit 2, before any call."""
    path = tmp_path / "plan.json"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_saved(path)

    assert phrase in str(caught.value)
    assert caught.value.exit_code == 2
