"""Fixtures for notifications (issue 14): a real SMTP server (aiosmtpd) and a real HTTP receiver
for Apprise's ``json://`` targets, both on 127.0.0.1, a store, a clock moved by hand, and settings
whose ``[notify]`` points at them, with the SMTP password from the environment."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from secrets import token_hex
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from personio360.config import Settings, load_config
from personio360.store import Store, open_store
from personio360.store.runs import ErrorRecord
from personio360.sync.operations import DeleteUser, EmployeeError, Operation
from personio360.sync.report import Outcome, RunReport

SMTP_USER = "alerts"
# distinctive, for the secret scans to look for; made per run: none is written in the repository
SMTP_PASSWORD = f"smtp-Okapi-{token_hex(5)}"
HOOK_TOKEN = f"hook-Tapir-{token_hex(6)}"
GROUP = "a" * 24
T0 = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Mailbox:
    """aiosmtpd's handler: every message received, parsed; and the raw bytes for secret scans."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.raw: list[bytes] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.raw.append(envelope.content)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]

    def bodies(self) -> list[str]:
        out = []
        for message in self.messages:
            part = next((p for p in message.walk() if p.get_content_type() == "text/plain"), message)
            payload = part.get_payload(decode=True)
            out.append(payload.decode() if isinstance(payload, bytes) else str(payload))
        return out


def _authenticate(_server: Any, _session: Any, _envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == SMTP_USER.encode() \
        and data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@dataclass
class Receiver:
    """A JSON webhook target: every POST body, and its path."""

    port: int
    posts: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)


@dataclass
class Targets:
    smtp_port: int
    mailbox: Mailbox
    hook: Receiver
    down_port: int

    def toml(self, *, down: bool = False, extra: str = "") -> str:
        urls = [f"mailto://{SMTP_USER}:${{SMTP_PASSWORD}}@127.0.0.1:{self.smtp_port}"
                "?from=personio360@example.com&to=hr-ops@example.com",
                f"json://127.0.0.1:{self.hook.port}/alerts?+X-Hook-Token=${{HOOK_TOKEN}}"]
        if down:
            urls.append(f"json://127.0.0.1:{self.down_port}/nobody-listens")
        return "[notify]\nurls = [" + ", ".join(json.dumps(u) for u in urls) + "]\n" + extra

    def counts(self) -> tuple[int, int]:
        """(emails, JSON posts) received so far."""
        return len(self.mailbox.messages), len(self.hook.posts)

    def scanned(self) -> list[bytes]:
        """Every byte every target received."""
        return [*self.mailbox.raw, *self.hook.raw]


@pytest.fixture
def targets() -> Iterator[Targets]:
    """The SMTP server and the JSON receiver on loopback, and a port where nothing listens."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=_authenticate,
                            auth_require_tls=False)
    controller.start()
    receiver = Receiver(0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.raw.append(self.path.encode() + b"\n" + body)
            receiver.paths.append(self.path)
            receiver.posts.append(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Targets(port, mailbox, receiver, free_port())
    finally:
        server.shutdown()
        server.server_close()
        controller.stop()


ENVIRON = {"SMTP_PASSWORD": SMTP_PASSWORD, "HOOK_TOKEN": HOOK_TOKEN}


def write_settings(directory: Path, notify: str, *, extra: str = "") -> Settings:
    """A minimal config with this ``[notify]`` table (no API is called by these tests)."""
    path = directory / "personio360.toml"
    path.write_text(
        'environment = "production"\n\n[learning360]\nconnector_admin_email = "lms-admin@example.com"\n\n'
        f'[[groups]]\nid = "{GROUP}"\n\n[state]\nurl = "sqlite:///{(directory / "state.db").as_posix()}"\n\n'
        f"{extra}\n{notify}", encoding="utf-8")
    return load_config(path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{(tmp_path / 'state.db').as_posix()}")
    yield opened
    opened.close()


class Clock:
    """Now, moved by hand: reminders are tested without sleeping."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def recorded(store: Store, outcome: Outcome, *, kind: str = "full", errors: tuple[EmployeeError, ...] = (),
             held_back: tuple[Operation, ...] = (), message: str | None = None,
             hint: str | None = None, command: str = "sync") -> RunReport:
    """A run recorded in the store as ``run_sync`` records one, and its report."""
    run_id = store.runs.start(command, "production", kind)
    with store.transaction() as session:
        for error in errors:
            store.runs.add_error(session, run_id, ErrorRecord(error.employee_id, error.code, error.message))
    store.runs.finish(run_id, outcome.value, {"applied": {}, "failed": {}, "errors": len(errors),
                                              "held_back": len(held_back), "planned": 0}, message)
    now = dt.datetime.now(dt.UTC)
    return RunReport(run_id=run_id, outcome=outcome, started_at=now, ended_at=now, errors=errors,
                     held_back=held_back, message=message, hint=hint)


def skipped(*ids: int) -> tuple[EmployeeError, ...]:
    return tuple(EmployeeError(i, "missing_email", "the employee has no email in Personio; skipped")
                 for i in ids)


def deletions(count: int) -> tuple[Operation, ...]:
    return tuple(DeleteUser(employee_id=100 + i, user_id=f"u{i}", reason="inactive", mail=f"p{i}@example.com")
                 for i in range(count))
