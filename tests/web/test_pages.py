"""The admin page in real headless Chromium against the emulators over real HTTP (issue 9).

The tests of this module share one company and run in order, as an administrator would:
sign in, verify, deactivate a group and preview, preview and run, read the run, download
it, explain people. Every page's HTML is kept and checked for secrets at the end.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest

from personio360.sync.run import prepare_plan

from .conftest import LAPTOP, PASSWORD, PHONE, Site, seen, sign_in

expect: Any
try:
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
except ImportError:  # the browser fixture skips every test then
    expect = None


def _preview(page: Any, site: Site) -> str:
    """Press Preview on the Overview and wait until the plan is shown."""
    page.goto("/")
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.get_by_text("In scope:")).to_be_visible()
    return seen(page, site)


def test_signin_refuses_a_wrong_password_and_admits_the_right_one(page: Any, site: Site) -> None:
    """A wrong password is refused; the right one opens the Overview; sign-out closes it again."""
    page.goto("/")
    assert "/signin" in page.url
    page.screenshot(path=site.shots / "signin.png")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong password.")
    seen(page, site)

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    seen(page, site)
    cookie = next(c for c in page.context.cookies() if c["name"] == "personio360_session")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Lax"

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/runs")
    assert "/signin" in page.url


def test_sign_in_slows_down_after_failed_attempts(page: Any, site: Site) -> None:
    """After three wrong passwords, even the right one must wait; once the wait is over it is admitted."""
    page.goto("/signin")
    for _ in range(4):
        page.get_by_label("Password").fill("guessing")
        page.get_by_label("Password").press("Enter")
        page.wait_for_load_state()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Too many wrong passwords")
    site.clock.now += 3600.0
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()


def test_keyboard_alone_signs_in_and_reaches_the_asked_page(page: Any, site: Site) -> None:
    """The password has the focus, Enter opens the page first asked for, and Tab finds the skip link."""
    page.goto("/runs")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    assert page.url.endswith("/runs")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") in ("SELECT", "INPUT", "A", "BUTTON")


def test_verify_shows_each_check_in_words(signed_in: Any, site: Site) -> None:
    """Verify runs check (R10, R11) and lists each result in words; the API information shows ids masked."""
    page = signed_in
    page.get_by_role("link", name="Integration").click()
    expect(page.get_by_text("Connector administrator", exact=True)).to_be_visible()
    page.get_by_role("button", name="Verify").click()
    checks = page.locator("ul.checks li")
    expect(checks.first).to_be_visible()
    text = page.locator("ul.checks").inner_text()
    assert "Passed: 360Learning: connector admin (R10)" in text
    assert "Passed: Personio: employee read access" in text
    expect(page.get_by_role("status")).to_contain_text("1 failed")
    failed = page.locator("ul.checks li.fail").inner_text()  # the academy has no office subgroups
    assert "Failed: synced group" in failed
    assert "London academy" in failed
    assert "Fix: name the subgroups" in failed
    html = seen(page, site)
    assert site.sb.environ["PERSONIO_CLIENT_ID"][:4] + "…" in html
    page.screenshot(path=site.shots / "integration.png", full_page=True)


def test_a_deactivated_group_gets_no_change_in_the_preview(signed_in: Any, site: Site) -> None:
    """Deactivated, 'London academy' gets nobody in the Preview nor the CLI's plan; activated, it does."""
    page = signed_in
    page.goto("/integration")
    page.get_by_role("button", name="Deactivate London academy").click()
    expect(page.get_by_role("button", name="Activate London academy")).to_be_visible()
    seen(page, site)
    _preview(page, site)
    page.goto("/preview")
    every_change = seen(page, site)
    assert "All employees" in every_change
    assert "London academy" not in every_change
    admin = site.admin
    cli_plan = prepare_plan(admin.settings, admin.ctx.personio, admin.ctx.lms, admin.ctx.store).plan
    assert all(site.academy not in (c.after or "") for op in cli_plan.operations for c in op.changes)

    page.goto("/integration")
    page.get_by_role("button", name="Activate London academy").click()
    expect(page.get_by_role("button", name="Deactivate London academy")).to_be_visible()
    _preview(page, site)
    page.goto("/preview?q=London+academy")
    assert "London academy" in seen(page, site)


def test_preview_then_run_now_creates_the_users_and_the_run_lists_them(signed_in: Any, site: Site) -> None:
    """Run now applies the previewed plan: each in-scope employee gets a user; the run's page lists them."""
    page = signed_in
    _preview(page, site)
    counts = dict(row.split("\t")[0::2] for row in page.locator("table.counts tbody tr").all_inner_texts())
    creates, adopts = int(counts["create user"]), int(counts.get("adopt user", 0))
    assert creates > 0
    page.evaluate("document.getElementById('preview-title').scrollIntoView()")
    page.screenshot(path=site.shots / "overview-preview.png")
    page.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("status")).to_contain_text("finished")
    seen(page, site)
    assert site.admin.preview is None  # the previewed plan was used up
    links = site.admin.ctx.store.links.active()
    assert len(links) == creates + adopts
    mails = {site.sb.lms.state.user(link.user_id).mail for link in links.values() if link.origin == "created"}
    assert len(mails) == creates

    page.get_by_role("link", name=re.compile(r"See every operation of run \d+")).click()
    expect(page.get_by_role("heading", name=re.compile(r"Run \d+"))).to_be_visible()
    html = seen(page, site)
    assert all(mail in html for mail in mails)
    page.screenshot(path=site.shots / "run.png", full_page=False)

    page.get_by_label(re.compile("Search this run")).fill(sorted(mails)[0])
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text(re.compile(r"^1 person matching"))).to_be_visible()
    assert sorted(mails)[1] not in seen(page, site)


def test_the_run_downloads_as_csv_and_json(signed_in: Any, site: Site) -> None:
    """The run page's CSV lists each created user's fields; the JSON is the runs show document."""
    page = signed_in
    run_id = site.admin.last_run().id  # type: ignore[union-attr]
    page.goto(f"/runs/{run_id}")
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    text = download.value.path().read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    created = {r["after"] for r in rows if r["operation"] == "create_user" and r["field"] == "mail"}
    links = site.admin.ctx.store.links.active().values()
    state = site.sb.lms.state
    assert created == {state.user(link.user_id).mail for link in links if link.origin == "created"}
    document = json.loads(page.request.get(f"/runs/{run_id}.json").text())
    assert document["run"]["id"] == run_id
    assert document["operations"]
    site.pages.append(text)

    page.goto("/runs?outcome=completed+with+errors")
    assert f"Run {run_id}" in seen(page, site)
    page.goto("/runs?outcome=stopped")
    assert f"Run {run_id}" not in seen(page, site)


def test_people_search_by_email_name_and_id_explains(signed_in: Any, site: Site) -> None:
    """People finds an employee by email, name or id and shows explain's verdict and reasons."""
    page = signed_in
    employee = next(e for e in site.sb.personio.state.employees()
                    if e["status"] == "active" and e["id"] in site.admin.ctx.store.links.active())
    page.get_by_role("link", name="People").click()
    page.get_by_label(re.compile("Find an employee")).fill(employee["email"])
    page.get_by_role("button", name="Explain").click()
    expect(page.locator(".verdict")).to_contain_text("in scope, managed")
    expect(page.get_by_text("Scope (R1): in scope")).to_be_visible()
    seen(page, site)
    page.screenshot(path=site.shots / "people.png", full_page=True)

    page.get_by_label(re.compile("Find an employee")).fill(employee["last_name"])
    page.get_by_role("button", name="Explain").click()
    name = f"{employee['first_name']} {employee['last_name']}"
    matches = page.get_by_role("link", name=name, exact=True)
    if matches.count():  # several employees share the last name: pick ours
        matches.first.click()
    expect(page.get_by_role("heading", name=re.compile(rf"employee {employee['id']}"))).to_be_visible()
    seen(page, site)

    page.goto(f"/people?q={employee['id']}")
    expect(page.locator(".verdict")).to_contain_text("a sync would change nothing")
    seen(page, site)


def test_a_forged_post_is_refused_and_changes_nothing(signed_in: Any, site: Site) -> None:
    """A POST without this session's CSRF token, from this browser or another site, is refused with 403."""
    page = signed_in
    runs = site.admin.ctx.store.runs.count()
    _preview(page, site)
    assert page.request.post("/run", form={"csrf": "forged"}).status == 403
    assert page.request.post("/integration/groups/" + site.academy, form={"enabled": "0"}).status == 403
    page.set_content(f'<form method="post" action="{site.url}/run"><input name="csrf" value="x">'
                     '<button>win a prize</button></form>')
    with page.expect_navigation():
        page.get_by_role("button", name="win a prize").click()
    expect(page.get_by_role("alert")).to_contain_text("nothing was changed")
    assert site.admin.ctx.store.runs.count() == runs
    assert site.admin.ctx.store.activation.overrides().get(site.academy) is True


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_every_page_fits_the_screen_and_shows_no_secret(context: Any, site: Site,
                                                        viewport: dict[str, int]) -> None:
    """Each page fits a laptop and a phone without sideways scrolling; no page ever held a secret."""
    page = context.new_page()
    page.set_viewport_size(viewport)
    sign_in(page, site)
    run_id = site.admin.last_run().id  # type: ignore[union-attr]
    email = site.sb.installed.connector_admin_email
    suffix = "" if viewport == LAPTOP else "-phone"
    for name, path in (("overview", "/"), ("integration", "/integration"), ("runs", "/runs"),
                       ("run", f"/runs/{run_id}"), ("people", f"/people?q={email}"), ("preview", "/preview")):
        page.goto(path)
        seen(page, site)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than a {viewport['width']}px screen"
        if viewport == PHONE or name in ("overview", "runs"):
            page.screenshot(path=site.shots / f"{name}{suffix}.png", full_page=viewport == LAPTOP)
    for html in site.pages:
        for secret in site.secrets():
            assert secret not in html
        assert "papi-" not in html
        assert "bearer " not in html.lower()
    assert len(site.pages) > 20
