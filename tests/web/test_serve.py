"""``personio360 serve`` itself (issue 9): refuses to start unprotected, serves the page, runs the
schedule in production only (R12)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from personio360.cli.main import cli
from personio360.config import load_config
from personio360.errors import ConfigError
from personio360.web.admin import Admin
from personio360.wiring import open_context

from .conftest import PASSWORD, make_sandbox


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int, deadline: float) -> None:
    """Until the port accepts a connection (uvicorn binds just after the process prints its URL)."""
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise


def test_serve_refuses_to_start_without_a_password(tmp_path: Path) -> None:
    """Exit 2 with error and fix lines when PERSONIO360_ADMIN_PASSWORD is missing or too short."""
    env = {k: v for k, v in os.environ.items() if k != "PERSONIO360_ADMIN_PASSWORD"}
    runner = CliRunner(env=env)
    result = runner.invoke(cli, ["serve", "--config", str(tmp_path / "none.toml")], env={
        "PERSONIO360_ADMIN_PASSWORD": ""})
    assert result.exit_code == 2
    assert "error: PERSONIO360_ADMIN_PASSWORD is not set" in result.output
    result = runner.invoke(cli, ["serve"], env={"PERSONIO360_ADMIN_PASSWORD": "short"})
    assert result.exit_code == 2
    assert "shorter than 12 characters" in result.output


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """``personio360 serve`` as a real process on a free port, over a sandboxed company."""
    sb, _academy = make_sandbox(tmp_path)
    with sb:
        port = _free_port()
        env = {**os.environ, "PERSONIO360_ADMIN_PASSWORD": PASSWORD}
        process = subprocess.Popen(
            [sys.executable, "-m", "personio360", "serve", "--config", str(sb.config_path),
             "--port", str(port)], cwd=sb.directory, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert f"admin page on http://127.0.0.1:{port}/ (test)" in line, line
            _listening(port, time.monotonic() + 20)
            yield f"http://127.0.0.1:{port}", sb
        finally:
            process.terminate()
            process.wait(timeout=20)
            if process.stdout is not None:
                process.stdout.close()


def test_the_real_serve_command_signs_in_and_verifies(served: tuple[str, Any], browser: Any) -> None:
    """In Chromium, against the real process: sign-in, then Verify lists the checks; no secret shows."""
    from playwright.sync_api import expect

    url, sb = served
    context = browser.new_context(base_url=url)
    try:
        page = context.new_page()
        page.goto("/integration")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("Enter")
        page.get_by_role("button", name="Verify").click()
        expect(page.get_by_text("Passed: 360Learning: connector admin (R10)", exact=False)).to_be_visible()
        html = page.content()
        for name, value in sb.environ.items():
            assert value not in html, name
        assert PASSWORD not in html
    finally:
        context.close()


def test_the_schedule_runs_in_production_only(tmp_path: Path) -> None:
    """Production: one scheduled tick records a run and sets the next run's time; test: no schedule (R12)."""
    sb, _academy = make_sandbox(tmp_path, environment="production")
    with sb, open_context(load_config(sb.config_path), environ=sb.environ,
                          rate_limit_factor=sb.client_rate_factor) as ctx:
        admin = Admin(ctx.settings, ctx, environ=sb.environ, bulk_poll_interval=0.01)
        schedule = admin.schedule()
        schedule.on_report = lambda _report: admin.stop.set()
        schedule.run_forever()
        assert ctx.store.runs.count() == 1
        assert admin.next_run is not None
        test = ctx.settings.model_copy(update={"environment": "test"})
        with pytest.raises(ConfigError, match="never runs on a schedule"):
            Admin(test, ctx).schedule()

