"""Fixtures for ``webhooks setup | status | remove`` and check's R17 lines: a small Sandbox whose
config has ``[webhooks] public_url`` pointing at a recording receiver on 127.0.0.1, with the
webhook secrets in its ``.env``; the real CLI runs as a subprocess, its output scanned for secrets."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_hex
from typing import Any

import pytest
import stamina
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from personio360.config import Settings, load_config
from personio360.emulators.sandbox import Sandbox
from personio360.emulators.server import RunningServer, serve_in_thread
from personio360.learning360.webhooks import Learning360Webhooks
from personio360.personio.webhooks import PersonioWebhooks
from personio360.subscriptions import Target, open_webhook_clients, target_of

TOKEN = "pwt-" + token_hex(16)  # made per run: no token is written in the repository


@pytest.fixture(autouse=True)
def _stamina_testing() -> Iterator[None]:
    """Retries without waiting, three attempts at most."""
    with stamina.set_testing(True, attempts=3):
        yield


@dataclass
class Receiver:
    """Answers 200 at any path and keeps each delivery's path and Authorization header."""

    seen: list[tuple[str, str | None]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            self.seen.append((request.url.path, request.headers.get("authorization")))
            return Response(status_code=200)

        return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])


class Hooked:
    """A sandbox with ``[webhooks]``, its receiver, and the webhook secrets in ``.env``."""

    def __init__(self, sb: Sandbox, receiver: Receiver, server: RunningServer) -> None:
        self.sb, self.receiver, self.server = sb, receiver, server
        self.public_url = server.url

    @property
    def settings(self) -> Settings:
        return load_config(self.sb.config_path)

    @property
    def target(self) -> Target:
        return target_of(self.settings)

    def set_public_url(self, url: str) -> None:
        self.sb.extra_toml = f'\n[webhooks]\npublic_url = "{url}"\n'
        env = (self.sb.directory / ".env").read_text(encoding="utf-8")
        self.sb.write_config()
        (self.sb.directory / ".env").write_text(env, encoding="utf-8")  # keep the webhook secrets

    def write_secrets(self, *, token: str | None = TOKEN, lms_secrets: tuple[str, ...] = ()) -> None:
        """Rewrite the webhook lines of ``.env`` (the credentials stay)."""
        path = self.sb.directory / ".env"
        lines = [line for line in path.read_text(encoding="utf-8").splitlines()
                 if not line.startswith(("PERSONIO_WEBHOOK_TOKEN", "LEARNING360_WEBHOOK_SECRET"))]
        if token:
            lines.append(f"PERSONIO_WEBHOOK_TOKEN={token}")
        if lms_secrets:
            lines.append(f"LEARNING360_WEBHOOK_SECRET={' '.join(lms_secrets)}")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def lms_secrets(self) -> tuple[str, ...]:
        """The signing secrets of every subscription the 360Learning emulator holds."""
        return tuple(self.sb.lms.webhooks.secret(s["_id"]) for s in self.sb.lms.webhooks.all())

    def clients(self) -> contextlib.AbstractContextManager[tuple[PersonioWebhooks, Learning360Webhooks]]:
        return open_webhook_clients(self.settings, self.sb.environ)

    def writes(self) -> int:
        return self.sb.personio.stats.count("write") + self.sb.lms.stats.count("write")

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``python -m personio360 ARGS`` in the sandbox's directory; no traceback, no secret shown."""
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith(("PERSONIO_", "LEARNING360_", "PERSONIO360_"))}
        environ.update({"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", **(env or {})})
        done = subprocess.run([sys.executable, "-m", "personio360", *args], capture_output=True,
                              text=True, env=environ, cwd=self.sb.directory, timeout=120, check=False)
        assert "Traceback" not in done.stderr, done.stderr
        secrets = (TOKEN, *self.sb.environ.values(), *self.lms_secrets())
        hits = [s[:6] for s in secrets if len(s) >= 8 and (s in done.stdout or s in done.stderr)]
        assert hits == [], f"a secret in the output of {args}"
        return done

    def cli_json(self, *args: str) -> tuple[int, Any]:
        done = self.cli(*args, "--json")
        return done.returncode, json.loads(done.stdout)


MakeHooked = Callable[..., Hooked]


@pytest.fixture
def make_hooked(tmp_path: Path) -> Iterator[MakeHooked]:
    """Build hooked sandboxes (``Sandbox`` options pass through, e.g. ``lms_options``)."""
    with contextlib.ExitStack() as stack:
        count = 0

        def make(**options: Any) -> Hooked:
            nonlocal count
            count += 1
            receiver = Receiver()
            server = stack.enter_context(serve_in_thread(receiver.app()))
            sb = Sandbox(tmp_path / f"hooked{count}", **{"size": 6, "seed": 5, "rate_limits": False,
                                                          **options})
            sb.extra_toml = f'\n[webhooks]\npublic_url = "{server.url}"\n'
            stack.enter_context(sb)
            hooked = Hooked(sb, receiver, server)
            hooked.write_secrets()
            return hooked

        yield make


@pytest.fixture
def hooked(make_hooked: MakeHooked) -> Hooked:
    """A small company, ``[webhooks]`` configured, PERSONIO_WEBHOOK_TOKEN set, no 360 secrets yet."""
    return make_hooked()
