"""The admin page's view of R17 (issue 13), over real HTTP against the served app and both
emulators: the change feed on the Overview, each run's kind in Runs, ``webhooks status`` under
Integration, a clear sentence where there is nothing to show, and never a token or secret."""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from secrets import token_hex
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from personio360.config import load_config
from personio360.emulators.faults import Fault
from personio360.emulators.learning360.app import ALL_SCOPES
from personio360.emulators.sandbox import Sandbox
from personio360.emulators.server import serve_in_thread
from personio360.subscriptions import open_webhook_clients, setup_learning360, setup_personio, target_of
from personio360.sync.run import run_sync
from personio360.sync.run_changes import run_changes
from personio360.web.admin import Admin
from personio360.web.app import create_app
from personio360.wiring import open_context

from .conftest import LAPTOP, PASSWORD, PHONE, make_sandbox

TOKEN = "pwt-" + token_hex(16)  # made per run: no token is written in the repository
DELIVERIES = "GET /v2/webhooks"


@dataclass
class Served:
    """The admin page over a sandbox, a signed-in client, and every page it fetched."""

    url: str
    sb: Sandbox
    admin: Admin
    http: httpx.Client
    environ: dict[str, str]
    receiver: list[str]
    pages: list[str] = field(default_factory=list)

    def get(self, path: str) -> str:
        response = self.http.get(path)
        assert response.status_code == 200, (path, response.status_code)
        self.pages.append(response.text)
        return response.text

    def post(self, path: str) -> str:
        response = self.http.post(path, data={"csrf": _csrf(self.get("/integration"))})
        assert response.status_code == 200, (path, response.status_code)
        self.pages.append(response.text)
        return response.text

    def secrets(self) -> list[str]:
        """What no page may ever hold: the password, credentials, the webhook token and secrets."""
        signing = [self.sb.lms.webhooks.secret(s["_id"]) for s in self.sb.lms.webhooks.all()]
        return [PASSWORD, TOKEN, *self.sb.environ.values(), *signing]

    def assert_no_secret(self) -> None:
        for html in self.pages:
            for secret in self.secrets():
                assert secret not in html, secret[:6]
            assert "bearer " not in html.lower()
            assert "whsec_" not in html


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _text(html: str) -> str:
    """The page's words, tags dropped and spaces collapsed, for plain assertions."""
    words = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    return unescape(re.sub(r" ([:,.)])", r"\1", words))


def _receiver(seen: list[str]) -> Starlette:
    """Answers 200 at any path, as ``serve``'s receivers would (360Learning probes the URL)."""

    async def hook(request: Request) -> Response:
        seen.append(request.url.path)
        return Response(status_code=200)

    return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])


@contextlib.contextmanager
def serving(directory: Path, extra_toml: Callable[[str], str] = lambda _url: "",
            **options: Any) -> Iterator[Served]:
    """A sandbox whose config gets ``extra_toml(receiver_url)``, its Admin served on 127.0.0.1,
    and an httpx client signed in with the password (over the form and its CSRF token)."""
    with contextlib.ExitStack() as stack:
        seen: list[str] = []
        receiver = stack.enter_context(serve_in_thread(_receiver(seen)))
        sb, _academy = make_sandbox(directory, **options)
        sb.extra_toml += extra_toml(receiver.url)
        stack.enter_context(sb)
        environ = {**sb.environ, "PERSONIO_WEBHOOK_TOKEN": TOKEN}
        settings = load_config(sb.config_path)
        ctx = stack.enter_context(open_context(settings, environ=environ,
                                               rate_limit_factor=sb.client_rate_factor))
        admin = Admin(settings, ctx, environ=environ, bulk_poll_interval=0.01)
        server = serve_in_thread(create_app(admin, PASSWORD))
        stack.callback(server.stop)
        stack.callback(admin.close)
        http = stack.enter_context(httpx.Client(base_url=server.url, follow_redirects=True, timeout=30))
        signed = http.post("/signin", data={"csrf": _csrf(http.get("/signin").text), "password": PASSWORD})
        assert signed.status_code == 200
        served = Served(server.url, sb, admin, http, environ, seen)
        yield served
        served.assert_no_secret()


def _webhooks(url: str) -> str:
    return f'\n[webhooks]\npublic_url = "{url}"\n'


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``[webhooks]`` configured, our subscriptions set up at both emulators (with the real
    setup functions, over HTTP), their signing secrets in the environment, one full sync done."""
    with serving(tmp_path_factory.mktemp("feed"), _webhooks) as served:
        settings = served.admin.settings
        target = target_of(settings)
        with open_webhook_clients(settings, served.environ) as (personio, lms):
            assert setup_personio(personio, target, TOKEN).error is None
            assert setup_learning360(lms, target, ()).error is None
        signing = [served.sb.lms.webhooks.secret(s["_id"]) for s in served.sb.lms.webhooks.all()]
        served.environ["LEARNING360_WEBHOOK_SECRET"] = " ".join(signing)
        served.admin.webhooks(fresh=True)  # signing in showed the Overview, before the setup
        ctx = served.admin.ctx
        run_sync(settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01)
        yield served


def test_r17_overview_shows_the_change_feed_and_each_subscription(fed: Served) -> None:
    """Recorded events show as waiting with a lag; after a changes run none waits, the poll is
    recorded, and both subscriptions read as in place."""
    employee = fed.sb.personio.state.employee_ids()[0]
    assert fed.admin.ctx.store.feed.record("personio", "evt-page-1", "person.updated", employee_id=employee)
    assert fed.admin.ctx.store.feed.record("personio", "evt-page-2", "employment.updated",
                                           employee_id=employee)
    page = _text(fed.get("/"))
    assert "Change feed" in page
    assert "Events waiting 2" in page
    assert re.search(r"Lag \d+\.\d s \(the oldest waiting event's age\)", page), page
    assert "Poll interval every 1m (production only)" in page
    polled = fed.admin.ctx.store.feed.status().last_poll
    assert polled is not None  # the full sync moved the cursor
    assert f"Last poll {polled:%Y-%m-%d %H:%M:%S} UTC" in page
    assert "Personio: enabled: webhook" in page
    assert "360Learning: active: 3 subscriptions active" in page

    ctx = fed.admin.ctx
    report = run_changes(fed.admin.settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01)
    assert report.run_id is not None
    page = _text(fed.get("/"))
    assert "Events waiting 0" in page
    assert "Lag none: no event is waiting" in page
    after = ctx.store.feed.status().last_poll
    assert after is not None
    assert after > polled
    assert f"Last poll {after:%Y-%m-%d %H:%M:%S} UTC" in page
    assert re.search(r"Last event \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page)


def test_r17_runs_show_their_kind_and_filter_by_it(fed: Served) -> None:
    """Runs has a Kind column (full, changes), the kind filter keeps one kind, a run's page names it."""
    ctx = fed.admin.ctx
    run_changes(fed.admin.settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01)
    runs = ctx.store.runs.recent(50)
    kinds = {r.kind for r in runs}
    assert kinds >= {"full"}
    page = fed.get("/runs")
    assert '<th scope="col">Kind</th>' in page
    for run in runs:
        row = rf'/runs/{run.id}">Run {run.id}</a></td>\s*<td>[^<]*</td>\s*<td>{run.kind}</td>'
        assert re.search(row, page), run.id
    changes = [r.id for r in runs if r.kind == "changes"]
    assert changes, "a changes run is recorded (the previous test's, at least)"
    only = fed.get("/runs?kind=changes")
    assert {int(i) for i in re.findall(r'href="/runs/(\d+)">', only)} == set(changes)
    assert '<option value="changes" selected>' in only
    assert f"{len(runs)} runs" in _text(fed.get("/runs?kind=bogus"))  # an unknown kind filters nothing
    assert "Kind changes: only who changed (R17)" in _text(fed.get(f"/runs/{changes[0]}"))
    full = next(r.id for r in runs if r.kind == "full")
    assert "Kind full: everyone (full sync)" in _text(fed.get(f"/runs/{full}"))


def test_r17_integration_shows_webhooks_status_and_recent_deliveries(fed: Served) -> None:
    """URL, events, status, authentication and each delivery attempt (delivered, when) at Personio;
    the three 360Learning subscriptions with their secrets known; read once a minute at most."""
    hook = fed.sb.personio.webhooks.all()[0]
    before = len(fed.receiver)
    fed.sb.personio.webhooks.ping(str(hook["id"]))
    deadline = time.monotonic() + 10
    while len(fed.receiver) == before and time.monotonic() < deadline:
        time.sleep(0.01)  # the emulator delivers from its own thread
    page = _text(fed.post("/integration/webhooks"))  # Read again: past the cache
    assert f"Webhook {hook['id']} ENABLED" in page
    assert f"URL {hook['url']}" in page
    assert "person.created, person.updated, person.deleted, employment.created" in page
    assert "Authentication TOKEN" in page
    assert re.search(r"\d\d:\d\d:\d\d UTC ping yes 200", page), page
    for event in ("user.updated", "user.deleted", "user.reactivated"):
        assert re.search(rf"{re.escape(event)} \S+ active http://127\.0\.0\.1:\d+/hooks/360learning "
                         "in LEARNING360_WEBHOOK_SECRET", page), event
    assert "Personio: enabled" in page
    assert "360Learning: active" in page

    reads = fed.sb.personio.stats.by_endpoint[DELIVERIES]
    fed.get("/integration")
    fed.get("/")
    assert fed.sb.personio.stats.by_endpoint[DELIVERIES] == reads  # served from the cache


def test_r17_a_disabled_webhook_shows_disabled_with_the_fix(fed: Served) -> None:
    """Our Personio webhook disabled by hand: the Overview says disabled and how to repair it."""
    hook = fed.sb.personio.webhooks.all()[0]
    fed.sb.personio.webhooks.update(str(hook["id"]), {"status": "DISABLED"})
    try:
        fed.post("/integration/webhooks")
        page = _text(fed.get("/"))
        assert f"Personio: disabled: webhook {hook['id']} is DISABLED: Personio sends nothing" in page
        assert "Fix: run personio360 webhooks setup" in page
    finally:
        fed.sb.personio.webhooks.update(str(hook["id"]), {"status": "ENABLED"})


def test_r17_the_pages_fit_in_chromium_and_the_readme_shows_them(browser: Any, fed: Served) -> None:
    """In Chromium, at laptop and phone size: the Overview's change feed and Integration's webhooks
    fit the screen without sideways scrolling; the README's screenshots come from here."""
    shots = Path(os.environ.get("PERSONIO360_SCREENSHOTS") or fed.sb.directory / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    employee = fed.sb.personio.state.employee_ids()[1]
    fed.admin.ctx.store.feed.record("personio", "evt-shot-1", "person.updated", employee_id=employee)
    fed.admin.webhooks(fresh=True)
    for viewport in (LAPTOP, PHONE):
        context = browser.new_context(viewport=viewport, base_url=fed.url)
        try:
            page = context.new_page()
            _sign_in(page)
            for name, path in (("overview-changes", "/"), ("integration-webhooks", "/integration")):
                page.goto(path)
                fed.pages.append(page.content())
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{path} is {overflow}px wider than a {viewport['width']}px screen"
                target = page.locator("#feed" if name.startswith("overview") else "#webhooks-section")
                if viewport == LAPTOP:
                    target.screenshot(path=shots / f"{name}.png")
        finally:
            context.close()


def _sign_in(page: Any) -> None:
    """Open the Overview in the browser, which asks for the password first, and type it."""
    page.goto("/")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_load_state()


def test_r17_changes_off_says_how_to_turn_them_on(tmp_path: Path) -> None:
    """Without [webhooks] or [changes]: one sentence on each page, no API read, no error."""
    with serving(tmp_path) as served:
        overview = _text(served.get("/"))
        assert "Changes runs are off" in overview
        assert "Webhooks (near-real-time changes)" in overview
        integration = _text(served.get("/integration"))
        assert "Changes runs are off: no [webhooks] or [changes] table" in integration
        assert served.sb.personio.stats.by_endpoint[DELIVERIES] == 0


def test_r17_polling_alone_says_there_are_no_webhooks_configured(tmp_path: Path) -> None:
    """[changes] without [webhooks]: the feed shows, and the subscriptions' place names the missing table."""
    with serving(tmp_path, lambda _url: '\n[changes]\npoll_every = "5m"\n') as served:
        overview = _text(served.get("/"))
        assert "Change feed" in overview
        assert "Poll interval every 5m" in overview
        assert "Not read: the config file" in overview
        assert "has no [webhooks] table (webhooks.public_url)" in overview
        assert 'Fix: add [webhooks] with public_url = "https://sync.example.com"' in overview
        assert "has no [webhooks] table" in _text(served.get("/integration"))


def test_r17_api_failures_are_shown_as_text_never_a_500(tmp_path: Path) -> None:
    """360Learning without the webhook scopes and Personio's management API down: each says so in
    words, with its fix, and the pages still answer 200."""
    scopes = [s for s in ALL_SCOPES if not s.startswith(("webhooks:", "webhookSecrets:"))]
    with serving(tmp_path, _webhooks, lms_options={"scopes": scopes}) as served:
        served.sb.personio.faults.replace([Fault(kind="status", status=503, path=r"^/v2/webhooks")])
        served.post("/integration/webhooks")  # signing in read them before the fault: read again
        overview = _text(served.get("/"))
        assert "360Learning: unreadable: the API credentials may not read webhooks" in overview
        assert "Fix: in 360Learning, open Settings → Webhooks" in overview
        assert "Personio: unreadable: cannot read the webhooks:" in overview
        served.sb.personio.faults.replace([])
        integration = _text(served.post("/integration/webhooks"))
        assert "Personio: missing: no webhook for" in integration
        assert "No webhook of ours at Personio." in integration
