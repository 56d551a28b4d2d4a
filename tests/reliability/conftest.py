"""Fixtures for the reliability tests: sandboxes over real HTTP on 127.0.0.1, the real CLI as a
subprocess, and readers of what changed (the platform by mail, write counts, the store)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import stamina

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # benchmarks/ (the chaos harness) lives beside src/
    sys.path.insert(0, str(REPO))

from benchmarks.chaos import project  # noqa: E402

from personio360.config import load_config  # noqa: E402
from personio360.emulators.sandbox import Sandbox  # noqa: E402
from personio360.sync.report import RunReport  # noqa: E402
from personio360.sync.run import run_sync  # noqa: E402
from personio360.wiring import open_context  # noqa: E402

DEFAULTS: dict[str, Any] = {"size": 24, "seed": 3, "rate_limits": False}


@pytest.fixture(autouse=True)
def _stamina_testing() -> Iterator[None]:
    """Retries without waiting, three attempts at most."""
    with stamina.set_testing(True, attempts=3):
        yield


MakeSandbox = Callable[..., Sandbox]


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator[MakeSandbox]:
    """Started sandboxes; ``wrap_personio``/``wrap_lms`` wrap an emulator's ASGI app first."""
    with contextlib.ExitStack() as stack:
        count = 0

        def make(
            wrap_personio: Callable[[Any], Any] | None = None,
            wrap_lms: Callable[[Any], Any] | None = None,
            **options: Any,
        ) -> Sandbox:
            nonlocal count
            count += 1
            sb = Sandbox(tmp_path / f"sb{count}", **{**DEFAULTS, **options})
            if wrap_personio:
                sb.personio.app = wrap_personio(sb.personio.app)  # type: ignore[method-assign]
            if wrap_lms:
                sb.lms.app = wrap_lms(sb.lms.app)
            stack.enter_context(sb)
            stack.callback(_signal_stop, sb)
            return sb

        yield make


def _signal_stop(sb: Sandbox) -> None:
    """Ask both servers to exit at once, so the Sandbox's sequential stop waits only once."""
    for server in (getattr(sb, "_personio_server", None), sb.lms.server):
        if server is not None:
            server.server.should_exit = True


@pytest.fixture
def sandbox(make_sandbox: MakeSandbox) -> Sandbox:
    """The default company: 24 employees, offices and departments, two custom fields."""
    return make_sandbox()


def sync(sb: Sandbox, environ: dict[str, str] | None = None, **options: Any) -> RunReport:
    """One run through the sync service, in this process, paced for the emulators."""
    settings = load_config(sb.config_path)
    with open_context(
        settings, environ=environ or sb.environ, rate_limit_factor=sb.client_rate_factor
    ) as ctx:
        return run_sync(settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01, **options)


def cli(
    sb: Sandbox | None, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m personio360 ARGS`` in a subprocess with the sandbox's credentials."""
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("PERSONIO_", "LEARNING360_", "PERSONIO360_"))
    }
    environ.update({**(sb.environ if sb else {}), **(env or {})})
    environ["COLUMNS"] = "400"
    return subprocess.run(
        [sys.executable, "-m", "personio360", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd or (sb.directory if sb else None),
        timeout=120,
        check=False,
    )


def platform(sb: Sandbox) -> dict[str, Any]:
    """Everything 360Learning holds, by mail (for "nothing changed" comparisons)."""
    return project(sb.lms.state)


def writes(sb: Sandbox) -> int:
    """Calls that changed (or tried to change) 360Learning."""
    return sb.lms.stats.count("write") + sb.lms.stats.count("bulk")
