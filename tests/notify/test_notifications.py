"""Notifications (issue 14) against a real SMTP server and a real JSON webhook receiver on
loopback: one message when a problem starts, reminders at ``remind_every``, one when it clears,
nothing for a repeat, and a target that is down never fails anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from personio360 import notify
from personio360.errors import ConfigError
from personio360.store import Store
from personio360.store.events import commit_feed
from personio360.sync.report import Outcome

from .conftest import (
    ENVIRON,
    HOOK_TOKEN,
    SMTP_PASSWORD,
    Clock,
    Targets,
    deletions,
    recorded,
    skipped,
    write_settings,
)


def _observe(settings, store, report, clock, environ=ENVIRON) -> None:  # type: ignore[no-untyped-def]
    notify.observe(settings, store, report, clock=clock, environ=environ)


def test_a_stopped_run_sends_one_message_and_the_next_good_run_one_recovery(
        tmp_path: Path, store: Store, targets: Targets, clock: Clock) -> None:
    """Stopped: one email and one JSON post with the reason and the fix; stopped again: nothing;
    completed: one recovery; completed again: nothing."""
    settings = write_settings(tmp_path, targets.toml())
    stop = dict(message="reading failed, nothing was changed: no answer (ConnectError)",
                hint="check that Personio is reachable at the configured base_url")
    _observe(settings, store, recorded(store, Outcome.STOPPED, **stop), clock)
    assert targets.counts() == (1, 1)
    post = targets.hook.posts[0]
    assert post["title"] == "personio360 (production): a run failed or stopped"
    assert "The full sync (run 1) stopped: reading failed" in post["message"]
    assert "fix: check that Personio is reachable" in post["message"]
    assert targets.mailbox.subjects() == [post["title"]]
    assert "fix: check that Personio is reachable" in targets.mailbox.bodies()[0]

    clock.advance(hours=1)
    _observe(settings, store, recorded(store, Outcome.STOPPED, **stop), clock)
    assert targets.counts() == (1, 1)

    clock.advance(hours=1)
    _observe(settings, store, recorded(store, Outcome.COMPLETED), clock)
    assert targets.counts() == (2, 2)
    assert targets.hook.posts[1]["title"] == "personio360 (production): recovered"
    assert "the failure lasted 2 h" in targets.hook.posts[1]["message"]
    _observe(settings, store, recorded(store, Outcome.COMPLETED), clock)
    assert targets.counts() == (2, 2)


def test_held_back_deletions_send_one_message_with_the_way_to_approve_them(
        tmp_path: Path, store: Store, targets: Targets, clock: Clock) -> None:
    """R13b: one message with how many and the fix line; a repeat sends nothing; cleared: one."""
    settings = write_settings(tmp_path, targets.toml())
    hint = "review the held-back deletions, then run: personio360 sync --allow-deletions"
    for _ in range(2):
        report = recorded(store, Outcome.HELD_BACK, held_back=deletions(12), hint=hint)
        _observe(settings, store, report, clock)
    assert targets.counts() == (1, 1)
    message = targets.hook.posts[0]["message"]
    assert "12 deletions held back by the full sync (run 1)" in message
    assert f"fix: {hint}" in message
    assert "@example.com" not in message  # no email address: an id and the reason only
    _observe(settings, store, recorded(store, Outcome.COMPLETED), clock)
    assert targets.counts() == (2, 2)
    assert targets.hook.posts[1]["title"] == "personio360 (production): resolved: deletions held back"


def test_only_newly_skipped_employees_are_sent(
        tmp_path: Path, store: Store, targets: Targets, clock: Clock) -> None:
    """R15: the first run's skipped employees once; the same again: nothing; one more: only that one;
    a changes run's skips add to them and clear none; a clean full sync: one resolution."""
    settings = write_settings(tmp_path, targets.toml())
    _observe(settings, store, recorded(store, Outcome.COMPLETED_WITH_ERRORS, errors=skipped(7, 8)), clock)
    assert targets.counts() == (1, 1)
    first = targets.hook.posts[0]
    assert first["title"] == "personio360 (production): 2 employees newly skipped"
    assert "- employee 7: missing_email" in first["message"]
    assert "- employee 8:" in first["message"]

    _observe(settings, store, recorded(store, Outcome.COMPLETED_WITH_ERRORS, errors=skipped(7, 8)), clock)
    assert targets.counts() == (1, 1)

    _observe(settings, store, recorded(store, Outcome.COMPLETED_WITH_ERRORS, errors=skipped(7, 8, 9)), clock)
    assert targets.counts() == (2, 2)
    second = targets.hook.posts[1]["message"]
    assert "1 employee newly skipped" in second
    assert "employee 9" in second
    assert "employee 7" not in second

    _observe(settings, store, recorded(store, Outcome.COMPLETED, kind="changes"), clock)
    assert targets.counts() == (2, 2)  # a changes run cannot tell that 7, 8 and 9 are fixed

    _observe(settings, store, recorded(store, Outcome.COMPLETED), clock)
    assert targets.counts() == (3, 3)
    assert targets.hook.posts[2]["title"] == "personio360 (production): resolved: employees skipped"


def test_reminders_follow_remind_every_while_a_problem_lasts(
        tmp_path: Path, store: Store, targets: Targets, clock: Clock) -> None:
    """remind_every = "6h": a run every hour for 13 hours sends the start, two reminders, nothing more."""
    settings = write_settings(tmp_path, targets.toml(extra='remind_every = "6h"\n'))
    for _hour in range(14):
        _observe(settings, store, recorded(store, Outcome.STOPPED, message="credentials refused"), clock)
        clock.advance(hours=1)
    titles = [p["title"] for p in targets.hook.posts]
    assert titles == ["personio360 (production): a run failed or stopped",
                      "personio360 (production): still: a run failed or stopped",
                      "personio360 (production): still: a run failed or stopped"]
    assert "Still, since 2026-12-04 09:00 UTC (6 h)" in targets.hook.posts[1]["message"]
    assert len(targets.mailbox.messages) == 3


def test_the_change_feed_lagging_is_sent_once_and_its_catching_up_once(
        tmp_path: Path, store: Store, targets: Targets, clock: Clock) -> None:
    """R17: no successful poll for lag_after: one message (the watch between runs and the next run
    do not repeat it); a poll again: one resolution. Without changes on: never."""
    quiet = write_settings(tmp_path, targets.toml())
    settings = write_settings(tmp_path, targets.toml(), extra='[changes]\npoll_every = "1m"\n')
    with store.transaction() as session:
        commit_feed(session, 0, seen=(), whole=False, polled_at=clock())
    clock.advance(minutes=14)
    notify.watch_feed(settings, store, clock=clock, environ=ENVIRON)
    assert targets.counts() == (0, 0)
    clock.advance(minutes=2)
    notify.watch_feed(quiet, store, clock=clock, environ=ENVIRON)
    assert targets.counts() == (0, 0)
    notify.watch_feed(settings, store, clock=clock, environ=ENVIRON)
    notify.watch_feed(settings, store, clock=clock, environ=ENVIRON)
    assert targets.counts() == (1, 1)
    assert "The change feed is lagging (over 15m): no successful poll of Personio since 2026-12-04 09:00" \
        in targets.hook.posts[0]["message"]
    with store.transaction() as session:
        commit_feed(session, 0, seen=(), whole=False, polled_at=clock())
    notify.watch_feed(settings, store, clock=clock, environ=ENVIRON)
    assert targets.counts() == (2, 2)
    assert "the change feed caught up" in targets.hook.posts[1]["message"]


def test_a_disabled_webhook_subscription_is_sent_once_and_its_return_once(
        tmp_path: Path, store: Store, targets: Targets, clock: Clock) -> None:
    """What webhooks status finds: disabled once, repeated nothing, enabled again once."""
    settings = write_settings(tmp_path, targets.toml())
    for _ in range(2):
        notify.observe_webhooks(settings, store, {"personio": False, "360learning": True}, clock=clock,
                                environ=ENVIRON)
    assert targets.counts() == (1, 1)
    assert "The personio webhook subscription is disabled" in targets.hook.posts[0]["message"]
    notify.observe_webhooks(settings, store, {"personio": True, "360learning": True}, clock=clock,
                            environ=ENVIRON)
    assert targets.counts() == (2, 2)


def test_on_chooses_the_kinds_sent(tmp_path: Path, store: Store, targets: Targets, clock: Clock) -> None:
    """on = ["run_failed"]: skipped employees and recovery are tracked but not sent."""
    settings = write_settings(tmp_path, targets.toml(extra='on = ["run_failed"]\n'))
    _observe(settings, store, recorded(store, Outcome.COMPLETED_WITH_ERRORS, errors=skipped(3)), clock)
    _observe(settings, store, recorded(store, Outcome.FAILED, message="ended by KeyError"), clock)
    _observe(settings, store, recorded(store, Outcome.COMPLETED), clock)
    assert [p["title"] for p in targets.hook.posts] == ["personio360 (production): a run failed or stopped"]


def test_a_target_that_is_down_fails_nothing_and_is_recorded(
        tmp_path: Path, store: Store, targets: Targets, clock: Clock) -> None:
    """The other targets still get the message; the failure is kept (masked target, reason); the run's
    record is untouched; a missing ${NAME} is recorded too, never raised."""
    settings = write_settings(tmp_path, targets.toml(down=True))
    report = recorded(store, Outcome.STOPPED, message="credentials refused")
    _observe(settings, store, report, clock)
    assert targets.counts() == (1, 1)
    [sent] = store.notices.recent()
    assert (sent.targets, sent.delivered) == (3, 2)
    assert [target for target, _reason in sent.failures] == [f"json://127.0.0.1:{targets.down_port}"]
    assert store.runs.summary(report.run_id or 0).outcome == "stopped"  # type: ignore[union-attr]

    _observe(settings, store, recorded(store, Outcome.COMPLETED), clock, environ={})
    failed = store.notices.recent(1)[0]
    assert failed.kind == "error"
    assert "SMTP_PASSWORD (notify.urls[0])" in failed.body


def test_a_start_no_target_received_is_sent_again_at_the_next_look(
        tmp_path: Path, store: Store, targets: Targets, clock: Clock) -> None:
    """Every target down: the problem stays unsent and is tried again by the next run, not lost."""
    settings = write_settings(tmp_path, f'[notify]\nurls = ["json://127.0.0.1:{targets.down_port}/x"]\n')
    _observe(settings, store, recorded(store, Outcome.STOPPED, message="down"), clock)
    assert store.notices.open_problems()["run_failed:full"].last_sent_at is None
    _observe(settings, store, recorded(store, Outcome.STOPPED, message="down"), clock)
    assert [n.phase for n in store.notices.recent()] == ["started", "started"]


def test_notify_test_reports_each_target(tmp_path: Path, store: Store, targets: Targets) -> None:
    """send_test: one message per target, each result; none configured: a ConfigError with the fix."""
    settings = write_settings(tmp_path, targets.toml(down=True))
    results = notify.send_test(settings, store, environ=ENVIRON)
    assert [(r.target, r.ok) for r in results] == [
        (f"mailto://127.0.0.1:{targets.smtp_port}", True), (f"json://127.0.0.1:{targets.hook.port}", True),
        (f"json://127.0.0.1:{targets.down_port}", False)]
    assert results[2].error
    assert targets.counts() == (1, 1)
    with pytest.raises(ConfigError, match="no notification target"):
        notify.send_test(write_settings(tmp_path, ""), store)


def test_no_secret_in_any_message_or_record(tmp_path: Path, store: Store, targets: Targets,
                                            clock: Clock) -> None:
    """The SMTP password and the webhook token (from the environment) reach no message body, no
    record and no log; the messages hold no email address of an employee."""
    settings = write_settings(tmp_path, targets.toml(down=True))
    errors = (*skipped(1), notify_error := _invalid(2))
    _observe(settings, store, recorded(store, Outcome.COMPLETED_WITH_ERRORS, errors=errors), clock)
    _observe(settings, store, recorded(store, Outcome.STOPPED, message="refused"), clock)
    notify.send_test(settings, store, environ=ENVIRON)
    assert targets.counts() == (3, 3)
    haystacks = [*targets.scanned(), (tmp_path / "state.db").read_bytes()]
    for secret in (SMTP_PASSWORD, HOOK_TOKEN):
        assert not [h for h in haystacks[:-1] if secret.encode() in h]
    assert SMTP_PASSWORD.encode() not in haystacks[-1]
    assert HOOK_TOKEN.encode() not in haystacks[-1]
    assert b"jo@example" not in b"".join(targets.scanned())
    assert notify_error.employee_id == 2


def _invalid(employee_id: int):  # type: ignore[no-untyped-def]
    from personio360.sync.operations import EmployeeError

    return EmployeeError(employee_id, "invalid_email",
                         "the employee has an invalid email 'jo@example' in Personio; skipped")
