"""``personio360 schedule`` end to end: refused in test, runs and stops cleanly in production (R12)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from personio360.emulators.sandbox import Sandbox
from personio360.store import open_store


def _command(config: Path) -> list[str]:
    return [sys.executable, "-m", "personio360", "schedule", "--config", str(config)]


def test_r12_schedule_refused_in_test_environment(tmp_path: Path) -> None:
    """In the test environment the schedule exits 2 with error and fix lines, no traceback."""
    with Sandbox(tmp_path, size=10, rate_limits=False) as sb:
        done = subprocess.run(_command(sb.config_path), capture_output=True, text=True,
                              timeout=60, env={**os.environ, **sb.environ}, check=False)
    assert done.returncode == 2
    assert 'error: the schedule runs only with environment = "production"' in done.stderr
    assert "fix:" in done.stderr
    assert "Traceback" not in done.stderr


def test_r12_schedule_runs_then_stops_on_sigterm(tmp_path: Path) -> None:
    """In production a first run happens at once; SIGTERM then ends the schedule cleanly (exit 0)."""
    with Sandbox(tmp_path, size=15, rate_limits=False, environment="production") as sb:
        child = subprocess.Popen(_command(sb.config_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env={**os.environ, **sb.environ})
        store = open_store(f"sqlite:///{tmp_path / 'personio360-production.db'}")
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and child.poll() is None:
                runs = store.runs.recent(1)
                if runs and runs[0].ended_at is not None:
                    break
                time.sleep(0.05)  # polling the store, bounded by the deadline
            assert child.poll() is None, child.communicate()[1]
            child.send_signal(signal.SIGTERM)
            out, err = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
            store.close()
        outbox = sb.lms.state.outbox
    assert child.returncode == 0, err
    assert "Schedule stopped after 1 runs." in out
    assert "Traceback" not in err
    assert outbox, "production sends the welcome emails (R3, R12)"
