"""Fixtures for the admin page (issue 9): a sandboxed company, the app served by uvicorn on
127.0.0.1, and real headless Chromium driven by Playwright (Debian's ``chromium`` package).

Without Chromium or Playwright the browser tests are skipped, and the test summary says so
and how to install it. Screenshots go to ``$PERSONIO360_SCREENSHOTS`` when it is set (the
README's come from ``PERSONIO360_SCREENSHOTS=docs/screenshots``), else to a temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import stamina

from personio360.config import load_config
from personio360.emulators.sandbox import Sandbox
from personio360.emulators.server import RunningServer, serve_in_thread
from personio360.web.admin import Admin
from personio360.web.app import create_app
from personio360.web.auth import Throttle
from personio360.wiring import open_context
from skips import say_skipped

PASSWORD = "correct horse battery staple"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
SKIP_PREFIX = "browser tests skipped: "


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    if shutil.which("chromium") is None:
        return "Chromium is not installed (apt-get install -y chromium)"
    return None


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say plainly, at the end of ``make test``, that the browser tests did not run and why."""
    say_skipped(terminalreporter, SKIP_PREFIX, "admin page browser tests skipped",
                "The browser tests of tests/web did not run: {reason}.")


class Clock:
    """The sign-in throttle's clock, moved by hand: the slowdown is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Site:
    """The served admin page and what stands behind it."""

    url: str
    sb: Sandbox
    admin: Admin
    clock: Clock
    academy: str
    shots: Path
    pages: list[str] = field(default_factory=list)

    def secrets(self) -> list[str]:
        """Everything that must never reach a page: the password, the client secrets, the full client ids."""
        env = self.sb.environ
        return [PASSWORD, env["PERSONIO_CLIENT_SECRET"], env["LEARNING360_CLIENT_SECRET"],
                env["PERSONIO_CLIENT_ID"], env["LEARNING360_CLIENT_ID"]]


@pytest.fixture(autouse=True, scope="module")
def _stamina_testing() -> Iterator[None]:
    """Retries without waiting, three attempts at most."""
    stamina.set_testing(True, attempts=3)
    yield
    stamina.set_testing(False)


def make_sandbox(directory: Path, **options: Any) -> tuple[Sandbox, str]:
    """24 employees (Berlin and London), the sandbox's group, and a 'London academy' for Londoners."""
    sb = Sandbox(directory, size=24, seed=3, rate_limits=False, **options)
    academy = sb.lms.state.add_group("London academy").id
    sb.extra_toml = f'\n[[groups]]\nid = "{academy}"\nwhere = {{ office = "London" }}\n'
    return sb, academy


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The admin page over a fresh company (no run yet), served on 127.0.0.1 for this module."""
    directory = tmp_path_factory.mktemp("web")
    sb, academy = make_sandbox(directory)
    shots = Path(os.environ.get("PERSONIO360_SCREENSHOTS") or directory / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        stack.enter_context(sb)
        settings = load_config(sb.config_path)
        ctx = stack.enter_context(open_context(settings, environ=sb.environ,
                                               rate_limit_factor=sb.client_rate_factor))
        admin = Admin(settings, ctx, environ=sb.environ, bulk_poll_interval=0.01)
        clock = Clock()
        server: RunningServer = serve_in_thread(create_app(admin, PASSWORD, throttle=Throttle(clock=clock)))
        stack.callback(server.stop)
        stack.callback(admin.close)
        yield Site(server.url, sb, admin, clock, academy, shots)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), shared by one file's tests.

    Not by the whole session: Playwright's sync API keeps an event loop running in the main
    thread while it is open, and a later test of another folder in the same process (``pytest
    -n`` sends any file to any worker) that runs asyncio itself (procrastinate's sync calls)
    would fail with "asyncio.run() cannot be called from a running event loop"."""
    missing = _browser_missing()
    if missing:
        pytest.skip(f"{SKIP_PREFIX}{missing}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Any, site: Site) -> Iterator[Any]:
    """A fresh browser profile (no cookie) at laptop size, with downloads allowed."""
    ctx = browser.new_context(viewport=LAPTOP, base_url=site.url, accept_downloads=True)
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


def sign_in(page: Any, site: Site, password: str = PASSWORD, *, path: str = "/") -> None:
    """Open ``path`` (sign-in comes first), type the password and press Enter."""
    page.goto(path)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Password").press("Enter")
    page.wait_for_load_state()
    seen(page, site)


def seen(page: Any, site: Site) -> str:
    """Record the page's HTML (every page visited is checked for secrets at the end)."""
    html: str = page.content()
    site.pages.append(html)
    return html


@pytest.fixture
def signed_in(page: Any, site: Site) -> Any:
    """A page whose browser has signed in."""
    sign_in(page, site)
    return page
