"""R16 secret hygiene (no credential or token in any output, log or stored byte) and one run at a
time (two syncs started together: one runs, the other exits 4 and the store stays whole)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from secrets import token_hex
from typing import Any

from notify.conftest import ENVIRON as NOTIFY_ENVIRON  # the SMTP password, a webhook token
from notify.conftest import Targets, targets  # noqa: F401 (the fixture: SMTP and JSON receivers)
from personio360.emulators.faults import Fault
from personio360.emulators.sandbox import Sandbox
from personio360.store import open_store

from .conftest import MakeSandbox, cli

# distinctive, and made per run: no credential is written in the repository
PERSONIO = {"client_id": f"pid-Quokka-{token_hex(4)}", "client_secret": f"psec-Narwhal-{token_hex(6)}"}
LMS = {"client_id": f"lid-Pangolin-{token_hex(4)}", "client_secret": f"lsec-Axolotl-{token_hex(6)}"}


class TokenTap:
    """ASGI middleware recording every token an emulator's token endpoint hands out."""

    def __init__(self, app: Any, path: str, tokens: set[str]) -> None:
        self.app, self.path, self.tokens = app, path, tokens

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def tap(message: Any) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    body = json.loads(b"".join(chunks) or b"{}")
                    token = body.get("access_token") or (body.get("data") or {}).get("token")
                    if token:
                        self.tokens.add(token)
            await send(message)

        await self.app(scope, receive, tap)


def test_no_secret_or_token_in_any_output_log_or_stored_byte(
    make_sandbox: MakeSandbox, tmp_path: Path, targets: Targets,  # noqa: F811 (the fixture)
) -> None:
    """A full sync with distinctive credentials, DEBUG logs, token renewals and failures: zero hits,
    also in every notification sent (issue 14: email over SMTP, a JSON webhook, one target down)."""
    tokens: set[str] = set()
    sb = make_sandbox(
        personio_options=PERSONIO,
        lms_options=LMS,
        token_ttl=1.0,
        wrap_personio=lambda app: TokenTap(app, "/v1/auth", tokens),
        wrap_lms=lambda app: TokenTap(app, "/api/v2/oauth2/token", tokens),
    )
    sb.extra_toml += "\n" + targets.toml(down=True)
    sb.write_config()
    sb.lms.faults.replace(
        [
            Fault(kind="status", status=401, count=2, after=5),
            Fault(kind="lose_response", method="POST", path=r"^/api/v2/users$", count=1),
            Fault(kind="status", status=500, method="PATCH", count=1),
        ]
    )
    sb.personio.faults.replace([Fault(kind="status", status=401, path=r"^/v1/company/employees$", count=1)])
    config = str(sb.config_path)
    debug = {"PERSONIO360_LOG_LEVEL": "DEBUG", **NOTIFY_ENVIRON}
    outputs = [cli(sb, "check", "--config", config, env=debug)]
    for _ in range(4):  # the faults stop a run or two (exit 3); then it completes (exit 1: planted emails)
        outputs.append(cli(sb, "sync", "--config", config, "--json", env=debug))
        if outputs[-1].returncode != 3:
            break
    outputs += [
        cli(sb, "plan", "--config", config, "--json", "--out", str(tmp_path / "plan.json"), env=debug),
        cli(sb, "runs", "--config", config, env=debug),
        cli(sb, "runs", "show", "1", "--config", config, "--json", env=debug),
        cli(
            sb,
            "sync",
            "--config",
            config,
            env={**debug, "PERSONIO_CLIENT_SECRET": "x" + PERSONIO["client_secret"]},
        ),
    ]
    codes = [o.returncode for o in outputs]
    assert codes[0] == 0
    assert codes[-5:] == [1, 0, 0, 0, 3]
    assert set(codes[1:-5]) <= {3}
    assert len(tokens) >= 3  # two from 360Learning (ttl 1 s, a 401 renewal), one from Personio
    outputs.append(cli(sb, "notify", "test", "--config", config, env=debug))
    assert outputs[-1].returncode == 1  # the target that is down
    assert targets.counts()[0] >= 3  # stopped, skipped, recovered, test...
    needles = [v.encode() for v in (*PERSONIO.values(), *LMS.values(), *tokens, *NOTIFY_ENVIRON.values())]
    haystacks: dict[str, bytes] = {}
    for index, message in enumerate(targets.scanned()):
        haystacks[f"notification {index}"] = message
    for index, out in enumerate(outputs):
        haystacks[f"run {index} stdout"] = out.stdout.encode()
        haystacks[f"run {index} stderr"] = out.stderr.encode()
    for file in [*sb.directory.rglob("*"), *tmp_path.glob("plan.json")]:
        if file.is_file() and file.name != ".env":  # .env is where the operator keeps them
            haystacks[str(file)] = file.read_bytes()
    assert any(name.endswith(".db") for name in haystacks)
    assert "DEBUG" in haystacks["run 1 stderr"].decode() or "debug" in haystacks["run 1 stderr"].decode()
    hits = [
        (name, needle.decode()[:6])
        for name, data in haystacks.items()
        for needle in needles
        if needle in data
    ]
    assert hits == []


class Gate:
    """ASGI middleware holding every 360Learning groups read until ``opened`` (a run in progress)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.arrived = threading.Event()
        self.opened = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/api/v2/groups":
            self.arrived.set()
            await asyncio.get_running_loop().run_in_executor(None, self.opened.wait, 60)
        await self.app(scope, receive, send)


def test_two_syncs_started_together_one_runs_the_other_exits_4(make_sandbox: MakeSandbox) -> None:
    """Exactly one run holds the store; the other exits 4 at once with the message; the store stays whole."""
    gates: list[Gate] = []
    sb: Sandbox = make_sandbox(wrap_lms=lambda app: gates.append(Gate(app)) or gates[-1])
    gate = gates[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERSONIO_", "LEARNING360_"))}
    env.update(sb.environ)
    cmd = [sys.executable, "-m", "personio360", "sync", "--config", str(sb.config_path)]
    procs = [
        subprocess.Popen(
            cmd, env=env, cwd=sb.directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    try:
        assert gate.arrived.wait(60)  # one of them holds the lock and is reading 360Learning
        loser = next(iter(_first_exit(procs)))
        out, err = loser.communicate(timeout=60)
        gate.opened.set()
        winner = procs[1 - procs.index(loser)]
        _, winner_err = winner.communicate(timeout=120)
    finally:
        gate.opened.set()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    db = sb.directory / "personio360-test.db"
    assert loser.returncode == 4
    assert err == (
        f"error: another personio360 run is in progress on this state store ({db})\n"
        "fix: wait for the other run to finish (personio360 runs shows it), then run again\n"
    )
    assert out == ""
    assert winner.returncode == 1, winner_err  # completed with the planted per-employee errors
    store = open_store(f"sqlite:///{db}")
    try:
        runs = store.runs.recent()
        links = store.links.active()
    finally:
        store.close()
    assert [(r.command, r.outcome) for r in runs] == [("sync", "completed with errors")]
    users = {u.id: u for u in sb.lms.state.users()}
    mapped = {m.target_id: m.value for m in sb.lms.state.external_ids() if m.platform == "personio"}
    assert links
    assert all(link.user_id in users and mapped.get(link.user_id) == str(emp) for emp, link in links.items())
    assert len({link.user_id for link in links.values()}) == len(links)


def _first_exit(procs: list[subprocess.Popen[str]]) -> list[subprocess.Popen[str]]:
    """The process(es) that end first, waiting (bounded) without a fixed sleep."""
    import selectors

    with selectors.DefaultSelector() as selector:
        for proc in procs:
            assert proc.stderr is not None
            selector.register(proc.stderr, selectors.EVENT_READ, proc)
        events = selector.select(timeout=60)
    assert events, "neither run ended"
    return [key.data for key, _ in events]
