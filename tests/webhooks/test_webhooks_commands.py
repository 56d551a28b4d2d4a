"""``personio360 webhooks setup | status | remove`` and check's R17 lines, over real HTTP against both
emulators: outcomes are read from the emulators' state, and every CLI output is scanned for secrets."""

from __future__ import annotations

import time
from secrets import token_hex

from personio360.emulators.faults import Fault
from personio360.emulators.learning360.app import ALL_SCOPES
from personio360.subscriptions import LEARNING360_EVENTS, PERSONIO_EVENTS, SETUP_FIX
from personio360.sync.check import run_checks
from personio360.wiring import open_context

from .conftest import TOKEN, Hooked, MakeHooked


def _personio_hooks(h: Hooked) -> list[dict[str, object]]:
    return h.sb.personio.webhooks.all()


def _lms_subs(h: Hooked) -> list[dict[str, str]]:
    return h.sb.lms.webhooks.all()


def _ping_authorization(h: Hooked, webhook_id: str) -> str | None:
    """Ask the Personio emulator to ping our webhook; the Authorization header our receiver got."""
    before = len(h.receiver.seen)
    h.sb.personio.webhooks.ping(webhook_id)
    deadline = time.monotonic() + 10
    while len(h.receiver.seen) == before and time.monotonic() < deadline:
        time.sleep(0.01)  # the delivery is sent from the emulator's delivery thread
    path, authorization = h.receiver.seen[-1]
    assert path == "/hooks/personio"
    return authorization


def test_r17_setup_creates_enabled_subscriptions_at_both_services(hooked: Hooked) -> None:
    """One ENABLED Personio webhook (our events, TOKEN auth) and one active 360 subscription per event."""
    code, out = hooked.cli_json("webhooks", "setup")
    hooks = _personio_hooks(hooked)
    assert len(hooks) == 1
    hook = hooks[0]
    assert hook["url"] == f"{hooked.public_url}/hooks/personio"
    assert hook["status"] == "ENABLED"
    assert hook["auth_type"] == "TOKEN"
    assert sorted(hook["enabled_events"]) == sorted(PERSONIO_EVENTS)  # type: ignore[call-overload]
    subs = _lms_subs(hooked)
    assert sorted(s["eventType"] for s in subs) == sorted(LEARNING360_EVENTS)
    assert {(s["url"], s["status"]) for s in subs} == {(f"{hooked.public_url}/hooks/360learning", "active")}
    assert [a["verb"] for r in out["reports"] for a in r["actions"]] == ["created"] * 4
    assert _ping_authorization(hooked, str(hook["id"])) == TOKEN
    assert code == 1  # the 360Learning secrets are not in LEARNING360_WEBHOOK_SECRET yet


def test_r17_a_second_setup_changes_nothing_and_says_so(hooked: Hooked) -> None:
    """Idempotent: the second setup makes no write call at either service and prints so."""
    hooked.cli("webhooks", "setup")
    hooked.write_secrets(lms_secrets=hooked.lms_secrets())
    writes = hooked.writes()
    done = hooked.cli("webhooks", "setup")
    assert done.returncode == 0, done.stderr
    assert "nothing to change" in done.stdout
    assert hooked.writes() == writes
    assert len(_personio_hooks(hooked)) == 1
    assert len(_lms_subs(hooked)) == 3


def test_r17_a_changed_public_url_is_patched_in_place(hooked: Hooked) -> None:
    """A new public_url moves the same subscriptions (same ids), nothing is created or left behind."""
    hooked.cli("webhooks", "setup")
    personio_id = _personio_hooks(hooked)[0]["id"]
    lms_ids = {s["_id"] for s in _lms_subs(hooked)}
    hooked.set_public_url("https://sync.example.com")
    code, out = hooked.cli_json("webhooks", "setup")
    hooks = _personio_hooks(hooked)
    assert [(h["id"], h["url"]) for h in hooks] == [(personio_id, "https://sync.example.com/hooks/personio")]
    subs = _lms_subs(hooked)
    assert {s["_id"] for s in subs} == lms_ids
    assert {s["url"] for s in subs} == {"https://sync.example.com/hooks/360learning"}
    verbs = [a["verb"] for r in out["reports"] for a in r["actions"]]
    assert verbs == ["updated"] * 4
    assert code == 1  # the secrets are still to be added


def test_r17_a_disabled_webhook_or_a_changed_event_list_is_patched(hooked: Hooked) -> None:
    """Our Personio webhook disabled with fewer events, a 360 subscription paused: setup restores both."""
    hooked.cli("webhooks", "setup")
    hook_id = str(_personio_hooks(hooked)[0]["id"])
    hooked.sb.personio.webhooks.update(hook_id, {"status": "DISABLED", "enabled_events": ["person.created"]})
    sub = _lms_subs(hooked)[0]
    hooked.sb.lms.webhooks.update(sub["_id"], {"status": "inactive"})
    _code, out = hooked.cli_json("webhooks", "setup")
    hook = _personio_hooks(hooked)[0]
    assert hook["status"] == "ENABLED"
    assert sorted(hook["enabled_events"]) == sorted(PERSONIO_EVENTS)  # type: ignore[call-overload]
    assert hooked.sb.lms.webhooks.get(sub["_id"])["status"] == "active"
    personio = out["reports"][0]["actions"][0]
    assert personio["verb"] == "updated"
    assert any(c.startswith("status: DISABLED → ENABLED") for c in personio["changes"])


def test_r17_status_shows_the_subscriptions_and_recent_deliveries(hooked: Hooked) -> None:
    """status: URL, events, status per subscription, Personio's delivery attempts, as text and JSON."""
    hooked.cli("webhooks", "setup")
    hooked.write_secrets(lms_secrets=hooked.lms_secrets())
    hook_id = str(_personio_hooks(hooked)[0]["id"])
    _ping_authorization(hooked, hook_id)
    code, out = hooked.cli_json("webhooks", "status")
    assert code == 0
    personio = out["personio"]
    assert personio["ok"] is True
    [sub] = personio["subscriptions"]
    assert sub["status"] == "ENABLED"
    assert sub["activity"][0]["event_name"] == "ping"
    assert sub["activity"][0]["delivered"] is True
    lms = out["learning360"]
    assert lms["ok"] is True
    assert {s["event_type"] for s in lms["subscriptions"]} == set(LEARNING360_EVENTS)
    assert all(s["secret_configured"] for s in lms["subscriptions"])
    text = hooked.cli("webhooks", "status").stdout
    for needle in (f"{hooked.public_url}/hooks/personio", "recent deliveries", "ping", "user.deleted",
                   "secret: configured"):
        assert needle in text


def test_r17_remove_deletes_only_ours_and_is_idempotent(hooked: Hooked) -> None:
    """Another integration's webhooks survive remove; a second remove finds nothing and exits 0."""
    hooked.cli("webhooks", "setup")
    foreign = hooked.sb.personio.webhooks.create({
        "url": "https://other.example.com/personio", "description": "payroll tool", "status": "ENABLED",
        "token": "foreign-token-1234", "enabled_events": ["person.updated"]})
    other = hooked.sb.lms.webhooks.create("user.updated", "HRIS system subscription",
                                          "https://other.example.com/360")
    done = hooked.cli("webhooks", "remove")
    assert done.returncode == 0, done.stderr
    assert [h["id"] for h in _personio_hooks(hooked)] == [foreign["id"]]
    assert [s["_id"] for s in _lms_subs(hooked)] == [other["_id"]]
    again = hooked.cli("webhooks", "remove")
    assert again.returncode == 0
    assert "nothing to remove" in again.stdout
    assert len(_personio_hooks(hooked)) == 1
    assert len(_lms_subs(hooked)) == 1


def test_r11_check_reports_missing_then_disabled_subscriptions_with_the_fix(hooked: Hooked) -> None:
    """check: no subscription → FAIL with the setup fix; missing secrets → FAIL; all set → pass;
    a disabled Personio webhook → FAIL again."""
    def lines() -> dict[str, tuple[bool, str, str | None]]:
        with open_context(hooked.settings, environ=hooked.sb.environ) as ctx, hooked.clients() as clients:
            results = run_checks(hooked.settings, ctx.personio, ctx.lms, webhooks=clients)
        return {r.name: (r.ok, r.detail, r.fix) for r in results if "(R17)" in r.name}

    personio, lms = "Personio: webhook subscription (R17)", "360Learning: webhook subscriptions (R17)"
    before = lines()
    assert before[personio][0] is False
    assert before[personio][2] == SETUP_FIX
    assert before[lms][0] is False
    assert before[lms][2] == SETUP_FIX
    hooked.cli("webhooks", "setup")
    no_secrets = lines()
    assert no_secrets[personio][0] is True
    assert no_secrets[lms][0] is False
    assert "LEARNING360_WEBHOOK_SECRET" in no_secrets[lms][1]
    assert "See secret" in str(no_secrets[lms][2])
    hooked.write_secrets(lms_secrets=hooked.lms_secrets())
    assert all(ok for ok, _, _ in lines().values())
    hook_id = str(_personio_hooks(hooked)[0]["id"])
    hooked.sb.personio.webhooks.update(hook_id, {"status": "DISABLED"})
    disabled = lines()
    assert disabled[personio][0] is False
    assert "DISABLED" in disabled[personio][1]
    assert disabled[personio][2] == SETUP_FIX


def test_r11_check_without_webhooks_makes_no_webhook_call(make_hooked: MakeHooked) -> None:
    """Without [webhooks], check has no R17 line and calls neither webhook API."""
    h = make_hooked()
    h.set_public_url("unused")
    h.sb.extra_toml = ""
    h.sb.write_config()
    with open_context(h.settings, environ=h.sb.environ) as ctx:
        results = run_checks(h.settings, ctx.personio, ctx.lms)
    assert not [r for r in results if "webhook" in r.name]
    endpoints = [*h.sb.personio.stats.snapshot()["by_endpoint"], *h.sb.lms.stats.snapshot()["by_endpoint"]]
    assert not [e for e in endpoints if "webhooks" in e or "/v2/auth/token" in e]


def test_r17_check_command_prints_the_webhook_lines(hooked: Hooked) -> None:
    """The real check command shows both R17 lines (here failing, before setup) with the fix."""
    done = hooked.cli("check")
    assert done.returncode == 3
    assert "webhook subscription (R17)" in done.stdout
    assert SETUP_FIX in done.stdout


def test_r17_setup_without_the_token_is_a_config_error(hooked: Hooked) -> None:
    """No PERSONIO_WEBHOOK_TOKEN: exit 2, error and fix lines naming it, and no call at all."""
    hooked.write_secrets(token=None)
    done = hooked.cli("webhooks", "setup")
    assert done.returncode == 2
    assert "error: PERSONIO_WEBHOOK_TOKEN is not set" in done.stderr
    assert "fix: set PERSONIO_WEBHOOK_TOKEN" in done.stderr
    assert hooked.sb.personio.stats.count("auth") == 0
    assert _personio_hooks(hooked) == []


def test_r17_commands_without_a_webhooks_table_are_config_errors(hooked: Hooked) -> None:
    """No [webhooks]: each command exits 2 and names the key and the fix."""
    hooked.sb.extra_toml = ""
    hooked.sb.write_config()
    hooked.write_secrets()
    for command in ("setup", "status", "remove"):
        done = hooked.cli("webhooks", command)
        assert done.returncode == 2, command
        assert "[webhooks]" in done.stderr
        assert "webhooks.public_url" in done.stderr
        assert "fix: add [webhooks] with public_url" in done.stderr


def test_r17_without_webhook_scopes_setup_gives_the_manual_steps(make_hooked: MakeHooked) -> None:
    """360Learning credentials without the webhooks scopes (403): Personio is set up, 360 gets the
    documented manual steps (Settings → Webhooks, See secret), exit 1, not a failure."""
    scopes = [s for s in ALL_SCOPES if not s.startswith(("webhooks:", "webhookSecrets:"))]
    h = make_hooked(lms_options={"scopes": scopes})
    done = h.cli("webhooks", "setup")
    assert done.returncode == 1, done.stderr
    assert len(_personio_hooks(h)) == 1
    assert _lms_subs(h) == []
    assert "Settings → Webhooks" in done.stdout
    assert "See secret" in done.stdout
    assert f"{h.public_url}/hooks/360learning" in done.stdout
    status = h.cli("webhooks", "status")
    assert status.returncode == 1
    assert "Settings → Webhooks" in status.stdout


def test_r17_a_missing_signing_secret_is_named_never_printed(hooked: Hooked) -> None:
    """setup says which subscriptions' secrets LEARNING360_WEBHOOK_SECRET lacks, and how to add them."""
    hooked.cli("webhooks", "setup")
    hooked.write_secrets(lms_secrets=("whsec_not-the-right-one-123456",))
    done = hooked.cli("webhooks", "setup")  # cli() fails if any secret reaches the output
    assert done.returncode == 1
    assert done.stdout.count("are not in LEARNING360_WEBHOOK_SECRET") == 1
    assert all(f"{event} (" in done.stdout for event in LEARNING360_EVENTS)
    assert "nothing to change" in done.stdout  # the subscriptions themselves were in place
    assert "separated by spaces" in done.stdout
    secrets = hooked.lms_secrets()
    hooked.write_secrets(lms_secrets=(secrets[0], "whsec_other", *secrets[1:]))
    again = hooked.cli("webhooks", "setup")
    assert again.returncode == 0, again.stdout
    assert "LEARNING360_WEBHOOK_SECRET" not in again.stdout


def test_r17_token_rotation_is_sent_only_with_rotate_token(hooked: Hooked) -> None:
    """A new PERSONIO_WEBHOOK_TOKEN reaches Personio on setup --rotate-token, not on plain setup."""
    hooked.cli("webhooks", "setup")
    hook_id = str(_personio_hooks(hooked)[0]["id"])
    new = f"pwt-Tapir-{token_hex(10)}"
    hooked.write_secrets(token=new)
    plain = hooked.cli("webhooks", "setup", env={"PERSONIO_WEBHOOK_TOKEN_PREVIOUS": TOKEN})
    assert new not in plain.stdout + plain.stderr
    assert _ping_authorization(hooked, hook_id) == TOKEN
    rotated = hooked.cli("webhooks", "setup", "--rotate-token")
    assert new not in rotated.stdout + rotated.stderr
    assert "token" in rotated.stdout
    assert _ping_authorization(hooked, hook_id) == new


def test_r14_a_lost_create_answer_is_not_sent_again(hooked: Hooked) -> None:
    """The answer to POST /v2/webhooks is lost: setup finds the webhook by URL instead of creating two."""
    hooked.sb.personio.faults.replace([Fault(kind="lose_response", method="POST", path=r"^/v2/webhooks$",
                                             count=1)])
    hooked.cli("webhooks", "setup")
    assert len(_personio_hooks(hooked)) == 1
    assert _personio_hooks(hooked)[0]["status"] == "ENABLED"


def test_r18_setup_subscribes_completion_events_with_writeback_on_and_removes_them_when_off(
        hooked: Hooked) -> None:
    """With a path written back, setup adds ``path.session.user.status.updated`` (no course item:
    no ``course.attempt.closed``); write-back turned off, the next setup deletes it again."""
    path = hooked.sb.lms.state.learning.add_path("Data protection")
    plain = hooked.sb.extra_toml
    hooked.sb.extra_toml = plain + (f'\n[[writeback.items]]\npath = "{path.id}"\n'
                                    'attribute = "dynamic_1000042"\nvalue = "completed_at"\n')
    env = (hooked.sb.directory / ".env").read_text(encoding="utf-8")
    hooked.sb.write_config()
    (hooked.sb.directory / ".env").write_text(env, encoding="utf-8")
    hooked.cli("webhooks", "setup")
    assert sorted(s["eventType"] for s in _lms_subs(hooked)) == sorted(
        [*LEARNING360_EVENTS, "path.session.user.status.updated"])
    hooked.set_public_url(hooked.public_url)  # the config without [writeback]
    _code, out = hooked.cli_json("webhooks", "setup")
    assert sorted(s["eventType"] for s in _lms_subs(hooked)) == sorted(LEARNING360_EVENTS)
    assert any(a["verb"] == "deleted" and "path.session.user.status.updated" in a["what"]
               for r in out["reports"] for a in r["actions"])
