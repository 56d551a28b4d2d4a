"""The real command line (SPEC §2) in a subprocess, against a Sandbox: output, exit codes, no secrets.

Each run is ``python -m personio360 ...`` in the sandbox's directory (its ``.env`` holds the
emulators' credentials). The CLI paces itself to the published rate limits, so the companies
are small, and the one full sync is shared by the tests that read its history. Every run's
output is scanned for the client secrets (R16).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from personio360.emulators.sandbox import Sandbox
from personio360.store import open_store

SIZE = 20
CREDENTIAL_VARS = ("PERSONIO_CLIENT_ID", "PERSONIO_CLIENT_SECRET", "LEARNING360_CLIENT_ID",
                   "LEARNING360_CLIENT_SECRET")
#: the real CLI with stamina's testing mode (no waits between retries), for the failure cases
NO_WAIT = ("-c", "import stamina, sys; stamina.set_testing(True, attempts=2); "
           "from personio360.cli.main import main; main()")


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in CREDENTIAL_VARS and not k.startswith("PERSONIO360_")}
    env.update({"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
    return env


def run(cwd: Path, *args: str, env: dict[str, str] | None = None, secrets: tuple[str, ...] = (),
        entry: tuple[str, ...] = ("-m", "personio360"), timeout: float = 120) -> Result:
    """Run the CLI in ``cwd``; fail if a secret shows in its output or a traceback in stderr."""
    done = subprocess.run([sys.executable, *entry, *args], cwd=cwd, env=env or _base_env(),
                          capture_output=True, text=True, timeout=timeout, check=False)
    for secret in secrets:
        assert secret not in done.stdout, f"secret in stdout of {args}"
        assert secret not in done.stderr, f"secret in stderr of {args}"
    assert "Traceback" not in done.stderr, done.stderr
    return Result(done.returncode, done.stdout, done.stderr)


def secrets_of(sb: Sandbox) -> tuple[str, ...]:
    return (sb.environ["PERSONIO_CLIENT_SECRET"], sb.environ["LEARNING360_CLIENT_SECRET"])


def writes(sb: Sandbox) -> int:
    return sb.lms.stats.count("write") + sb.lms.stats.count("bulk")


@pytest.fixture
def sb(tmp_path: Path) -> Iterator[Sandbox]:
    """A fresh small company served by both emulators, its config and .env in ``tmp_path``."""
    with Sandbox(tmp_path, size=SIZE, rate_limits=False) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Result]]:
    """One company after one full ``sync --json`` (shared: the CLI paces its writes)."""
    with Sandbox(tmp_path_factory.mktemp("synced"), size=SIZE, rate_limits=False) as sandbox:
        yield sandbox, run(sandbox.directory, "sync", "--json", secrets=secrets_of(sandbox))


# --- check -----------------------------------------------------------------------------------


def test_check_passes_line_by_line(sb: Sandbox) -> None:
    """R11: one pass line per check, a summary, exit 0."""
    result = run(sb.directory, "check", secrets=secrets_of(sb))
    assert result.code == 0, result.err
    checks = [line for line in result.lines if line.startswith(("pass", "FAIL"))]
    assert len(checks) >= 6
    assert all(line.startswith("pass  ") for line in checks)
    assert f"{len(checks)} passed, 0 failed" in result.out
    assert any("connector admin (R10)" in line for line in checks)


def test_check_with_a_wrong_secret_fails_with_a_fix(sb: Sandbox) -> None:
    """R11: a refused credential is a FAIL line with its fix; exit 3; the secret is never shown."""
    wrong = "not-the-right-secret-4711"
    env = {**_base_env(), **sb.environ, "LEARNING360_CLIENT_SECRET": wrong}
    result = run(sb.directory, "check", env=env, secrets=(wrong, *secrets_of(sb)))
    assert result.code == 3
    failed = [i for i, line in enumerate(result.lines) if line.startswith("FAIL")]
    assert failed
    assert any("360Learning" in result.lines[i] for i in failed)
    assert result.lines[failed[0] + 1].strip().startswith("fix: ")
    assert re.search(r"\d+ passed, [1-9]\d* failed", result.out)


# --- plan ------------------------------------------------------------------------------------


def test_plan_prints_the_changes_and_changes_nothing(sb: Sandbox) -> None:
    """R13c: the table by kind, per-person lines, the R15 errors; no write reaches 360Learning."""
    users_before = len(sb.lms.state.users())
    result = run(sb.directory, "plan", secrets=secrets_of(sb))
    assert result.code == 0, result.err
    assert result.lines[0].startswith("In scope: ")
    for text in ("Changes by kind", "create user", "R3", "Per-person changes", "Errors (R15)",
                 "has no email in Personio; skipped"):
        assert text in result.out
    assert writes(sb) == 0
    assert len(sb.lms.state.users()) == users_before


def test_plan_json_and_out_give_the_same_plan(sb: Sandbox, tmp_path: Path) -> None:
    """``plan --json`` parses and lists operations; ``--out FILE`` saves the same JSON."""
    saved = tmp_path / "approved" / "plan.json"
    saved.parent.mkdir()
    result = run(sb.directory, "plan", "--json", "--out", str(saved), secrets=secrets_of(sb))
    assert result.code == 0, result.err
    printed = json.loads(result.out)
    assert json.loads(saved.read_text(encoding="utf-8")) == printed
    kinds = {op["kind"] for op in printed["operations"]}
    assert {"create_user", "set_external_id"} <= kinds
    assert printed["summary"]["counts"]["create_user"] >= 1
    assert {e["code"] for e in printed["errors"]} >= {"missing_email", "invalid_email",
                                                       "duplicate_email"}
    assert all(op["rule"].startswith("R") for op in printed["operations"])
    assert all(op["outcome"] == "apply" for op in printed["operations"])
    assert writes(sb) == 0


# --- sync ------------------------------------------------------------------------------------


def test_sync_with_per_employee_errors_exits_1(synced: tuple[Sandbox, Result]) -> None:
    """R15: the generated company's bad emails are skipped and reported; the others are synced."""
    sb, result = synced
    assert result.code == 1, result.err
    report = json.loads(result.out)
    assert report["outcome"] == "completed with errors"
    assert report["applied"]["create_user"] >= 5
    assert {e["code"] for e in report["errors"]} >= {"missing_email", "invalid_email",
                                                      "duplicate_email"}
    assert report["run_id"] == 1
    skipped = set(sb.company.edge_cases["missing_email"])
    linked = {int(m.value) for m in sb.lms.state.external_ids()}
    assert linked
    assert not skipped & linked


def test_runs_lists_the_run(synced: tuple[Sandbox, Result]) -> None:
    """R16: ``runs`` shows the run with its command, environment and outcome."""
    sb, _ = synced
    result = run(sb.directory, "runs", secrets=secrets_of(sb))
    assert result.code == 0, result.err
    row = next(line for line in result.lines if line.strip().startswith("1 "))
    for text in ("sync", "test", "completed"):
        assert text in row


def test_runs_show_gives_operations_and_errors(synced: tuple[Sandbox, Result]) -> None:
    """R16: one row per operation (who, what, before → after) and per error, as text and JSON."""
    sb, _ = synced
    text = run(sb.directory, "runs", "show", "1", secrets=secrets_of(sb))
    assert text.code == 0, text.err
    assert text.lines[0] == "Run 1: sync (test), completed with errors"
    assert "Operations" in text.out
    assert "Errors" in text.out
    assert "missing_email" in text.out
    data = json.loads(run(sb.directory, "runs", "show", "1", "--json", secrets=secrets_of(sb)).out)
    assert data["run"]["outcome"] == "completed with errors"
    assert data["run"]["environment"] == "test"
    creates = [op for op in data["operations"] if op["kind"] == "create_user"]
    assert creates
    assert all(op["outcome"] == "applied" and op["user_id"] for op in creates)
    assert any(c["name"] == "mail" and c["before"] is None and c["after"] for c in creates[0]["changes"])
    assert {e["code"] for e in data["errors"]} >= {"missing_email"}


def test_runs_show_of_an_unknown_run_is_a_usage_error(synced: tuple[Sandbox, Result]) -> None:
    """An unknown run id: ``error:`` and ``fix:``, exit 2."""
    sb, _ = synced
    result = run(sb.directory, "runs", "show", "99")
    assert result.code == 2
    assert "error: no run 99 in this state store" in result.err
    assert "fix: personio360 runs lists the runs" in result.err


def test_sync_of_one_employee_changes_only_that_person(sb: Sandbox) -> None:
    """``sync --employee ID``: one person created and set up, exit 0, nobody else touched."""
    bad = {i for ids in sb.company.edge_cases.values() for i in ids}
    employee_id = next(e.id for e in sb.company.employees if e.id not in bad and e.status == "active")
    users_before = len(sb.lms.state.users())
    result = run(sb.directory, "sync", "--employee", str(employee_id), "--json", secrets=secrets_of(sb))
    assert result.code == 0, result.out + result.err
    report = json.loads(result.out)
    assert report["outcome"] == "completed"
    assert report["applied"]["create_user"] == 1
    assert report["errors"] == []
    assert len(sb.lms.state.users()) == users_before + 1
    assert [m.value for m in sb.lms.state.external_ids()] == [str(employee_id)]


# --- failures: exit codes 2, 3 and 4 ---------------------------------------------------------


def test_a_broken_config_exits_2_with_every_problem(sb: Sandbox) -> None:
    """SPEC §3: ``error:`` with each key and line, ``fix:``, exit 2, no traceback."""
    broken = sb.directory / "broken.toml"
    text = sb.config_path.read_text(encoding="utf-8")
    broken.write_text(text.replace('environment = "test"', 'environment = "staging"\ncolour = 1'),
                      encoding="utf-8")
    result = run(sb.directory, "plan", "--config", str(broken))
    assert result.code == 2
    assert result.err.startswith(f"error: the config file {broken} has 2 problems:")
    assert f"{broken}:2: environment: Input should be 'test' or 'production'" in result.err
    assert f"{broken}:3: colour: unknown key" in result.err
    assert "\nfix: correct each key listed above" in result.err
    assert result.out == ""


def test_the_config_comes_from_the_environment_variable(sb: Sandbox, tmp_path: Path) -> None:
    """SPEC §2: ``$PERSONIO360_CONFIG`` names the file when ``--config`` is absent."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**_base_env(), "PERSONIO360_CONFIG": str(tmp_path / "missing.toml")}
    result = run(elsewhere, "runs", env=env)
    assert result.code == 2
    assert f"error: no config file at {tmp_path / 'missing.toml'}" in result.err
    assert "fix: pass --config PATH, set PERSONIO360_CONFIG" in result.err


def test_missing_credentials_exit_2_naming_the_variables(sb: Sandbox, tmp_path: Path) -> None:
    """No environment and no .env: exit 2 naming every missing variable."""
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(sb.config_path, bare / "personio360.toml")
    result = run(bare, "plan")
    assert result.code == 2
    assert ("error: missing credentials: PERSONIO_CLIENT_ID, PERSONIO_CLIENT_SECRET, "
            "LEARNING360_CLIENT_ID, LEARNING360_CLIENT_SECRET") in result.err
    assert "fix: export them in the environment or write them in a .env file" in result.err


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_api_exits_3_with_a_fix(sb: Sandbox) -> None:
    """R13a: nothing answers at the base_url: the run stops before any change, exit 3, no traceback."""
    text = sb.config_path.read_text(encoding="utf-8")
    sb.config_path.write_text(text.replace(sb.lms_url, f"http://127.0.0.1:{_closed_port()}"),
                              encoding="utf-8")
    result = run(sb.directory, "plan", entry=NO_WAIT, secrets=secrets_of(sb))
    assert result.code == 3
    assert result.err.startswith("error: reading failed, nothing was changed: learning360 ")
    assert "\nfix: check that learning360 is reachable at the configured base_url" in result.err


def test_a_second_concurrent_run_exits_4(sb: Sandbox) -> None:
    """One run at a time (R14): while the store's lock is held, ``sync`` changes nothing, exit 4."""
    from personio360.config import load_config

    store = open_store(load_config(sb.config_path).state_url)
    try:
        with store.lock.held():
            result = run(sb.directory, "sync", secrets=secrets_of(sb))
    finally:
        store.close()
    assert result.code == 4
    assert "error: another personio360 run is in progress on this state store" in result.err
    assert "fix: wait for the other run to finish" in result.err
    assert writes(sb) == 0


# --- emulate ---------------------------------------------------------------------------------


def test_emulate_personio_prints_its_url(tmp_path: Path) -> None:
    """``emulate personio --port 0`` serves on a free loopback port and says where."""
    process = subprocess.Popen(
        [sys.executable, "-m", "personio360", "emulate", "personio", "--port", "0", "--generate", "5"],
        cwd=tmp_path, env=_base_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:(\d+))$", first.strip())
        assert match, first
        assert first.startswith("personio emulator serving ")
        with contextlib.closing(socket.create_connection(("127.0.0.1", int(match.group(2))),
                                                         timeout=5)):
            pass
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=15)
    assert "Traceback" not in err


# --- R17 changes runs ---------------------------------------------------------------------------


def test_r17_sync_changes_before_any_full_sync_is_refused_with_the_fix(sb: Sandbox) -> None:
    """A changes run builds on a completed full sync: exit 3, error and fix, nothing written."""
    result = run(sb.directory, "sync", "--changes", secrets=secrets_of(sb))
    assert result.code == 3
    assert "error: no full sync has completed in this state store yet" in result.err
    assert "fix: run personio360 sync once; changes runs take over from there" in result.err
    assert writes(sb) == 0


def test_r17_sync_and_plan_changes_on_the_command_line(sb: Sandbox) -> None:
    """After a full sync, an HR edit: plan --changes shows it and changes nothing; sync --changes
    applies it as a changes run (exit 0) and the next one has nothing to do."""
    assert run(sb.directory, "sync", secrets=secrets_of(sb)).code in (0, 1)
    store = open_store(f"sqlite:///{sb.directory / 'personio360-test.db'}")
    employee = sorted(store.links.active())[0]
    store.close()
    sb.personio.state.update(employee, position="Changed for the CLI")
    before = writes(sb)
    planned = run(sb.directory, "plan", "--changes", secrets=secrets_of(sb))
    assert planned.code == 0
    assert "Changed for the CLI" in planned.out
    assert writes(sb) == before
    applied = run(sb.directory, "sync", "--changes", "--json", secrets=secrets_of(sb))
    assert applied.code == 0
    report = json.loads(applied.out)
    assert (report["kind"], report["covered"], report["applied"]) == ("changes", 1, {"update_user": 1})
    idle = run(sb.directory, "sync", "--changes", secrets=secrets_of(sb))
    assert idle.code == 0
    assert "nothing to do" in idle.out


def test_r17_changes_cannot_be_combined_with_employee_or_plan(sb: Sandbox) -> None:
    for args in (("sync", "--changes", "--employee", "1"), ("sync", "--changes", "--plan", "x.json"),
                 ("plan", "--changes", "--employee", "1")):
        result = run(sb.directory, *args)
        assert result.code == 2, args
        assert "error:" in result.err
        assert "fix:" in result.err
