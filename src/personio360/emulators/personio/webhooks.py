"""Personio's v2 webhooks without HTTP: subscriptions, their events and delivery activity.

``Webhooks`` keeps the subscriptions ``/v2/webhooks`` manages (personio-v2-webhooks.md §1.2),
turns every change of the ``PersonioState`` into the documented dataless events (§1.4, §1.5)
and hands one delivery per subscribed, ENABLED webhook to the shared ``DeliveryEngine``
with Personio's retry policy (§1.3). Each request made is kept as an activity entry, each
event as an event entry, for ``GET /v2/webhooks/{id}/activity`` and ``.../events``.
Every choice where the document is silent is listed in ``docs/emulators.md``.
"""

from __future__ import annotations

__all__ = [
    "AUTH_TYPES",
    "DEFAULT_COMPANY_ID",
    "EVENT_NAMES",
    "PERSONIO_RETRIES",
    "STATUSES",
    "InvalidWebhookError",
    "UnknownWebhookError",
    "WebhookConflictError",
    "Webhooks",
    "employment_id",
    "stamp",
]

import datetime as dt
import ipaddress
import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from personio360.emulators.deliveries import DeliveryEngine, Outcome, Outgoing, RetrySchedule
from personio360.emulators.personio.state import PersonioState

DEFAULT_COMPANY_ID = "12345"
EVENT_NAMES = ("person.created", "person.updated", "person.deleted", "employment.created",
               "employment.updated", "employment.deleted", "employment.started",
               "employment.terminated")
STATUSES = ("ENABLED", "DISABLED")
AUTH_TYPES = ("NONE", "TOKEN", "CUSTOM")

#: §1.4: person.updated fires for these Person fields and any custom attribute.
_PERSON_KEYS = frozenset({"first_name", "last_name", "preferred_name", "email", "gender",
                          "language_code"})
#: Our choice (the document's list was not retrievable): the employment's own attributes.
_EMPLOYMENT_KEYS = frozenset({"status", "position", "supervisor", "office", "department", "team",
                              "subcompany", "employment_type", "weekly_working_hours",
                              "hire_date", "contract_end_date", "termination_date",
                              "termination_type", "termination_reason", "probation_period_end",
                              "last_working_day", "cost_centers"})
_FORBIDDEN_HEADERS = ("host", "content-length", "transfer-encoding", "connection", "upgrade",
                      "te", "trailer", "expect", "content-type")
_LOOPBACK_HOSTS = frozenset({"localhost"})
_FIELDS = frozenset({"url", "description", "status", "auth_type", "token", "custom_headers",
                     "enabled_events"})


def _retriable(status: int | None) -> bool:
    """§1.3: a timeout (or no answer at all) or a 5xx other than 501."""
    return status is None or (500 <= status < 600 and status != 501)


#: The first attempt and up to 6 retries of up to 2 requests each: the documented maximum of
#: 14 requests; delays grow to about 2.6 days, inside the documented 3 days.
PERSONIO_RETRIES = RetrySchedule(delays=(0, 60, 300, 1800, 7200, 43200, 172800), timeout=3.0,
                                 retry=_retriable, requests_per_attempt=2)


class InvalidWebhookError(ValueError):
    """A create or update body the API refuses with 422 (the message names the field)."""


class WebhookConflictError(ValueError):
    """Another webhook already has this URL (409)."""


class UnknownWebhookError(KeyError):
    """No webhook with this id (404)."""


def employment_id(person_id: int) -> str:
    """The id of a person's one employment: the emulator keeps one per person."""
    return str(1_000_000_000 + int(person_id))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def stamp(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z`` (the ErrorResponse example's format)."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class _Webhook:
    id: str
    url: str
    description: str
    enabled_events: list[str]
    status: str = "DISABLED"
    auth_type: str = "TOKEN"
    token: str | None = None
    custom_headers: dict[str, str] = field(default_factory=dict)
    created_at: dt.datetime = field(default_factory=_now)
    updated_at: dt.datetime = field(default_factory=_now)
    events: list[dict[str, Any]] = field(default_factory=list)
    activity: list[dict[str, Any]] = field(default_factory=list)

    def render(self) -> dict[str, Any]:
        """The webhook as the API shows it: the token and custom header values never."""
        return {"id": self.id, "url": self.url, "description": self.description,
                "status": self.status, "auth_type": self.auth_type,
                "enabled_events": list(self.enabled_events),
                "custom_header_names": sorted(self.custom_headers),
                "created_at": stamp(self.created_at), "updated_at": stamp(self.updated_at)}


class _Delivery:
    """One event for one webhook; the request is rebuilt from the webhook for every attempt."""

    def __init__(self, hooks: Webhooks, webhook_id: str, event: dict[str, Any],
                 body: bytes) -> None:
        self.hooks, self.webhook_id, self.event, self.body = hooks, webhook_id, event, body

    @property
    def event_name(self) -> str:
        return str(self.event["event_name"])

    def prepare(self) -> Outgoing | None:
        with self.hooks._lock:
            hook = self.hooks._hooks.get(self.webhook_id)
            if hook is None:
                return None
            if self.event_name != "ping" and (hook.status != "ENABLED"
                                              or self.event_name not in hook.enabled_events):
                return None
            headers = {"Content-Type": "application/json",
                       "User-Agent": "Personio-Webhooks (personio360 emulator)"}
            if hook.auth_type == "TOKEN" and hook.token:
                headers["Authorization"] = hook.token
            elif hook.auth_type == "CUSTOM":
                headers.update(hook.custom_headers)
            return Outgoing(hook.url, headers, self.body)

    def record(self, outcome: Outcome) -> None:
        if outcome.skipped:
            return  # no request was made: nothing to show in the activity log
        with self.hooks._lock:
            hook = self.hooks._hooks.get(self.webhook_id)
            if hook is None:
                return
            hook.activity.append({
                "id": str(uuid.uuid4()), "event_id": self.event["id"],
                "event_name": self.event_name, "url": hook.url,
                "attempt": outcome.attempt, "request": outcome.request,
                "status_code": outcome.status, "is_delivered": outcome.delivered,
                "error": outcome.error, "completed_at": stamp(outcome.completed_at),
                "duration_ms": round(outcome.duration * 1000)})


class Webhooks:
    """The company's webhook subscriptions, fed by ``state``'s changes; thread-safe."""

    def __init__(self, state: PersonioState, engine: DeliveryEngine, *,
                 company_id: str = DEFAULT_COMPANY_ID,
                 retries: RetrySchedule = PERSONIO_RETRIES) -> None:
        self.engine, self.company_id, self.retries = engine, company_id, retries
        self._lock = threading.RLock()
        self._hooks: dict[str, _Webhook] = {}
        state.subscribe(self._on_change)

    # --- management (/v2/webhooks) ------------------------------------------------------

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        values = _validated(body, creating=True)
        with self._lock:
            self._check_unique(values["url"], None)
            hook = _Webhook(id=str(uuid.uuid4()), **values)
            self._hooks[hook.id] = hook
            return hook.render()

    def update(self, webhook_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        values = _validated(body, creating=False)
        with self._lock:
            hook = self._get(webhook_id)
            if "url" in values:
                self._check_unique(values["url"], webhook_id)
            auth_type = values.get("auth_type", hook.auth_type)
            if auth_type != "CUSTOM" and values.get("custom_headers"):
                raise InvalidWebhookError("custom_headers: only allowed with auth_type CUSTOM")
            if auth_type == "TOKEN" and not values.get("token", hook.token):
                raise InvalidWebhookError("token: required with auth_type TOKEN")
            for key, value in values.items():
                setattr(hook, key, value)
            hook.updated_at = _now()
            return hook.render()

    def delete(self, webhook_id: str) -> None:
        with self._lock:
            self._get(webhook_id)
            del self._hooks[webhook_id]

    def get(self, webhook_id: str) -> dict[str, Any]:
        with self._lock:
            return self._get(webhook_id).render()

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return [h.render() for h in sorted(self._hooks.values(), key=lambda h: h.created_at)]

    def events(self, webhook_id: str) -> list[dict[str, Any]]:
        """The webhook's events, newest first."""
        with self._lock:
            return [dict(e) for e in reversed(self._get(webhook_id).events)]

    def activity(self, webhook_id: str) -> list[dict[str, Any]]:
        """Every request made for the webhook, newest first."""
        with self._lock:
            return [dict(a) for a in reversed(self._get(webhook_id).activity)]

    def ping(self, webhook_id: str) -> dict[str, Any]:
        """Queue a ``ping`` event for this webhook, whatever its status and events."""
        with self._lock:
            hook = self._get(webhook_id)
            return self._emit_to(hook, "ping", {})

    # --- events -------------------------------------------------------------------------

    def emit(self, event_name: str, payload: Mapping[str, Any]) -> int:
        """Queue ``event_name`` for every ENABLED webhook subscribed to it; how many."""
        with self._lock:
            hooks = [h for h in self._hooks.values()
                     if h.status == "ENABLED" and event_name in h.enabled_events]
            for hook in hooks:
                self._emit_to(hook, event_name, payload)
            return len(hooks)

    def _emit_to(self, hook: _Webhook, event_name: str,
                 payload: Mapping[str, Any]) -> dict[str, Any]:
        event = {"id": str(uuid.uuid4()), "event_name": event_name,
                 "occurred_at": stamp(_now()), "payload": dict(payload)}
        hook.events.append(event)
        body = json.dumps({"company_id": self.company_id, "event_name": event_name,
                           "occurred_at": event["occurred_at"], "payload": dict(payload),
                           "meta": {"event_id": event["id"], "webhook_id": hook.id}})
        self.engine.submit(_Delivery(self, hook.id, event, body.encode()), self.retries)
        return dict(event)

    def _on_change(self, kind: str, employee_id: int, keys: frozenset[str]) -> None:
        if not self._hooks:
            return  # nobody listens: loading a company costs nothing
        person = {"person": {"id": str(employee_id)}}
        employment = {"employment": {"id": employment_id(employee_id)}, **person}
        if kind == "hired":
            self.emit("person.created", person)
            self.emit("employment.created", employment)
        elif kind == "removed":
            self.emit("person.deleted", person)
            self.emit("employment.deleted", employment)
        else:
            if keys & _PERSON_KEYS or any(k.startswith("dynamic_") for k in keys):
                self.emit("person.updated", person)
            if keys & _EMPLOYMENT_KEYS:
                self.emit("employment.updated", employment)

    # --- helpers ------------------------------------------------------------------------

    def _get(self, webhook_id: str) -> _Webhook:
        try:
            return self._hooks[webhook_id]
        except KeyError:
            raise UnknownWebhookError(webhook_id) from None

    def _check_unique(self, url: str, webhook_id: str | None) -> None:
        if any(h.url == url and h.id != webhook_id for h in self._hooks.values()):
            raise WebhookConflictError("A webhook with this url already exists.")


def _validated(body: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:  # noqa: PLR0912 - one check per field
    """The body's fields, checked; 422 messages name the field, never a token's value."""
    unknown = set(body) - _FIELDS
    if unknown:
        raise InvalidWebhookError(f"{sorted(unknown)[0]}: unknown field")
    values: dict[str, Any] = {}
    for name in ("url", "description"):
        if name in body or creating:
            value = body.get(name)
            if not isinstance(value, str) or not value.strip():
                raise InvalidWebhookError(f"{name}: required, a non-empty string")
            values[name] = value
    if "url" in values:
        _check_url(values["url"])
    if "enabled_events" in body or creating:
        events = body.get("enabled_events")
        if not isinstance(events, list) or not events or not all(
                isinstance(e, str) and e in EVENT_NAMES for e in events):
            raise InvalidWebhookError(f"enabled_events: a non-empty list of {EVENT_NAMES}")
        values["enabled_events"] = list(dict.fromkeys(events))
    for name, allowed in (("status", STATUSES), ("auth_type", AUTH_TYPES)):
        if name in body:
            if body[name] not in allowed:
                raise InvalidWebhookError(f"{name}: one of {allowed}")
            values[name] = body[name]
    if "token" in body:
        if body["token"] is not None and not isinstance(body["token"], str):
            raise InvalidWebhookError("token: a string")
        values["token"] = body["token"] or None
    if "custom_headers" in body:
        values["custom_headers"] = _check_headers(body["custom_headers"])
    if creating:
        auth_type = values.get("auth_type", "TOKEN")
        if auth_type == "TOKEN" and not values.get("token"):
            raise InvalidWebhookError("token: required with auth_type TOKEN")
        if auth_type == "CUSTOM" and not values.get("custom_headers"):
            raise InvalidWebhookError("custom_headers: required with auth_type CUSTOM")
        if auth_type != "CUSTOM" and values.get("custom_headers"):
            raise InvalidWebhookError("custom_headers: only allowed with auth_type CUSTOM")
    return values


def _check_url(url: str) -> None:
    """HTTPS, except plain http to a loopback host (the emulator's tests run on loopback)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        raise InvalidWebhookError("url: Invalid URL") from None
    if parts.scheme not in ("https", "http") or not host or port == 0:
        raise InvalidWebhookError("url: Invalid URL")
    if parts.scheme == "http" and not _is_loopback(host):
        raise InvalidWebhookError("url: must use HTTPS")


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_headers(headers: Any) -> dict[str, str]:
    if not isinstance(headers, dict) or len(headers) > 3 or not all(
            isinstance(k, str) and k.strip() and isinstance(v, str) for k, v in headers.items()):
        raise InvalidWebhookError("custom_headers: at most 3 string headers")
    for name in headers:
        if name.lower().startswith(_FORBIDDEN_HEADERS):
            raise InvalidWebhookError(f"custom_headers: {name} is not allowed")
    return dict(headers)
