"""The R17 chaos cases' view of the connector (``chaos_changes.py``): the store's change feed
read back, ``serve``'s receivers subscribed to both emulators behind a tap that keeps every
genuine delivery, and the driver's own forged and replayed deliveries."""

# ruff: noqa: PLC0415 - personio360 is imported lazily, as in chaos.py
from __future__ import annotations

import datetime as dt
import json
import logging
import random
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from secrets import token_hex
from typing import Any

from benchmarks.chaos import PACING, Result, Side

TOKEN = token_hex(16)  # made per run: no token is written in the repository
FORGER = "personio360-chaos-forger"
USER_EVENTS = ("user.updated", "user.deleted", "user.reactivated")
PERSON_EVENTS = ["person.created", "person.updated", "person.deleted",
                 "employment.created", "employment.updated", "employment.deleted"]


# --- the store's change feed, read back (the driver's view of events.py) ---------------------


@dataclass(frozen=True)
class Event:
    provider: str
    employee_id: int | None
    user_id: str | None
    received_at: dt.datetime
    processed: tuple[dt.datetime, int | None] | None


@dataclass(frozen=True)
class Feed:
    cursor: tuple[dt.datetime, int | None] | None
    last_poll: tuple[dt.datetime, int | None] | None
    events: dict[int, Event]
    runs: dict[int, str]  # run id -> outcome ("running" until it ends)

    @classmethod
    def read(cls, side: Side) -> Feed:
        from sqlalchemy import create_engine, select
        from sqlalchemy.orm import Session

        from personio360.store.tables import ChangeEventRow, FeedMarkerRow, RunRow

        engine = create_engine(f"sqlite:///{side.sb.directory / 'personio360-test.db'}")
        try:
            with Session(engine) as s:
                marks = {m.name: (_utc(m.at), m.run_id) for m in s.scalars(select(FeedMarkerRow))}
                events = {e.id: Event(e.provider, e.employee_id, e.user_id, _utc(e.received_at),
                                      (_utc(e.processed_at), e.run_id) if e.processed_at else None)
                          for e in s.scalars(select(ChangeEventRow))}
                runs = {r.id: r.outcome if r.ended_at else "running" for r in s.scalars(select(RunRow))}
        finally:
            engine.dispose()
        return cls(marks.get("personio.updated_since"), marks.get("personio.last_poll"), events, runs)

    @property
    def pending(self) -> list[int]:
        return [i for i, e in self.events.items() if e.processed is None]


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# --- the served receivers, a tap in front of them, and the forger ----------------------------


class Tap:
    """ASGI middleware in front of ``serve``'s app: every genuine delivery, and its answer."""

    def __init__(self, app: Any) -> None:
        self.app = app
        #: (path, headers, body, status, the answer's "status")
        self.seen: list[tuple[str, dict[str, str], bytes, int, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/hooks/"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = bytearray()
        answer: dict[str, Any] = {"status": 0, "body": b""}

        async def tapped_receive() -> Any:
            message = await receive()
            body.extend(message.get("body", b""))
            return message

        async def tapped_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            else:
                answer["body"] += message.get("body", b"")
            await send(message)

        await self.app(scope, tapped_receive, tapped_send)
        if headers.get("user-agent") != FORGER:
            self.seen.append((scope["path"], headers, bytes(body), int(answer["status"]),
                              _outcome(answer["body"])))


def _outcome(body: Any) -> str:
    try:
        return str(json.loads(body).get("status", ""))
    except (ValueError, AttributeError):
        return ""


class Hooks:
    """``serve``'s receivers over the chaos side's store, subscribed to both emulators."""

    def __init__(self, side: Side, stack: ExitStack) -> None:
        import httpx

        from personio360.config import load_config
        from personio360.emulators.server import serve_in_thread
        from personio360.web.admin import Admin
        from personio360.web.app import create_app
        from personio360.wiring import open_context

        receivers = logging.getLogger("personio360.web.hooks")
        stack.callback(receivers.setLevel, receivers.level)  # as it was, once the case is over
        receivers.setLevel(logging.ERROR)  # forgeries are expected
        sb = side.sb
        subs = [sb.lms.webhooks.create(e, "personio360 (chaos)", "http://127.0.0.1:9/hooks/360learning")
                for e in USER_EVENTS]
        self.secrets = [sb.lms.webhooks.secret(s["_id"]) for s in subs]
        environ = {**sb.environ, "PERSONIO_WEBHOOK_TOKEN": TOKEN,
                   "LEARNING360_WEBHOOK_SECRET": " ".join(self.secrets)}
        settings = load_config(sb.config_path)
        ctx = stack.enter_context(open_context(settings, environ=environ, rate_limit_factor=PACING))
        admin = Admin(settings, ctx, environ=environ)
        stack.callback(admin.close)
        self.tap = Tap(create_app(admin, "a-long-admin-password-for-chaos"))
        self.server = serve_in_thread(self.tap)
        stack.callback(self.server.stop)
        for s in subs:
            sb.lms.webhooks.update(s["_id"], {"url": f"{self.server.url}/hooks/360learning"})
        sb.personio.webhooks.create({
            "url": f"{self.server.url}/hooks/personio", "description": "personio360 (chaos)",
            "status": "ENABLED", "auth_type": "TOKEN", "token": TOKEN, "enabled_events": PERSON_EVENTS})
        self.http = stack.enter_context(httpx.Client(base_url=self.server.url, trust_env=False, timeout=10,
                                                     headers={"user-agent": FORGER}))
        self.side = side

    def forge(self, result: Result, rng: random.Random) -> None:
        """Forgeries and replays posted by the driver: refused, or answered as duplicates;
        either way nothing new in the store."""
        before = len(Feed.read(self.side).events)
        for label, (status, want), response in self._posts(rng):
            result.faults[label] += 1
            if response.status_code != status or (want and _outcome(response.content) not in want):
                result.violations["forged_recorded"] += 1
                result.notes.append(f"{label}: {response.status_code} {response.text[:80]}")
        added = len(Feed.read(self.side).events) - before
        result.violations["forged_recorded"] += added
        if added:
            result.notes.append(f"forgeries and replays recorded {added} events")

    def _posts(self, rng: random.Random) -> Any:
        from standardwebhooks import Webhook

        now = dt.datetime.now(dt.UTC)
        employee = rng.choice(self.side.sb.personio.state.employee_ids())
        users = [u.id for u in self.side.sb.lms.state.users()
                 if u.id not in self.side.unmanaged and u.status != "deleted"]
        envelope = json.dumps({"company_id": "12345", "event_name": "person.updated",
                               "occurred_at": now.isoformat(), "payload": {"person": {"id": str(employee)}},
                               "meta": {"event_id": f"forged-{rng.random()}"}})
        refused = (401, ())
        yield "forged_wrong_token", refused, self._post("personio", envelope, {"authorization": TOKEN + "x"})
        yield "forged_no_token", refused, self._post("personio", envelope, {})
        body = json.dumps({"type": "user.deleted", "timestamp": int(now.timestamp() * 1000),
                           "data": {"userId": rng.choice(users), "deletedAt": now.isoformat()}})
        fake = "whsec_" + "Zm9yZ2VkLXNlY3JldC1mb3ItY2hhb3MtdGVzdHM="
        yield "forged_bad_signature", refused, self._signed(Webhook(fake), body, now)
        stale = now - dt.timedelta(minutes=rng.randint(6, 60))
        yield "replayed_stale_timestamp", refused, self._signed(Webhook(self.secrets[0]), body, stale)
        genuine = [d for d in self.tap.seen if d[3] == 200 and d[4] in ("recorded", "duplicate")]
        for path in ("/hooks/personio", "/hooks/360learning"):
            sent = [d for d in genuine if d[0] == path]
            if not sent:
                continue
            _, headers, raw, _, _ = rng.choice(sent)
            again = {k: v for k, v in headers.items() if k in ("authorization", "webhook-id",
                                                               "webhook-timestamp", "webhook-signature")}
            yield f"replayed_{path[7:]}_body", (200, ("duplicate",)), self._post(path[7:], raw, again)
            if path.endswith("360learning") and users:
                tampered = raw.replace(json.loads(raw)["data"]["userId"].encode(), rng.choice(users).encode())
                if tampered != raw:
                    yield "forged_tampered_body", refused, self._post("360learning", tampered, again)

    def _signed(self, webhook: Any, body: str, at: dt.datetime) -> Any:
        msg = f"msg_forged{random.getrandbits(64):x}"
        stamp = str(int(at.timestamp()))
        return self._post("360learning", body, {"webhook-id": msg, "webhook-timestamp": stamp,
                                                "webhook-signature": webhook.sign(msg, at, body)})

    def _post(self, provider: str, body: str | bytes, headers: dict[str, str]) -> Any:
        return self.http.post(f"/hooks/{provider}", content=body,
                              headers={"content-type": "application/json", **headers})

    def recorded_by_genuine(self, result: Result, feed: Feed) -> None:
        """Every recorded event came from a genuine delivery the receiver answered "recorded"."""
        answered = Counter(d[0][7:] for d in self.tap.seen if d[4] == "recorded")
        stored = Counter(e.provider for e in feed.events.values())
        extra = sum((stored - answered).values())
        result.violations["forged_recorded"] += extra
        if extra or stored != answered:
            result.notes.append(f"events stored {dict(stored)}, answered recorded {dict(answered)}")
