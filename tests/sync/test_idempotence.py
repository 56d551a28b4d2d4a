"""R14 end to end: a sync with no change in between makes no write call, and plans nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .conftest import SyncEnv


def assert_quiet(env: SyncEnv) -> None:
    """Another sync writes nothing to 360Learning, and the plan is empty."""
    env.sb.lms.stats.reset()
    report = env.sync()
    assert env.writes() == 0, env.sb.lms.stats.snapshot()["by_endpoint"]
    assert report.applied == {}
    assert report.planned == 0
    assert env.plan().empty
    assert env.writes() == 0


def test_r14_a_second_sync_with_no_change_makes_no_write_call(env: SyncEnv) -> None:
    """After the first sync (groups, custom fields, adoptions, managers), the next one only reads."""
    first = env.sync()
    assert sum(first.applied.values()) > 50

    assert_quiet(env)


def test_r14_after_changes_are_applied_the_next_sync_is_quiet_again(env: SyncEnv) -> None:
    """Edits, a hire, a leaver, a mover and drift in 360Learning converge in one run, then quiet."""
    env.sync()
    ids = [i for i in env.clean_ids() if i not in env.edge("adoptable")]
    env.personio.update(ids[0], position="Chief of Staff", last_name="Nováková")
    env.personio.update(ids[1], office="Atlantis")
    env.personio.terminate(ids[-1])
    env.personio.hire(first_name="Yuki", last_name="Tanaka", email="yuki.tanaka@newco.example",
                      supervisor=ids[2], department="Engineering", office="Berlin")
    user_id = env.user_id_of(ids[3])
    env.lms.update_user(user_id, {"firstName": "Changed by hand"})
    env.lms.set_custom_values(user_id, [])

    env.sync()

    assert_quiet(env)


def test_r14_a_flat_company_is_quiet_on_the_second_sync(flat_env: SyncEnv) -> None:
    """Without group structure or custom fields the second sync is read-only too."""
    flat_env.sync()

    assert_quiet(flat_env)
