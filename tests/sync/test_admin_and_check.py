"""R10 and R11 end to end: the connector admin gate, and ``check`` naming each failure with its fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from personio360.sync.report import Outcome

if TYPE_CHECKING:
    from personio360.sync.check import CheckResult

    from .conftest import MakeEnv, SyncEnv

UNKNOWN_GROUP = "0123456789abcdef01234567"


def failures(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results if not r.ok}


def failure_about(results: list[CheckResult], *words: str) -> CheckResult:
    found = [r for r in results if not r.ok and all(w.lower() in r.name.lower() for w in words)]
    assert len(found) == 1, [(r.name, r.ok, r.detail) for r in results]
    assert found[0].fix, found[0]
    return found[0]


def admin_id(env: SyncEnv) -> str:
    return env.installed.user_ids[env.installed.connector_admin_email]


def test_r10_a_connector_admin_who_is_not_platform_admin_stops_the_sync(flat_env: SyncEnv) -> None:
    """The admin's platform role removed: the sync stops (exit 3) with the reason, writing nothing."""
    env = flat_env
    env.lms.remove_role(env.installed.root_group_id, admin_id(env), "admin")

    report = env.sync()

    assert report.outcome is Outcome.STOPPED
    assert report.exit_code == 3
    assert "not a platform owner or admin" in (report.message or "")
    assert env.installed.connector_admin_email in (report.message or "")
    assert report.hint
    assert env.writes() == 0
    assert env.links() == {}


def test_r10_a_connector_admin_who_is_only_a_group_admin_is_refused(flat_env: SyncEnv) -> None:
    """Admin of the synced group but not of the platform is not enough."""
    env = flat_env
    env.lms.remove_role(env.installed.root_group_id, admin_id(env), "admin")
    env.lms.add_role(env.synced_group, admin_id(env), "admin")

    report = env.sync()

    assert report.exit_code == 3
    assert env.writes() == 0


def test_r10_an_unknown_connector_admin_stops_the_sync(make_env: MakeEnv) -> None:
    """A connector admin email that is no 360Learning user stops every sync before any change."""
    env = make_env(levels=(), custom_fields={})
    text = env.sb.config_path.read_text(encoding="utf-8")
    env.sb.config_path.write_text(text.replace(env.installed.connector_admin_email,
                                               "nobody@nowhere.example"), encoding="utf-8")
    from personio360.config import load_config
    env.settings = load_config(env.sb.config_path)

    report = env.sync()

    assert report.exit_code == 3
    assert "nobody@nowhere.example" in (report.message or "")
    assert env.writes() == 0


def test_r10_r11_the_platform_owner_as_connector_admin_passes(make_env: MakeEnv) -> None:
    """The platform owner qualifies as connector admin (R10), and check passes every line."""
    env = make_env(levels=(), custom_fields={})
    owner = env.sb.company.lms.owner_email
    text = env.sb.config_path.read_text(encoding="utf-8")
    env.sb.config_path.write_text(text.replace(env.installed.connector_admin_email, owner),
                                  encoding="utf-8")
    from personio360.config import load_config
    env.settings = load_config(env.sb.config_path)

    assert failures(env.check()) == {}
    assert env.sync().exit_code == 1  # the company's planted bad emails


def test_r11_check_passes_on_a_good_setup_and_changes_nothing(env: SyncEnv) -> None:
    """Every line passes for the sandbox's config; no write reaches 360Learning."""
    results = env.check()

    assert failures(results) == {}
    assert len(results) >= 5
    assert env.writes() == 0


def test_r11_check_reports_a_connector_admin_without_platform_role(flat_env: SyncEnv) -> None:
    """The R10 line fails, with the fix; the other checks still run and pass."""
    env = flat_env
    env.lms.remove_role(env.installed.root_group_id, admin_id(env), "admin")

    results = env.check()

    failure = failure_about(results, "connector admin")
    assert "admin" in (failure.fix or "")
    assert set(failures(results)) == {failure.name}


@pytest.mark.parametrize("secret", ["PERSONIO_CLIENT_SECRET", "PERSONIO_CLIENT_ID"])
def test_r11_check_reports_bad_personio_credentials(flat_env: SyncEnv, secret: str) -> None:
    """Wrong Personio credentials: the Personio line fails with a fix; 360Learning lines still run."""
    env = flat_env
    with env.open(environ={**env.sb.environ, secret: "wrong-value"}) as ctx:
        results = env.check(ctx)

    failure = failure_about(results, "personio", "employee")
    assert "wrong-value" not in failure.detail + (failure.fix or "")
    assert any(r.ok and "360Learning" in r.name for r in results)


def test_r11_check_reports_bad_360learning_credentials(flat_env: SyncEnv) -> None:
    """Wrong 360Learning credentials: the API access line fails with a fix; Personio lines pass."""
    env = flat_env
    with env.open(environ={**env.sb.environ, "LEARNING360_CLIENT_SECRET": "wrong-value"}) as ctx:
        results = env.check(ctx)

    failure = failure_about(results, "360learning", "access")
    assert "wrong-value" not in failure.detail + (failure.fix or "")
    assert any(r.ok and "Personio" in r.name for r in results)


def test_r11_check_reports_an_unknown_group_id(make_env: MakeEnv) -> None:
    """A [[groups]] id that does not exist fails its line with the fix; the sync stops too."""
    env = make_env(levels=(), custom_fields={},
                   extra_toml=f'\n[[groups]]\nid = "{UNKNOWN_GROUP}"\nenabled = true\n')
    assert UNKNOWN_GROUP in {g.id for g in env.settings.groups}

    results = env.check()

    failure = failure_about(results, UNKNOWN_GROUP)
    assert "does not exist" in failure.detail
    report = env.sync()
    assert report.exit_code == 3
    assert env.writes() == 0


def test_r11_check_reports_an_unreadable_attribute(make_env: MakeEnv) -> None:
    """A custom field on the non-whitelisted `Salary band` attribute fails with the whitelist fix."""
    probe = make_env(levels=(), custom_fields={})
    key = probe.installed.attribute_keys["Salary band"]
    env = make_env(levels=(), custom_fields={key: "Salary band"})

    results = env.check()

    failure = failure_about(results, key)
    assert "whitelist" in (failure.fix or "").lower()


def test_r11_check_reports_an_unreadable_group_level(make_env: MakeEnv) -> None:
    """A group level no credentials can read (office no longer whitelisted) is named with its fix."""
    env = make_env()
    env.personio.set_whitelisted("office", False)

    results = env.check()

    failure = failure_about(results, "office")
    assert "office" in (failure.fix or "")


@pytest.mark.parametrize("key", ["position", "supervisor"])
def test_r11_check_reports_an_unreadable_default_field(make_env: MakeEnv, key: str) -> None:
    """The job title or the supervisor no longer readable (a sync would stop, R13a) fails a check line."""
    env = make_env(levels=(), custom_fields={})
    env.personio.set_whitelisted(key, False)

    results = env.check()

    failure = failure_about(results, key)
    assert failure.fix == f"in Personio, Settings > API credentials: whitelist the attribute {key!r}"


def test_r2_r11_check_says_when_360learning_refuses_the_external_id_platform(make_env: MakeEnv) -> None:
    """A reserved platform name (`360learning`) fails a check line that names the setting to change."""
    env = make_env(levels=(), custom_fields={})
    text = env.sb.config_path.read_text(encoding="utf-8")
    admin_line = f'connector_admin_email = "{env.installed.connector_admin_email}"\n'
    env.sb.config_path.write_text(
        text.replace(admin_line, admin_line + 'external_id_platform = "360learning"\n'), encoding="utf-8")
    from personio360.config import load_config
    env.settings = load_config(env.sb.config_path)
    assert env.settings.learning360.external_id_platform == "360learning"

    results = env.check()

    failure = failure_about(results, "platform")
    assert "external_id_platform" in (failure.fix or "")
    assert env.writes() == 0
