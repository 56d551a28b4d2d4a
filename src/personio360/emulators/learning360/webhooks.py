"""360Learning's webhook subscriptions without HTTP: subscriptions, secrets, signed events.

``Subscriptions`` keeps what ``/api/v2/webhooks/subscriptions`` manages
(``360learning-webhook-api.openapi.json``; 360learning-webhooks.md §1), listens to the
``Learning360State``'s user lifecycle changes and hands one delivery per active subscription
of that event type to the shared ``DeliveryEngine``: a ``{type, timestamp, data}`` body
(§1.4) signed the Standard Webhooks way with the ``standardwebhooks`` library (§1.5), retried
on 360Learning's schedule (§1.6).

By default only *hand edits* emit events (the control surface and direct state calls: an
administrator in the UI); changes made through the API emit them too once
``api_changes`` is on, so a connector's echo handling can be tested. Every choice where the
documents are silent is listed in ``docs/emulators.md``.
"""

from __future__ import annotations

__all__ = [
    "EVENT_TYPES",
    "LEARNING360_RETRIES",
    "Subscriptions",
    "api_origin",
]

import base64
import contextvars
import datetime as dt
import ipaddress
import json
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from personio360.emulators.deliveries import DeliveryEngine, Outcome, Outgoing, RetrySchedule
from personio360.emulators.learning360.errors import StateError
from personio360.emulators.learning360.state import Learning360State, UserRecord, iso

#: ``BaseSubscriptionDTO.eventType``'s enum, in the document's order.
EVENT_TYPES = (
    "bulk.operation.created", "bulk.operation.ended", "course.attempt.closed", "group.created",
    "group.deleted", "group.updated", "path.archived", "path.created", "path.deleted",
    "path.session.added", "path.session.removed",
    "path.session.classroom.slot.users.unregistered.full",
    "path.session.classroom.slot.waitlist.closed", "path.session.classroom.slot.waitlist.opened",
    "path.session.classroom.slot.waitlist.user.joined", "path.session.user.status.updated",
    "path.session.users.enrolled", "path.session.users.unenrolled", "path.updated",
    "user.activated", "user.assessment.corrected", "user.certificate.awarded", "user.created",
    "user.deleted", "user.invited", "user.reactivated", "user.updated", "xapi.started", "xapi")

#: 8 attempts: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; 15 s to answer; any
#: non-2xx (3xx included), timeout or connection error is a failure and retried.
LEARNING360_RETRIES = RetrySchedule(delays=(0, 5, 300, 1800, 7200, 18000, 36000, 36000),
                                    timeout=15.0, retry=lambda status: True)

#: All attempts failing for this long sets the subscription ``inactive`` (changelog).
_INACTIVE_AFTER = 5 * 86400.0
#: A rotated-out secret keeps signing this long (§1.5).
_OLD_SECRET_FOR = 86400.0
#: Subscriptions per event type (``subscriptionsLimitReached``; the real number is unknown).
MAX_PER_EVENT_TYPE = 10
#: The ``*At`` field each user event's data requires.
_STAMP = {"user.created": "createdAt", "user.invited": "invitedAt",
          "user.activated": "firstActivatedAt", "user.updated": "updatedAt",
          "user.deleted": "deletedAt", "user.reactivated": "reactivatedAt"}
#: The optional ``data`` fields of each event (``User*DTO``); user.updated gets a snapshot.
_BASIC = ("firstName", "lastName", "mail", "username")
_UPDATED = (*_BASIC, "custom", "job", "organization", "phone", "toBeDeactivatedAt",
            "primaryGroupId")

_origin: contextvars.ContextVar[str] = contextvars.ContextVar("learning360_origin",
                                                               default="admin")


@contextmanager
def api_origin() -> Iterator[None]:
    """Mark the state changes made inside as made through the API (not by hand)."""
    reset = _origin.set("api")
    try:
        yield
    finally:
        _origin.reset(reset)


def _new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass
class _Subscription:
    id: str
    event_type: str
    name: str
    url: str
    status: str = "active"
    secrets: list[tuple[str, float | None]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    failing_since: float | None = None

    def dto(self) -> dict[str, str]:
        return {"_id": self.id, "eventType": self.event_type, "name": self.name,
                "url": self.url, "status": self.status}

    def signing_secrets(self) -> list[str]:
        """The current secret first, then rotated-out ones still within their 24 h."""
        now = time.monotonic()
        self.secrets = [(s, until) for s, until in self.secrets if until is None or until > now]
        return [s for s, _ in self.secrets]


class _Delivery:
    """One event for one subscription; signed afresh (new timestamp) for every attempt."""

    def __init__(self, hooks: Subscriptions, subscription_id: str,
                 event: dict[str, Any]) -> None:
        self.hooks, self.subscription_id, self.event = hooks, subscription_id, event
        self.body = json.dumps(event["payload"], separators=(",", ":")).encode()

    @property
    def event_name(self) -> str:
        return str(self.event["payload"]["type"])

    def prepare(self) -> Outgoing | None:
        with self.hooks._lock:
            sub = self.hooks._subs.get(self.subscription_id)
            if sub is None or sub.status != "active":
                return None
            keys = sub.signing_secrets()
            url = sub.url
            self.event["status"] = "sending"
        msg_id = str(self.event["_id"])
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        text = self.body.decode()
        signature = " ".join(Webhook(key).sign(msg_id, now, text) for key in keys)
        return Outgoing(url, {"Content-Type": "application/json", "webhook-id": msg_id,
                              "webhook-timestamp": str(int(now.timestamp())),
                              "webhook-signature": signature,
                              "User-Agent": "360Learning-Webhooks (personio360 emulator)"},
                        self.body)

    def record(self, outcome: Outcome) -> None:
        with self.hooks._lock:
            sub = self.hooks._subs.get(self.subscription_id)
            if outcome.delivered:
                self.event["status"] = "delivered"
            elif outcome.final:
                self.event["status"] = "failed"
            if sub is None or outcome.skipped:
                return
            self.event.setdefault("attempts", []).append(
                {"status": outcome.status, "error": outcome.error,
                 "at": iso(outcome.completed_at)})
            now = time.monotonic()
            if outcome.delivered:
                sub.failing_since = None
            elif sub.failing_since is None:
                sub.failing_since = now
            elif now - sub.failing_since >= self.hooks.engine.scaled(_INACTIVE_AFTER):
                sub.status = "inactive"


class Subscriptions:
    """The company's webhook subscriptions and their events; thread-safe."""

    def __init__(self, state: Learning360State, engine: DeliveryEngine, *,
                 api_changes: bool = False,
                 retries: RetrySchedule = LEARNING360_RETRIES) -> None:
        self.state, self.engine, self.retries = state, engine, retries
        #: also emit events for changes made through the API (the real platform's plausible
        #: behaviour; off by default so only hand edits reach a connector)
        self.api_changes = api_changes
        self._lock = threading.RLock()
        self._subs: dict[str, _Subscription] = {}
        self._counter = 0
        state.subscribe(self._on_change)
        state.learning.subscribe(self._on_learning)

    # --- management ---------------------------------------------------------------------

    def create(self, event_type: str, name: str, url: str) -> dict[str, str]:
        _check_url(url)
        with self._lock:
            same_type = [s for s in self._subs.values() if s.event_type == event_type]
            if any(s.url == url for s in same_type):
                raise StateError("subscriptionAlreadyExists")
            if len(same_type) >= MAX_PER_EVENT_TYPE:
                raise StateError("subscriptionsLimitReached")
            sub = _Subscription(id=self.state.new_id(), event_type=event_type, name=name,
                                url=url, secrets=[(_new_secret(), None)])
            self._subs[sub.id] = sub
            return sub.dto()

    def update(self, subscription_id: str, changes: Mapping[str, str]) -> dict[str, str]:
        with self._lock:
            sub = self._get(subscription_id)
            url = changes.get("url")
            if url is not None:
                _check_url(url)
                if any(s.url == url and s.event_type == sub.event_type and s.id != sub.id
                       for s in self._subs.values()):
                    raise StateError("subscriptionAlreadyExists")
                sub.url = url
            if "name" in changes:
                sub.name = changes["name"]
            if "status" in changes:
                sub.status = changes["status"]
                sub.failing_since = None
            return sub.dto()

    def delete(self, subscription_id: str) -> None:
        with self._lock:
            self._get(subscription_id)
            del self._subs[subscription_id]

    def get(self, subscription_id: str) -> dict[str, str]:
        with self._lock:
            return self._get(subscription_id).dto()

    def all(self) -> list[dict[str, str]]:
        with self._lock:
            return [s.dto() for s in self._subs.values()]

    def secret(self, subscription_id: str) -> str:
        with self._lock:
            return self._get(subscription_id).signing_secrets()[0]

    def rotate(self, subscription_id: str) -> str:
        """A new secret; the previous one keeps signing for 24 h (scaled)."""
        with self._lock:
            sub = self._get(subscription_id)
            until = time.monotonic() + self.engine.scaled(_OLD_SECRET_FOR)
            current = sub.signing_secrets()
            sub.secrets = [(_new_secret(), None), *((s, until) for s in current[:1]),
                           *sub.secrets[1:]]
            return sub.secrets[0][0]

    def events(self, subscription_id: str) -> list[dict[str, Any]]:
        """``EventDTO``s in creation order, with a private ``seq`` sort key."""
        with self._lock:
            return [{k: e[k] for k in ("_id", "createdAt", "status", "payload", "seq")}
                    for e in self._get(subscription_id).events]

    def retry(self, subscription_id: str, start: str, end: str, status: str) -> int:
        """Send again the events of one status created in [start, end]; how many."""
        with self._lock:
            sub = self._subs.get(subscription_id)
            if sub is None or sub.status != "active":
                raise StateError("activeSubscriptionNotFound")
            chosen = [e for e in sub.events
                      if e["status"] == status and start <= e["createdAt"] <= end]
            for event in chosen:
                event["status"] = "pending"
                self.engine.submit(_Delivery(self, sub.id, event), self.retries)
            return len(chosen)

    # --- events -------------------------------------------------------------------------

    def emit(self, event_type: str, data: Mapping[str, Any]) -> int:
        """Queue one event for every active subscription of ``event_type``; how many."""
        with self._lock:
            subs = [s for s in self._subs.values()
                    if s.status == "active" and s.event_type == event_type]
            for sub in subs:
                self._counter += 1
                event: dict[str, Any] = {
                    "_id": "msg_" + secrets.token_urlsafe(20).replace("-", "x").replace("_", "y"),
                    "createdAt": self.state.now(), "status": "pending",
                    "seq": f"{self._counter:012d}",
                    "payload": {"type": event_type, "timestamp": int(time.time() * 1000),
                                "data": dict(data)}}
                sub.events.append(event)
                self.engine.submit(_Delivery(self, sub.id, event), self.retries)
            return len(subs)

    def _on_change(self, event_type: str, record: UserRecord, at: str) -> None:
        if not self._subs or (_origin.get() == "api" and not self.api_changes):
            return
        names = _UPDATED if event_type == "user.updated" else _BASIC
        data: dict[str, Any] = {"userId": record.id, _STAMP[event_type]: at}
        data.update({k: record.profile[k] for k in names if record.profile.get(k)})
        if event_type == "user.updated":
            data["lang"] = record.lang
        self.emit(event_type, data)

    def _on_learning(self, event_type: str, data: dict[str, Any]) -> None:
        """A learner's completion (R18): always emitted, whoever recorded it."""
        if self._subs:
            self.emit(event_type, data)

    def _get(self, subscription_id: str) -> _Subscription:
        sub = self._subs.get(subscription_id)
        if sub is None:
            raise StateError("subscriptionNotFound")
        return sub


def _check_url(url: str) -> None:
    """HTTPS, or plain http on a loopback host; anything else cannot be reached."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port
    except ValueError:
        raise StateError("urlUnreachable") from None
    secure = parts.scheme == "https"
    if not host or not (secure or (parts.scheme == "http" and _is_loopback(host))):
        raise StateError("urlUnreachable")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
