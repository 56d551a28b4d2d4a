"""Bad data on either side: emails missing, invalid or shared (R15), supervisor loops and
self-supervision (R9), 10,000-character names and control characters, an attribute that
disappears from Personio, a synced group deleted or misconfigured in 360Learning (R7, R13a)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from personio360.emulators.sandbox import Sandbox
from personio360.store import open_store
from personio360.sync.report import Outcome

from .conftest import MakeSandbox, cli, platform, sync, writes


def links(sb: Sandbox) -> dict[int, str]:
    store = open_store(f"sqlite:///{sb.directory / 'personio360-test.db'}")
    try:
        return {emp: link.user_id for emp, link in store.links.active().items()}
    finally:
        store.close()


def errors_of(sb: Sandbox) -> dict[int | None, tuple[str, str]]:
    report = sync(sb)
    return {e.employee_id: (e.code, e.message) for e in report.errors}


def test_a_missing_email_is_skipped_with_its_reason(sandbox: Sandbox) -> None:
    """R15: no email: skipped, reason recorded, no user; everyone else synced."""
    (missing,) = sandbox.company.edge_cases["missing_email"]
    errors = errors_of(sandbox)
    assert errors[missing] == ("missing_email", "the employee has no email in Personio; skipped")
    assert missing not in links(sandbox)


def test_an_invalid_email_is_skipped_with_its_reason(sandbox: Sandbox) -> None:
    """R15: an email without @ is named (it is not a secret) and skipped."""
    (invalid,) = sandbox.company.edge_cases["invalid_email"]
    email = sandbox.personio.state.employee(invalid)["email"]
    errors = errors_of(sandbox)
    assert errors[invalid] == (
        "invalid_email",
        f"the employee has an invalid email {email!r} in Personio; skipped",
    )
    assert invalid not in links(sandbox)


def test_a_shared_email_links_neither_employee(sandbox: Sandbox) -> None:
    """R15: two in-scope employees with one email: both skipped, no user holds that email."""
    first, second = sandbox.company.edge_cases["duplicate_email"]
    email = sandbox.personio.state.employee(first)["email"]
    errors = errors_of(sandbox)
    assert errors[first] == (
        "duplicate_email",
        f"the email {email} is also the email of employee(s) "
        f"{second} in Personio; skipped until it is unique",
    )
    assert errors[second][0] == "duplicate_email"
    assert sandbox.lms.state.user_by_mail(email) is None
    assert not {first, second} & set(links(sandbox))


def test_a_supervisor_loop_converges(sandbox: Sandbox) -> None:
    """A supervises B supervises A: both managers set, the next run writes nothing (R9, R14)."""
    sync(sandbox)
    state = sandbox.personio.state
    a, b = [e for e in sorted(links(sandbox)) if e not in sandbox.company.edge_cases["adoptable"]][3:5]
    state.update(a, supervisor=b)
    state.update(b, supervisor=a)
    assert sync(sandbox).exit_code == 1  # the planted bad emails only
    ids = links(sandbox)
    assert sandbox.lms.state.managers_of(ids[a]) == [ids[b]]
    assert sandbox.lms.state.managers_of(ids[b]) == [ids[a]]
    sandbox.lms.stats.reset()
    sync(sandbox)
    assert writes(sandbox) == 0


class SelfSupervised:
    """ASGI middleware: Personio says employee ``who`` is their own supervisor (its state refuses it)."""

    def __init__(self, app: Any, who: int) -> None:
        self.app, self.who = app, who

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/company/employees":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}

        async def patch(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body = json.loads(message["body"])
            for item in body.get("data", []):
                attrs = item["attributes"]
                if attrs["id"]["value"] == self.who:
                    attrs["supervisor"]["value"] = {
                        "type": "Employee",
                        "attributes": {"id": {"label": "ID", "value": self.who}},
                    }
            raw = json.dumps(body).encode()
            headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(raw)).encode())]})
            await send({"type": "http.response.body", "body": raw})

        await self.app(scope, receive, patch)


def test_an_employee_who_is_their_own_supervisor_gets_no_manager(make_sandbox: MakeSandbox) -> None:
    """Personio data naming the employee as their own supervisor never makes a user its own manager."""
    probe = make_sandbox()
    who = next(
        e.id
        for e in probe.company.employees
        if e.supervisor_id
        and e.status == "active"
        and e.id not in {i for ids in probe.company.edge_cases.values() for i in ids}
    )
    sb = make_sandbox(wrap_personio=lambda app: SelfSupervised(app, who))
    assert sync(sb).exit_code == 1
    user = links(sb)[who]
    assert sb.lms.state.managers_of(user) == []
    sb.lms.stats.reset()
    sync(sb)
    assert writes(sb) == 0


def test_ten_thousand_character_names_are_synced_whole_and_converge(sandbox: Sandbox) -> None:
    """Very long values go through unchanged (360Learning publishes no limit) and stay quiet after."""
    long_first, long_job = "Å" * 10_000, "Engineer " * 1_111
    hired = sandbox.personio.state.hire(
        first_name=long_first, last_name="B" * 10_000, email="long.name@newco.example", position=long_job
    )
    sync(sandbox)
    user = sandbox.lms.state.user(links(sandbox)[hired])
    assert (user.first_name, user.last_name) == (long_first, "B" * 10_000)
    assert user.job == long_job.strip()
    sandbox.lms.stats.reset()
    sync(sandbox)
    assert writes(sandbox) == 0


CONTROL = {"first_name": "Ann\x00a", "last_name": "\x1b[31mRed\x1b[0m\nLine", "position": "Tab\there"}


def test_control_characters_never_reach_360learning(sandbox: Sandbox) -> None:
    """NUL, ESC sequences and newlines in names are cleaned before the write, and stay quiet after."""
    hired = sandbox.personio.state.hire(email="ctrl@newco.example", **CONTROL)
    sync(sandbox)
    user = sandbox.lms.state.user(links(sandbox)[hired])
    assert not re.search(r"[\x00-\x1f\x7f]", f"{user.first_name}{user.last_name}{user.job}")
    sandbox.lms.stats.reset()
    sync(sandbox)
    assert writes(sandbox) == 0


def test_a_custom_attribute_that_disappears_from_personio_clears_nothing(sandbox: Sandbox) -> None:
    """set_whitelisted(key, False): the run stops before any change instead of clearing the field."""
    sync(sandbox)
    before = platform(sandbox)
    sandbox.personio.state.set_whitelisted(sandbox.installed.attribute_keys["T-shirt size"], False)
    sandbox.lms.stats.reset()
    report = sync(sandbox)
    assert platform(sandbox) == before
    assert report.outcome is Outcome.STOPPED


@pytest.mark.parametrize("key", ["email", "position", "supervisor"])
def test_an_unreadable_default_field_stops_the_run_and_clears_nothing(sandbox: Sandbox, key: str) -> None:
    """R13a: email, job title or supervisor no longer readable would skip everyone, clear every
    job title (R4) or every manager (R9): the run stops before any change and names the attribute."""
    sync(sandbox)
    before = platform(sandbox)
    sandbox.personio.state.set_whitelisted(key, False)
    sandbox.lms.stats.reset()
    report = sync(sandbox)
    assert report.outcome is Outcome.STOPPED
    assert report.exit_code == 3
    assert f"Personio returned no value at all for {key} (" in (report.message or "")
    assert report.hint == f"in Personio, let the API credentials read {key}"
    assert writes(sandbox) == 0
    assert platform(sandbox) == before


GROUP_FIX = (
    "correct the id in [[groups]] (personio360 check lists the problems), or set enabled = false for it"
)


def delete_synced_group(sb: Sandbox) -> str:
    """An administrator deletes the synced group in 360Learning's UI (the API offers no group deletion)."""
    group = sb.installed.synced_group_id
    for role in sb.lms.state.roles_of_group(group):
        sb.lms.state.remove_role(group, role.user_id, role.role)
    sb.lms.state._groups.pop(group)
    return group


def test_a_synced_group_deleted_in_360learning_stops_the_run(sandbox: Sandbox) -> None:
    """R13a: the synced group is gone: stopped (exit 3) naming it and the fix; nobody deleted or moved."""
    sync(sandbox)
    group = delete_synced_group(sandbox)
    before = platform(sandbox)
    sandbox.lms.stats.reset()
    report = sync(sandbox)
    assert (report.exit_code, report.message, report.hint) == (
        3,
        f"the synced group {group} does not exist in 360Learning",
        GROUP_FIX,
    )
    result = cli(sandbox, "sync", "--config", str(sandbox.config_path))
    assert result.returncode == 3
    assert result.stderr.startswith(f"error: the synced group {group} does not exist in 360Learning\n")
    assert writes(sandbox) == 0
    assert platform(sandbox) == before


def test_the_cli_fix_line_keeps_square_brackets(sandbox: Sandbox) -> None:
    """The fix for a deleted synced group names the [[groups]] table as written."""
    sync(sandbox)
    group = delete_synced_group(sandbox)
    result = cli(sandbox, "sync", "--config", str(sandbox.config_path))
    assert (
        result.stderr == f"error: the synced group {group} does not exist in 360Learning\nfix: {GROUP_FIX}\n"
    )


def test_the_cli_error_line_keeps_the_api_error_code(make_sandbox: MakeSandbox) -> None:
    """A missing scope: the error line keeps 360Learning's own code, [invalid_scope]."""
    from personio360.emulators.learning360.app import ALL_SCOPES

    sb = make_sandbox(lms_options={"scopes": ALL_SCOPES - {"groups:read"}})
    result = cli(sb, "sync", "--config", str(sb.config_path))
    assert result.returncode == 3
    assert result.stderr.startswith(
        "error: reading failed, nothing was changed: learning360 GET /api/v2/groups 403 [invalid_scope]: "
    )


def test_control_characters_never_reach_the_terminal(sandbox: Sandbox) -> None:
    """`plan` output holds no control character from a Personio name."""
    sandbox.personio.state.hire(email="ctrl@newco.example", **CONTROL)
    plan = cli(sandbox, "plan", "--config", str(sandbox.config_path), "--limit", "0")
    assert plan.returncode == 0
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", plan.stdout + plan.stderr)


def test_an_unknown_group_id_is_named_by_check_and_sync(sandbox: Sandbox) -> None:
    """A well-formed id that 360Learning does not know: check fails that line, sync exits 3, no write."""
    unknown = "65003000000000000000ffff"
    before = platform(sandbox)
    text = sandbox.config_path.read_text(encoding="utf-8")
    sandbox.config_path.write_text(text.replace(sandbox.installed.synced_group_id, unknown), encoding="utf-8")
    check = cli(sandbox, "check", "--config", str(sandbox.config_path))
    assert check.returncode == 3
    assert f"synced group {unknown} (groups[0])" in check.stdout
    assert "does not exist in 360Learning" in check.stdout
    result = cli(sandbox, "sync", "--config", str(sandbox.config_path))
    assert result.returncode == 3
    assert result.stderr.startswith(f"error: the synced group {unknown} does not exist in 360Learning\n")
    assert platform(sandbox) == before  # check probes with a refused write; neither changes anything


def test_check_refuses_a_subgroup_inside_another_synced_hierarchy(sandbox: Sandbox) -> None:
    """Berlin synced as well as All employees (its ancestor): check names both, with the fix.

    (The sync itself stops on such a nesting too: see tests/sync/test_r7_groups.py.)
    """
    before = platform(sandbox)
    berlin = sandbox.installed.group_ids["office:Berlin"]
    sandbox.extra_toml = f'\n[[groups]]\nid = "{berlin}"\n'
    sandbox.write_config()
    check = cli(sandbox, "check", "--config", str(sandbox.config_path))
    assert check.returncode == 3
    assert (f"'Berlin' is inside the synced group {sandbox.installed.synced_group_id}") in check.stdout
    assert "sync either the parent group or the subgroup, not both" in check.stdout
    assert platform(sandbox) == before
