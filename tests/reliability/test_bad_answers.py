"""Credential and permission failures on each API, malformed or truncated answers, unexpected
statuses (R13a, R16): the run stops with the exact message and its fix, nothing in 360Learning
changes, and no link is recorded."""

from __future__ import annotations

import re
from typing import Any

import pytest

from personio360.emulators.faults import Fault
from personio360.emulators.sandbox import Sandbox
from personio360.sync.report import Outcome

from .conftest import MakeSandbox, platform, sync, writes

EMPLOYEES = r"^/v1/company/employees$"


class Answer:
    """ASGI middleware: calls whose path matches ``path`` get this fixed answer instead."""

    def __init__(
        self,
        app: Any,
        path: str,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.app, self.path, self.status, self.body = app, re.compile(path), status, body
        self.headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            *((k.encode(), v.encode()) for k, v in (headers or {}).items()),
        ]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.path.search(scope["path"]):
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def stopped(sb: Sandbox, before: dict[str, Any], environ: dict[str, str] | None = None) -> tuple[str, str]:
    """Sync; assert it stopped (exit 3) and changed nothing; return its message and hint."""
    report = sync(sb, environ=environ)
    assert report.outcome is Outcome.STOPPED
    assert report.exit_code == 3
    assert writes(sb) == 0
    assert platform(sb) == before
    assert report.applied == {}
    return report.message or "", report.hint or ""


READ_FAILED = "reading failed, nothing was changed: "
PERSONIO_OUTSIDE = "Personio answered outside its published document; try again later"


def test_wrong_personio_secret(sandbox: Sandbox) -> None:
    """Personio refuses the credentials: the fix names the two variables."""
    before = platform(sandbox)
    message, hint = stopped(
        sandbox, before, {**sandbox.environ, "PERSONIO_CLIENT_SECRET": "not-the-personio-secret"}
    )
    assert message == READ_FAILED + "personio POST /v1/auth 401 [401]: Wrong credentials"
    assert (
        hint == "check PERSONIO_CLIENT_ID and PERSONIO_CLIENT_SECRET (Personio: Settings > API credentials)"
    )


def test_wrong_360learning_secret(sandbox: Sandbox) -> None:
    """360Learning refuses the credentials: the run stops before reading anything else."""
    before = platform(sandbox)
    message, hint = stopped(
        sandbox, before, {**sandbox.environ, "LEARNING360_CLIENT_SECRET": "not-the-360-secret"}
    )
    assert (
        message
        == READ_FAILED
        + "learning360 POST /api/v2/oauth2/token 401 [invalid_client]: "
        + "the client_id/client_secret pair is invalid"
    )
    assert "LEARNING360_CLIENT_SECRET" in hint


def test_personio_credentials_without_employee_access(make_sandbox: MakeSandbox) -> None:
    """Personio answers 403 to the employee list: the fix says which access to grant."""
    sb = make_sandbox()
    sb.personio.faults.replace([Fault(kind="status", status=403, path=EMPLOYEES)])
    message, hint = stopped(sb, platform(sb))
    assert (
        message
        == READ_FAILED + "personio GET /v1/company/employees 403 [403]: Provided authorization is not valid"
    )
    assert hint.startswith("give these API credentials read access to employees")


@pytest.mark.parametrize("missing", ["groups:read", "users:read", "externalIds:read"])
def test_360learning_credentials_missing_a_read_scope(make_sandbox: MakeSandbox, missing: str) -> None:
    """A credential without a read scope the sync needs stops before any change."""
    from personio360.emulators.learning360.app import ALL_SCOPES

    sb = make_sandbox(lms_options={"scopes": ALL_SCOPES - {missing}})
    message, _ = stopped(sb, platform(sb))
    assert message.startswith(READ_FAILED + "learning360 GET ")
    assert message.endswith(
        "403 [invalid_scope]: The given access token does not have the required "
        f"OAuth scope to execute the request. (this call needs the scope {missing})"
    )


def test_360learning_credentials_without_users_write(make_sandbox: MakeSandbox) -> None:
    """Reads pass, the first user write is refused: the run stops, names the scope, links nothing."""
    from personio360.emulators.learning360.app import ALL_SCOPES

    sb = make_sandbox(lms_options={"scopes": ALL_SCOPES - {"users:write"}})
    report = sync(sb)
    assert report.outcome is Outcome.STOPPED
    assert report.exit_code == 3
    assert "403 [invalid_scope]" in (report.message or "")
    assert "users:write" in (report.hint or "")
    assert all(u.mail in {x.mail for x in sb.company.lms.users} for u in sb.lms.state.users())


def test_personio_answers_an_html_page(make_sandbox: MakeSandbox) -> None:
    """A proxy's login page (200, text/html) is not an employee list."""
    sb = make_sandbox(
        wrap_personio=lambda app: Answer(app, EMPLOYEES, 200, b"<html>Sign in</html>", "text/html")
    )
    message, _ = stopped(sb, platform(sb))
    assert message == READ_FAILED + (
        "personio GET /v1/company/employees 200: expected JSON, got content type 'text/html'"
    )


def test_personio_answers_truncated_json(make_sandbox: MakeSandbox) -> None:
    """A body cut short (complete as far as HTTP knows) is refused, not half-read."""
    sb = make_sandbox(
        wrap_personio=lambda app: Answer(app, EMPLOYEES, 200, b'{"success": true, "data": [{"id"')
    )
    message, _ = stopped(sb, platform(sb))
    assert message == READ_FAILED + (
        "personio GET /v1/company/employees 200: the answer is not valid JSON (JSONDecodeError at char 32)"
    )


def test_personio_answers_the_wrong_shape(make_sandbox: MakeSandbox) -> None:
    """Valid JSON of another shape names the place, never the values."""
    sb = make_sandbox(
        wrap_personio=lambda app: Answer(app, EMPLOYEES, 200, b'{"success": true, "data": {"x": 1}}')
    )
    message, hint = stopped(sb, platform(sb))
    assert message == READ_FAILED + (
        "personio GET /v1/company/employees 200: unexpected body shape: data: Input should be a valid list"
    )
    assert hint == PERSONIO_OUTSIDE


def test_personio_answers_success_false(make_sandbox: MakeSandbox) -> None:
    """`success: false` with a 200 is an error, whatever the status says."""
    body = b'{"success": false, "error": {"code": 0, "message": "Something went wrong"}}'
    sb = make_sandbox(wrap_personio=lambda app: Answer(app, EMPLOYEES, 200, body))
    message, hint = stopped(sb, platform(sb))
    assert message == READ_FAILED + (
        "personio GET /v1/company/employees 200 [0]: answered 200 with success=false: Something went wrong"
    )
    assert hint == "Personio answered outside its published document"


@pytest.mark.parametrize("status", [302, 418])
def test_personio_answers_an_undocumented_status(make_sandbox: MakeSandbox, status: int) -> None:
    """A redirect (an SSO proxy) or a teapot is neither data nor a documented error."""
    sb = make_sandbox(
        wrap_personio=lambda app: Answer(
            app, EMPLOYEES, status, b"{}", headers={"location": "http://sso.example/"}
        )
    )
    message, hint = stopped(sb, platform(sb))
    assert message == READ_FAILED + (
        f"personio GET /v1/company/employees {status}: undocumented status {status}: no error message"
    )
    assert hint == "Personio answered outside its published document"


def test_360learning_answers_an_object_instead_of_a_list(make_sandbox: MakeSandbox) -> None:
    """A users page that is not the documented array stops the run (a partial read never deletes)."""
    sb = make_sandbox(wrap_lms=lambda app: Answer(app, r"^/api/v2/users$", 200, b'{"users": []}'))
    message, hint = stopped(sb, platform(sb))
    assert message == READ_FAILED + (
        "learning360 GET /api/v2/users 200: the answer does not have the "
        "documented shape: (body): Input should be a valid list"
    )
    assert hint == "the 360Learning answer is not what its API document describes"


def test_360learning_unreachable(make_sandbox: MakeSandbox) -> None:
    """Nothing listens at the configured base_url: the fix names the setting."""
    sb = make_sandbox()
    text = sb.config_path.read_text(encoding="utf-8").replace(sb.lms_url, "http://127.0.0.1:9")
    sb.config_path.write_text(text, encoding="utf-8")
    message, hint = stopped(sb, platform(sb))
    assert message == READ_FAILED + "learning360 POST /api/v2/oauth2/token: no answer (ConnectError)"
    assert hint == "check that learning360 is reachable at the configured base_url"
