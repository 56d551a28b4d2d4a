"""``/metrics``, ``/healthz`` and ``/readyz`` (issue 14) of the admin page's app, after real runs
against both emulators over HTTP: Prometheus' own parser reads it, its counters match the run
records, and the health checks answer without a session and say nothing personal."""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stamina
from prometheus_client.parser import text_string_to_metric_families

from personio360 import notify
from personio360.config import load_config
from personio360.emulators.faults import Fault
from personio360.emulators.sandbox import Sandbox
from personio360.emulators.server import serve_in_thread
from personio360.notify.service import MetricsServer
from personio360.sync.report import Outcome
from personio360.sync.run import run_sync
from personio360.web.admin import Admin
from personio360.web.app import create_app
from personio360.wiring import Context, open_context

from .conftest import ENVIRON, HOOK_TOKEN, SMTP_PASSWORD, Targets

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _stamina_testing() -> Iterator[None]:
    stamina.set_testing(True, attempts=3)
    yield
    stamina.set_testing(False)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Sandbox, Context]]:
    """The app over a sandboxed company (24 employees, planted email problems), on 127.0.0.1."""
    with contextlib.ExitStack() as stack:
        sb = stack.enter_context(Sandbox(tmp_path / "company", size=24, seed=3, rate_limits=False))
        settings = load_config(sb.config_path)
        ctx = stack.enter_context(open_context(settings, environ=sb.environ,
                                               rate_limit_factor=sb.client_rate_factor))
        admin = Admin(settings, ctx, environ=sb.environ, bulk_poll_interval=0.01)
        server = serve_in_thread(create_app(admin, PASSWORD))
        stack.callback(server.stop)
        stack.callback(admin.close)
        yield server.url, sb, ctx


def _samples(text: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def test_metrics_parse_and_match_the_run_records(served: tuple[str, Sandbox, Context]) -> None:
    """Two full syncs and a stopped one: runs by kind and outcome, operations by kind and result,
    skipped employees by reason, API calls by service and status class, as recorded."""
    url, sb, ctx = served
    settings = load_config(sb.config_path)
    reports = [run_sync(settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01)]
    sb.personio.faults.replace([Fault(kind="status", status=503, path=r"^/v1/company/employees$", count=10)])
    reports.append(run_sync(settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01))
    sb.personio.faults.replace([])
    reports.append(run_sync(settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01))
    for report in reports:
        notify.observe(settings, ctx.store, report)
    assert [r.outcome for r in reports] == [Outcome.COMPLETED_WITH_ERRORS, Outcome.STOPPED,
                                            Outcome.COMPLETED_WITH_ERRORS]

    response = httpx.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)

    runs = ctx.store.runs.recent(100)
    expected = Counter((r.kind, r.outcome) for r in runs)
    got = {(s.labels["kind"], s.labels["outcome"]): s.value for s in samples["personio360_runs_total"]}
    assert got == expected
    ops: Counter[tuple[str, str]] = Counter()
    for run in runs:
        for result in ("applied", "failed"):
            ops.update({(kind, result): n for kind, n in run.counts[result].items()})
    got_ops = {(s.labels["kind"], s.labels["result"]): s.value
               for s in samples["personio360_operations_total"]}
    assert got_ops == ops
    assert got_ops[("create_user", "applied")] > 0
    errors = Counter(e.code for r in runs for e in ctx.store.runs.errors(r.id))
    got_skipped = {s.labels["reason"]: s.value for s in samples["personio360_employees_skipped_total"]}
    assert got_skipped == errors
    assert errors["missing_email"] > 0
    count = [s for s in samples["personio360_run_duration_seconds_count"] if s.labels["kind"] == "full"]
    assert count[0].value == len(runs)

    calls = samples["personio360_api_calls_total"]
    assert len({s.labels["service"] for s in calls}) == 2
    assert any(s.labels["status_class"] == "5xx" for s in calls)
    assert sum(s.value for s in samples["personio360_api_retries_total"]) >= 2
    endpoints = {s.labels["endpoint"] for s in calls}
    assert [e for e in endpoints if re.search(r"[0-9a-f]{24}|\d{3,}|@", e)] == []  # templates, never ids
    assert samples["personio360_last_success_timestamp_seconds"][0].labels == {"kind": "full"}
    assert samples["personio360_change_feed_waiting_events"][0].value == 0
    # a second scrape reads no run twice
    again = _samples(httpx.get(f"{url}/metrics").text)
    assert {(s.labels["kind"], s.labels["outcome"]): s.value
            for s in again["personio360_runs_total"]} == expected
    _nothing_personal(response.text, sb)


def test_health_and_readiness_answer_without_a_session(served: tuple[str, Sandbox, Context]) -> None:
    """/healthz: up; /readyz: ready before any run and after a good one, 503 after a stopped one;
    no cookie needed, no cookie set, nothing personal in either."""
    url, sb, ctx = served
    settings = load_config(sb.config_path)
    with httpx.Client(base_url=url) as client:
        health = client.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        assert client.get("/readyz").json() == {"status": "ready", "store": "reachable", "last_run": None}
        sb.lms.faults.replace([Fault(kind="status", status=503, count=10)])
        run_sync(settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01)
        stopped = client.get("/readyz")
        assert stopped.status_code == 503
        body = stopped.json()
        assert body["status"] == "not ready"
        assert body["last_run"]["outcome"] == "stopped"
        assert set(body["last_run"]) == {"id", "kind", "outcome", "ended_at"}
        sb.lms.faults.replace([])
        run_sync(settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01)
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert "set-cookie" not in ready.headers
        assert client.get("/notifications").status_code in (303, 307)  # the page itself needs sign-in
        _nothing_personal(health.text + stopped.text + ready.text, sb)


def test_schedule_serves_metrics_and_health_on_its_own_port(tmp_path: Path) -> None:
    """schedule --metrics-port: prometheus_client's exposition at /metrics, /healthz and /readyz."""
    from .conftest import write_settings

    settings = write_settings(tmp_path, "")
    from personio360.store import open_store

    store = open_store(settings.state_url)
    server = MetricsServer(settings, store, "127.0.0.1", 0).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{base}/readyz").status_code == 200
        names = {f.name for f in text_string_to_metric_families(httpx.get(f"{base}/metrics").text)}
        assert {"personio360_runs", "personio360_api_calls", "personio360_change_feed_lag_seconds"} <= names
        assert httpx.get(f"{base}/other").status_code == 404
    finally:
        server.stop()
        store.close()


def _nothing_personal(text: str, sb: Sandbox) -> None:
    """No employee's email or last name, and no credential, in ``text``."""
    people = sb.personio.state.employees()
    emails = [e["email"] for e in people if e.get("email")]
    names = [e["last_name"] for e in people if len(e.get("last_name") or "") > 3]
    leaked = [v for v in (*emails, *names, *sb.environ.values()) if v and v in text]
    assert leaked == [], json.dumps(leaked[:3])


def test_the_admin_page_shows_targets_masked_and_sends_a_test(tmp_path: Path, targets: Targets) -> None:
    """Notifications page: targets as scheme and host, Send test (with the page's CSRF token) reaches
    the live targets and shows the one that is down; no secret on the page."""
    with contextlib.ExitStack() as stack:
        sb = stack.enter_context(Sandbox(tmp_path / "company", size=12, seed=3, rate_limits=False,
                                         extra_toml="\n" + targets.toml(down=True)))
        settings = load_config(sb.config_path)
        environ = {**sb.environ, **ENVIRON}
        ctx = stack.enter_context(open_context(settings, environ=environ,
                                               rate_limit_factor=sb.client_rate_factor))
        admin = Admin(settings, ctx, environ=environ, bulk_poll_interval=0.01)
        server = serve_in_thread(create_app(admin, PASSWORD))
        stack.callback(server.stop)
        stack.callback(admin.close)
        with httpx.Client(base_url=server.url, follow_redirects=True) as client:
            client.post("/signin", data={"csrf": _csrf(client.get("/signin").text), "password": PASSWORD})
            page = client.get("/notifications")
            assert page.status_code == 200
            assert f"<code>mailto://127.0.0.1:{targets.smtp_port}</code>" in page.text
            refused = client.post("/notifications/test", data={"csrf": "forged"})
            assert refused.status_code == 403
            assert targets.counts() == (0, 0)
            sent = client.post("/notifications/test", data={"csrf": _csrf(page.text)})
            assert sent.status_code == 200
            assert targets.counts() == (1, 1)
            assert "Test message sent to 3 target(s): 1 failed" in sent.text
            assert f"json://127.0.0.1:{targets.down_port}</code>:" in sent.text
            for secret in (SMTP_PASSWORD, HOOK_TOKEN, PASSWORD):
                assert secret not in page.text + sent.text


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)
