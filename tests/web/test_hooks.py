"""The webhook receivers of ``serve`` (R17): over real HTTP against the served app, each
delivery either reaches the change feed once or is refused and changes nothing."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from secrets import token_hex
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from standardwebhooks import Webhook

from personio360.config import load_config
from personio360.emulators.server import serve_in_thread
from personio360.store import Store
from personio360.store.links import open_link
from personio360.web.admin import Admin
from personio360.web.app import create_app
from personio360.web.hooks import MAX_BODY
from personio360.wiring import open_context

from .conftest import PASSWORD, make_sandbox

TOKEN = "Bearer " + token_hex(16)  # made per run: no token is written in the repository
OLD_TOKEN = token_hex(16)
SECRETS = ["whsec_" + base64.b64encode(b"first-subscription-secret-0123").decode(),
           base64.b64encode(b"second-subscription-secret-456").decode()]
COMPANY = "4242"
FORGED = base64.b64encode(b"not-the-subscription-secret").decode()
MANAGED_USER = "64f1c2a9b8e7d6c5b4a39281"
MANAGED_EMPLOYEE = 9001


@dataclass
class Hooks:
    """The served app, its store, and a client that posts deliveries."""

    http: httpx.Client
    store: Store

    def events(self) -> list[tuple[str, str, int | None, str | None]]:
        return [(e.provider, e.event_name, e.employee_id, e.user_id) for e in self.store.feed.pending()]

    def personio(self, body: Any, *, token: str | None = TOKEN, raw: bytes | None = None) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if token is not None:
            headers["authorization"] = token
        return self.http.post("/hooks/personio", content=raw if raw is not None else json.dumps(body),
                              headers=headers)

    def learning360(self, body: Any, *, msg_id: str, secret: str = SECRETS[0],
                    at: dt.datetime | None = None, raw: str | None = None) -> httpx.Response:
        content = raw if raw is not None else json.dumps(body)
        at = at or dt.datetime.now(dt.UTC)
        signature = Webhook(secret).sign(msg_id, at, content)
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())),
                   "webhook-signature": signature, "content-type": "application/json"}
        return self.http.post("/hooks/360learning", content=content.encode(), headers=headers)


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hooks]:
    """``serve``'s app with both receivers' secrets and ``[webhooks] personio_company_id``, on 127.0.0.1."""
    sb, _academy = make_sandbox(tmp_path_factory.mktemp("hooks"))
    sb.extra_toml += (f'\n[webhooks]\npublic_url = "http://127.0.0.1:8080"\n'
                      f'personio_company_id = {COMPANY}\n')
    with contextlib.ExitStack() as stack:
        stack.enter_context(sb)
        environ = {**sb.environ, "PERSONIO_WEBHOOK_TOKEN": TOKEN,
                   "PERSONIO_WEBHOOK_TOKEN_PREVIOUS": OLD_TOKEN,
                   "LEARNING360_WEBHOOK_SECRET": " ".join(SECRETS)}
        settings = load_config(sb.config_path)
        ctx = stack.enter_context(open_context(settings, environ=environ,
                                               rate_limit_factor=sb.client_rate_factor))
        admin = Admin(settings, ctx, environ=environ)
        server = serve_in_thread(create_app(admin, PASSWORD))
        stack.callback(server.stop)
        stack.callback(admin.close)
        with ctx.store.transaction() as session:
            open_link(session, MANAGED_EMPLOYEE, MANAGED_USER, "created", dt.datetime.now(dt.UTC))
        http = stack.enter_context(httpx.Client(base_url=server.url, timeout=10))
        yield Hooks(http, ctx.store)


def _person(event_name: str, person_id: str, *, at: str = "2026-03-02T09:15:00Z",
            meta: dict[str, Any] | None = None, company: str = COMPANY) -> dict[str, Any]:
    body: dict[str, Any] = {"company_id": company, "event_name": event_name, "occurred_at": at,
                            "payload": {"person": {"id": person_id}}}
    if meta is not None:
        body["meta"] = meta
    return body


def _user(event: str, user_id: str = MANAGED_USER) -> dict[str, Any]:
    return {"type": event, "timestamp": 1772442900000, "data": {"userId": user_id, "updatedAt": "x"}}


# --- Personio ------------------------------------------------------------------------------


def test_r17_personio_delivery_is_recorded_once(hooks: Hooks) -> None:
    """A good delivery is recorded with the person id as the employee id; its duplicate changes nothing."""
    before = hooks.events()
    first = hooks.personio(_person("person.updated", "1234"))
    again = hooks.personio(_person("person.updated", "1234"))
    assert (first.status_code, first.json()) == (200, {"status": "recorded"})
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert hooks.events() == [*before, ("personio", "person.updated", 1234, None)]


def test_r17_personio_event_id_in_meta_tells_events_apart(hooks: Hooks) -> None:
    """Two events alike but for ``meta.event_id`` are both recorded; a retry of either is not."""
    before = len(hooks.events())
    for event_id in ("evt-1", "evt-2", "evt-1"):
        assert hooks.personio(_person("person.updated", "77", meta={"event_id": event_id})).status_code == 200
    assert len(hooks.events()) == before + 2


def test_r17_personio_wrong_or_missing_token_is_refused(hooks: Hooks) -> None:
    """A wrong token, a missing one, or the token without its configured prefix: 401, nothing recorded."""
    before = hooks.events()
    for token in ("Bearer wrong", None, TOKEN.removeprefix("Bearer ")):
        response = hooks.personio(_person("person.created", "555"), token=token)
        assert (response.status_code, response.json()) == (401, {"error": "unauthorized"})
    assert hooks.events() == before


def test_r17_personio_previous_token_accepted_during_rotation(hooks: Hooks) -> None:
    """PERSONIO_WEBHOOK_TOKEN_PREVIOUS still authenticates while Personio retries with it."""
    response = hooks.personio(_person("person.created", "556"), token=OLD_TOKEN)
    assert response.status_code == 200
    assert ("personio", "person.created", 556, None) in hooks.events()


def test_r17_personio_other_company_is_forbidden(hooks: Hooks) -> None:
    """A delivery for another company_id than ``[webhooks] personio_company_id``: 403, nothing recorded."""
    before = hooks.events()
    response = hooks.personio(_person("person.updated", "1234", company="9999"))
    assert response.status_code == 403
    assert hooks.events() == before


def test_r17_personio_employment_ids_are_read_leniently(hooks: Hooks) -> None:
    """Employment events name the person at ``employment.person.id`` or ``person.id``, keys with
    ``-`` or ``_``; an event whose person cannot be found is recorded without one, never guessed."""
    base = {"company_id": COMPANY, "event_name": "employment.updated",
            "occurred_at": "2026-03-02T10:00:00+01:00"}
    bodies = [{**base, "payload": {"employment": {"id": "e-1", "person": {"id": "321"}}}},
              {**base, "payload": {"employment": {"id": "e-2"}, "person": {"id": 322}}},
              {**base, "payload": {"employment-record": {"id": "e-3"}, "employment": {"id": "e-3"}}}]
    before = hooks.events()
    assert [hooks.personio(body).status_code for body in bodies] == [200, 200, 200]
    assert hooks.events()[len(before):] == [("personio", "employment.updated", 321, None),
                                            ("personio", "employment.updated", 322, None),
                                            ("personio", "employment.updated", None, None)]


def test_r17_personio_ping_and_other_events_are_not_recorded(hooks: Hooks) -> None:
    """``ping`` (a test delivery) and events about neither a person nor an employment: 200, not recorded."""
    before = hooks.events()
    ping = hooks.personio({"company_id": COMPANY, "event_name": "ping", "occurred_at": "2026-03-02T09:00:00Z",
                           "payload": {}})
    absence = hooks.personio({"company_id": COMPANY, "event_name": "absence-period.created",
                              "occurred_at": "2026-03-02T09:00:00Z",
                              "payload": {"absence_period": {"id": "a"}}})
    assert (ping.status_code, ping.json()) == (200, {"status": "ignored"})
    assert (absence.status_code, absence.json()) == (200, {"status": "ignored"})
    assert hooks.events() == before


def test_r17_personio_malformed_and_oversized_bodies_are_refused(hooks: Hooks) -> None:
    """Malformed JSON or not the envelope: 400; over 64 KiB, declared or streamed in chunks: 413."""
    before = hooks.events()
    assert hooks.personio(None, raw=b'{"event_name": "person.updated",').status_code == 400
    assert hooks.personio(None, raw=b"\xff\xfe{}").status_code == 400
    assert hooks.personio(["person.updated"]).status_code == 400
    assert hooks.personio({"company_id": COMPANY, "event_name": "person.updated"}).status_code == 400
    assert hooks.personio(_person("person.updated", "1", at="yesterday")).status_code == 400
    big = _person("person.updated", "1", meta={"padding": "x" * MAX_BODY})
    assert hooks.personio(big).status_code == 413
    streamed = hooks.http.post("/hooks/personio", headers={"authorization": TOKEN},
                               content=iter([b"x" * 40_000, b"x" * 40_000]))
    assert streamed.status_code == 413
    assert hooks.events() == before


# --- 360Learning ---------------------------------------------------------------------------


def test_r17_learning360_signed_delivery_of_managed_user_is_recorded(hooks: Hooks) -> None:
    """A delivery signed with either subscription's secret is recorded once, by ``webhook-id``, with the
    user and its linked employee; a retry of the same ``webhook-id`` records nothing."""
    before = hooks.events()
    first = hooks.learning360(_user("user.deleted"), msg_id="msg_2aF1")
    second = hooks.learning360(_user("user.updated"), msg_id="msg_2aF2", secret=SECRETS[1])
    retry = hooks.learning360(_user("user.deleted"), msg_id="msg_2aF1")
    assert [first.json(), second.json(), retry.json()] == [
        {"status": "recorded"}, {"status": "recorded"}, {"status": "duplicate"}]
    assert hooks.events()[len(before):] == [
        ("360learning", "user.deleted", MANAGED_EMPLOYEE, MANAGED_USER),
        ("360learning", "user.updated", MANAGED_EMPLOYEE, MANAGED_USER)]
    recorded = hooks.store.feed.pending()[-1]
    assert recorded.occurred_at == dt.datetime.fromtimestamp(1772442900, dt.UTC)


def test_r17_learning360_forged_replayed_and_future_deliveries_are_refused(hooks: Hooks) -> None:
    """A wrong secret, a body changed after signing, a timestamp 10 minutes old or ahead,
    missing headers: 401, nothing recorded."""
    before = hooks.events()
    now = dt.datetime.now(dt.UTC)
    body = json.dumps(_user("user.deleted"))
    attempts = [
        hooks.learning360(None, msg_id="msg_f1", secret=FORGED, raw=body),
        hooks.learning360(None, msg_id="msg_f2", at=now - dt.timedelta(minutes=10), raw=body),
        hooks.learning360(None, msg_id="msg_f3", at=now + dt.timedelta(minutes=10), raw=body),
        hooks.http.post("/hooks/360learning", content=body),
    ]
    headers = {"webhook-id": "msg_f4", "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Webhook(SECRETS[0]).sign("msg_f4", now, body)}
    attempts.append(hooks.http.post("/hooks/360learning", content=body.replace("deleted", "updated"),
                                    headers=headers))
    attempts.append(hooks.http.post("/hooks/360learning", content=body,
                                    headers={**headers, "webhook-signature": "v1"}))
    assert [(r.status_code, r.json()) for r in attempts] == [(401, {"error": "unauthorized"})] * 6
    assert hooks.events() == before


def test_r6_learning360_unmanaged_user_and_other_events_are_ignored(hooks: Hooks) -> None:
    """A user no open link holds, and events other than user.*: 2xx and nothing recorded (R6)."""
    before = hooks.events()
    unmanaged = hooks.learning360(_user("user.deleted", "650000000000000000000000"), msg_id="msg_u1")
    group = hooks.learning360({"type": "group.updated", "timestamp": 1772442900000,
                               "data": {"groupId": "g"}}, msg_id="msg_u2")
    assert (unmanaged.status_code, unmanaged.json()) == (200, {"status": "ignored"})
    assert (group.status_code, group.json()) == (200, {"status": "ignored"})
    assert hooks.events() == before


def test_r17_learning360_malformed_and_oversized_bodies_are_refused(hooks: Hooks) -> None:
    """Signed but malformed JSON or not the envelope: 400; over 64 KiB: 413; nothing recorded."""
    before = hooks.events()
    assert hooks.learning360(None, msg_id="msg_m1", raw='{"type": ').status_code == 400
    no_user = {"type": "user.deleted", "timestamp": 1, "data": {}}
    assert hooks.learning360(no_user, msg_id="msg_m2").status_code == 400
    assert hooks.learning360({"type": "user.deleted", "data": {"userId": MANAGED_USER}},
                             msg_id="msg_m3").status_code == 400
    assert hooks.learning360(None, msg_id="msg_m4", raw=" " * (MAX_BODY + 1)).status_code == 413
    assert hooks.events() == before


# --- both ---------------------------------------------------------------------------------


def test_r17_store_failure_answers_503(hooks: Hooks) -> None:
    """When the store cannot record a delivery the answer is 503 (the sender retries), never 2xx."""
    with hooks.store.transaction() as session:
        session.execute(text("ALTER TABLE change_events RENAME TO change_events_away"))
    try:
        response = hooks.personio(_person("person.updated", "4040"))
    finally:
        with hooks.store.transaction() as session:
            session.execute(text("ALTER TABLE change_events_away RENAME TO change_events"))
    assert response.status_code == 503
    assert hooks.personio(_person("person.updated", "4040")).json() == {"status": "recorded"}


def test_r17_receivers_need_no_session_and_leak_no_secret(hooks: Hooks,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """Deliveries need no sign-in or CSRF token, and no token or secret appears in a log or a response."""
    caplog.set_level(logging.DEBUG)
    responses = [hooks.personio(_person("person.updated", "808")),
                 hooks.personio(_person("person.updated", "808"), token="Bearer wrong"),
                 hooks.learning360(_user("user.reactivated"), msg_id="msg_s1"),
                 hooks.learning360(_user("user.reactivated"), msg_id="msg_s2", secret=FORGED)]
    assert [r.status_code for r in responses] == [200, 401, 200, 401]
    shown = caplog.text + "".join(r.text + str(r.headers) for r in responses)
    for secret in [TOKEN, TOKEN.removeprefix("Bearer "), OLD_TOKEN, *SECRETS,
                   *(s.removeprefix("whsec_") for s in SECRETS)]:
        assert secret not in shown
    assert "person.updated" in caplog.text
