"""R14 recovery end to end: a sync killed mid-apply, or one whose answers are lost, converges at the
next run to the state of an uninterrupted sync, and no user is ever created twice.

The kill is real: the sync runs in a child process (``python -m personio360 sync``, or a small
script calling ``run_sync`` with faster client pacing for the later kill points) against the
emulators served by this process; once the 360Learning emulator has counted N writes, the child
gets SIGKILL. The re-run happens here, and the platform is compared with a second sandbox of the
same seed synced without interruption.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from personio360.emulators.faults import Fault
from personio360.emulators.sandbox import Sandbox

from .conftest import DEFAULTS, SyncEnv, _signal_stop

if TYPE_CHECKING:
    from .conftest import MakeEnv

KILL_DEADLINE_S = 30.0
#: The child's client pacing for the script runs: 100 writes/s, so kill points land where aimed.
SCRIPT_RATE_FACTOR = 10.0
SCRIPT = """\
import sys
from personio360.config import load_config
from personio360.sync.run import run_sync
from personio360.wiring import open_context

settings = load_config(sys.argv[1])
with open_context(settings, rate_limit_factor=float(sys.argv[2])) as ctx:
    report = run_sync(settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01)
sys.exit(report.exit_code)
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The default company synced once, without interruption: the state every recovery must reach."""
    with contextlib.ExitStack() as stack:
        sb = stack.enter_context(Sandbox(tmp_path_factory.mktemp("reference"), **DEFAULTS))
        stack.callback(_signal_stop, sb)
        env = SyncEnv(sb, stack)
        env.sync()
        yield env.platform_by_mail()


def child_command(env: SyncEnv, how: str) -> list[str]:
    if how == "cli":
        return [sys.executable, "-m", "personio360", "sync", "--config", str(env.sb.config_path)]
    script = env.sb.directory / "sync_once.py"
    script.write_text(SCRIPT, encoding="utf-8")
    return [sys.executable, str(script), str(env.sb.config_path), str(SCRIPT_RATE_FACTOR)]


def kill_after_writes(env: SyncEnv, command: list[str], writes: int) -> int:
    """Run ``command``; SIGKILL it once 360Learning has counted ``writes`` writes; its return code."""
    log = env.sb.directory / "child.log"
    with log.open("wb") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                 cwd=env.sb.directory)
        deadline = time.monotonic() + KILL_DEADLINE_S
        try:
            while env.writes() < writes:
                if time.monotonic() > deadline:
                    pytest.fail(f"the child made only {env.writes()} writes in {KILL_DEADLINE_S} s")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=0.002)
                    break  # it ended on its own
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
            return child.wait(timeout=KILL_DEADLINE_S)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()


def assert_no_user_twice(env: SyncEnv) -> None:
    """R14: one user per mail, and one employee per user."""
    mails = Counter((u.mail or "").strip().lower() for u in env.lms.users())
    assert [m for m, n in mails.items() if n > 1] == []
    users = [link.user_id for link in env.links().values()]
    assert len(users) == len(set(users))


@pytest.mark.parametrize(("how", "writes"), [
    ("cli", 12),      # among the creations
    ("script", 55),   # among the external ids
    ("script", 110),  # among the managers and custom values
])
def test_r14_a_sync_killed_mid_apply_converges_to_the_uninterrupted_result(
    env: SyncEnv, reference: dict[str, Any], how: str, writes: int
) -> None:
    """SIGKILL after N writes, then one more sync: the same platform as one clean sync, no user twice."""
    code = kill_after_writes(env, child_command(env, how), writes)
    assert code == -signal.SIGKILL, (env.sb.directory / "child.log").read_text(encoding="utf-8")
    assert env.platform_by_mail() != reference  # the kill did interrupt the work

    report = env.sync()

    assert report.exit_code == 1  # the planted bad emails only
    assert {e.code for e in report.errors} <= {"missing_email", "invalid_email", "duplicate_email"}
    assert env.platform_by_mail() == reference
    assert_no_user_twice(env)
    assert set(env.clean_ids()) <= set(env.links())
    killed = env.ctx.store.runs.detail(1)
    assert killed is not None
    assert killed.run.outcome == "interrupted"
    env.sb.lms.stats.reset()
    assert env.sync().applied == {}
    assert env.writes() == 0


@pytest.mark.parametrize(("method", "path", "after"), [
    ("POST", r"^/api/v2/users$", 3),
    ("POST", r"^/api/v2/external-ids$", 3),
    ("POST", r"^/api/v2/custom-fields$", 0),
])
def test_r14_a_lost_response_never_creates_a_user_twice(
    env: SyncEnv, reference: dict[str, Any], method: str, path: str, after: int
) -> None:
    """A write that lands but whose answer is lost, once: the next sync ends like a clean one."""
    env.sb.lms.faults.replace([Fault(kind="lose_response", method=method, path=path, after=after,
                                     count=1)])

    first = env.sync()
    assert env.sb.lms.faults.injected["lose_response"] == 1
    second = env.sync()

    assert second.exit_code == 1, (first.message, second.message)  # the planted bad emails only
    assert env.platform_by_mail() == reference
    assert_no_user_twice(env)
    env.sb.lms.stats.reset()
    assert env.sync().applied == {}
    assert env.writes() == 0


def test_r14_a_second_sandbox_of_the_same_seed_is_the_same_company(
    make_env: MakeEnv, reference: dict[str, Any]
) -> None:
    """The comparison's premise: the same seed synced without trouble gives the reference exactly."""
    env = make_env()
    env.sync()
    assert env.platform_by_mail() == reference



def test_r14_360learning_failing_mid_apply_stops_and_the_next_run_converges(
    env: SyncEnv, reference: dict[str, Any]
) -> None:
    """Writes start failing with 503 after 40 of them: the run stops and says so; the next run finishes."""
    env.sb.lms.faults.replace([Fault(kind="status", status=503, method="WRITE", after=40)])

    stopped = env.sync()

    assert stopped.exit_code == 3
    assert "next run" in (stopped.message or "")
    detail = env.ctx.store.runs.detail(stopped.run_id or 0)
    assert detail is not None
    assert detail.run.outcome == "stopped"
    assert len(detail.operations) == sum(stopped.applied.values()) > 0
    env.sb.lms.faults.replace([])

    env.sync()

    assert env.platform_by_mail() == reference
    assert_no_user_twice(env)


def test_r14_a_lost_create_of_a_mixed_case_email_is_found_again(flat_env: SyncEnv) -> None:
    """The lost create of `New.Person@Example.ORG` is looked up, linked once, and the next sync is quiet."""
    env = flat_env
    env.sync()
    hired = env.personio.hire(first_name="New", last_name="Person", email="  New.Person@Example.ORG ")
    env.sb.lms.faults.replace([Fault(kind="lose_response", method="POST", path=r"^/api/v2/users$", count=1)])

    first = env.sync()
    second = env.sync()

    assert env.sb.lms.faults.injected["lose_response"] == 1
    assert hired not in {e.employee_id for e in (*first.errors, *second.errors)}
    assert_no_user_twice(env)
    assert env.external_value(env.user_id_of(hired)) == str(hired)
    env.sb.lms.stats.reset()
    assert env.sync().applied == {}
    assert env.writes() == 0
