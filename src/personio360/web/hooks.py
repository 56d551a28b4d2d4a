"""The webhook receivers of ``serve`` (R17): verify, record, answer 2xx, nothing else.

Stripe's and Standard Webhooks' guidance: each provider's verification is one function and runs
on the raw body before anything parses it; the event's id is stored and a second delivery of it
changes nothing; the body is a hint of whom to re-read, never data (the changes run re-reads the
person). The store write runs in a thread and the answer follows it, well within Personio's 3 s:
2xx only once recorded, 503 when the store could not record it (the sender retries). What each
receiver accepts and refuses, and the choices where the vendors' documents are silent, are in
docs/webhooks.md.
"""

from __future__ import annotations

__all__ = [
    "LEARNING360_USER_EVENTS",
    "MAX_BODY",
    "Receivers",
    "completion_items",
    "hook_routes",
    "learning360_verified",
    "personio_token_ok",
]

import binascii
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError, WebhookVerificationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from personio360.config import Settings, WebhookSecrets, load_webhook_secrets
from personio360.errors import ConfigError
from personio360.http.redact import register_secret
from personio360.store import Store
from personio360.web.admin import Admin

log = logging.getLogger("personio360.web.hooks")
#: R17: a larger body is refused (413) before it is parsed; both vendors send ids only
MAX_BODY = 64 * 1024
#: the 360Learning events that make the next changes run re-check a managed user (R4, R6)
LEARNING360_USER_EVENTS = frozenset({"user.created", "user.updated", "user.deleted", "user.reactivated"})
#: R18: each completion event and the ``data`` field naming its path or course
_ITEM_FIELD = {"path.session.user.status.updated": "pathId", "course.attempt.closed": "courseId"}
#: the Personio events that name a person to re-read (the others, e.g. absences, are ignored)
_PERSONIO_PREFIXES = ("person.", "employment.")
_SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
#: how deep a Personio payload is searched for ids (the documented ones sit at depth 1 or 2)
_DEPTH = 3
_BIGINT = 2**63 - 1


class _Refused(Exception):
    """A delivery answered with a 4xx (never retried by Personio, §1.3): nothing is recorded."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error

    def response(self) -> Response:
        return JSONResponse({"error": self.error}, status_code=self.status)


@dataclass(frozen=True, slots=True)
class _Event:
    """What a verified delivery names: never the person's data (R17)."""

    provider: str
    key: str
    name: str
    employee_id: int | None = None
    user_id: str | None = None
    occurred_at: dt.datetime | None = None
    #: R18: the path or course a completion event names (a hint; not recorded)
    item_id: str | None = None


def completion_items(settings: Settings) -> dict[str, frozenset[str]]:
    """R18: completion event -> the ids of the paths or courses written back; empty when
    write-back is off, so that completion events are then ignored like any other."""
    if not settings.writeback_on or settings.writeback is None:
        return {}
    kinds = {"path.session.user.status.updated": "path", "course.attempt.closed": "course"}
    return {event: frozenset(i.item_id for i in settings.writeback.items if i.kind == kind)
            for event, kind in kinds.items()}


@dataclass
class Receivers:
    """The receivers' state for one server: the secrets, read once at start-up, and the store."""

    store: Store
    personio_tokens: tuple[bytes, ...] = field(repr=False)
    learning360: tuple[Webhook, ...] = field(repr=False)
    #: ``[webhooks] personio_company_id``: deliveries for another tenant get 403
    company_id: str | None = None
    #: called after a new event is recorded: wakes the changes runner (R17)
    arrived: Callable[[], None] = lambda: None
    #: R18: the completion events recorded, and for which paths or courses (``completion_items``)
    completions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: deliveries by provider and outcome (recorded, duplicate, ignored, refused_<status>)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    @classmethod
    def of(cls, admin: Admin) -> Receivers:
        """The receivers over ``admin``'s store, with the secrets of its environment (R17)."""
        secrets = load_webhook_secrets(admin.settings, admin.environ)
        hooks = admin.settings.webhooks
        return cls(admin.ctx.store, *_verifiers(secrets),
                   company_id=hooks.personio_company_id if hooks else None, arrived=admin.changes_arrived,
                   completions=completion_items(admin.settings))

    async def record(self, event: _Event) -> Response:
        """Record ``event`` in a thread, then answer: 200 once recorded (or already recorded),
        503 when the store failed, so the sender retries: never 2xx for what is not recorded."""
        try:
            new = await run_in_threadpool(
                self.store.feed.record, event.provider, event.key, event.name,
                employee_id=event.employee_id, user_id=event.user_id, occurred_at=event.occurred_at)
        except Exception as exc:  # any failure means "not recorded": the sender must retry
            log.error("%s webhook %s not recorded (%s): answered 503", event.provider, event.name,
                      type(exc).__name__)
            return self.refuse(event.provider, _Refused(503, "not recorded; retry later"))
        outcome = "recorded" if new else "duplicate"
        self.counts[event.provider, outcome] += 1
        log.info("%s webhook %s %s (employee %s, user %s)", event.provider, event.name, outcome,
                 event.employee_id, event.user_id)
        if new:
            try:
                self.arrived()
            except Exception:  # the event is recorded: the next run or poll picks it up anyway
                log.exception("waking the changes runner failed")
        return JSONResponse({"status": outcome})

    def ignore(self, provider: str, name: str, why: str) -> Response:
        """A verified delivery that names no one the connector syncs: 200, nothing recorded."""
        self.counts[provider, "ignored"] += 1
        log.info("%s webhook %s ignored: %s", provider, name, why)
        return JSONResponse({"status": "ignored"})

    def refuse(self, provider: str, refused: _Refused) -> Response:
        self.counts[provider, f"refused_{refused.status}"] += 1
        if refused.status != 503:
            log.warning("%s webhook refused (%d): %s", provider, refused.status, refused.error)
        return refused.response()


def _verifiers(secrets: WebhookSecrets) -> tuple[tuple[bytes, ...], tuple[Webhook, ...]]:
    """Personio's tokens as bytes and one Standard Webhooks verifier per 360Learning secret;
    each is registered with the redaction helper, so no log or page can show it."""
    tokens = tuple(t.get_secret_value().encode() for t in secrets.personio_tokens)
    webhooks = []
    for secret in secrets.learning360_secrets:
        value = secret.get_secret_value()
        register_secret(value)
        try:
            webhooks.append(Webhook(value))
        except (binascii.Error, ValueError, EmptyWebhookSecretError):
            raise ConfigError("LEARNING360_WEBHOOK_SECRET holds a value that is not a signing secret",
                              hint="copy each subscription's secret (whsec_… or base64) from 360Learning, "
                              "separated by spaces") from None
    for token in secrets.personio_tokens:
        register_secret(token.get_secret_value())
    return tokens, tuple(webhooks)


# --- verification: one function per provider, on the raw request ------------------------


def personio_token_ok(authorization: bytes | None, tokens: Sequence[bytes]) -> bool:
    """Personio's auth type TOKEN: the ``Authorization`` header is the configured token, byte
    for byte, no prefix (personio-v2-webhooks §1.6). Compared in constant time with every token
    (the current and, during a rotation, the previous one); no token configured: refused."""
    if authorization is None:
        return False
    return any([hmac.compare_digest(authorization, token) for token in tokens])  # all compared


def learning360_verified(body: bytes, headers: Mapping[str, str], webhooks: Sequence[Webhook]) -> bool:
    """Standard Webhooks (360learning-webhooks §1.5): the signature over ``webhook-id``,
    ``webhook-timestamp`` and the raw body matches one secret's, and the timestamp is within the
    library's 5 minutes of now (older: a replay; newer: refused too)."""
    wanted = {name: headers.get(name) or "" for name in _SIGNATURE_HEADERS}
    if not all(wanted.values()):
        return False
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    for webhook in webhooks:
        try:
            webhook.verify(text, wanted, json_parse=False)
        except (WebhookVerificationError, ValueError):  # ValueError: a garbled signature entry
            continue
        return True
    return False


async def _body(request: Request) -> bytes:
    """The raw body, read in chunks and refused (413) past ``MAX_BODY`` whatever Content-Length says."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise _Refused(413, f"body over {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise _Refused(413, f"body over {MAX_BODY} bytes")
    return bytes(body)


def _json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object (only after verification), else 400."""
    try:
        doc = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _Refused(400, "malformed JSON") from None
    if not isinstance(doc, dict):
        raise _Refused(400, "the body is not a JSON object")
    return doc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# --- the envelopes: a hint of whom to re-read --------------------------------------------


def _personio_event(doc: Mapping[str, Any]) -> tuple[str | None, _Event]:
    """Personio's envelope (personio-v2-webhooks §1.5): ``company_id``, ``event_name``,
    ``occurred_at``, ``payload`` (ids only), optional ``meta``; keys read with ``-`` or ``_``."""
    name = doc.get("event_name")
    if not isinstance(name, str) or not name:
        raise _Refused(400, "not a Personio webhook envelope: event_name")
    company = doc.get("company_id")
    company_id = str(company) if isinstance(company, str | int) and not isinstance(company, bool) else None
    if name == "ping":
        return company_id, _Event("personio", "", name)
    occurred, payload = doc.get("occurred_at"), doc.get("payload")
    if company_id is None or not isinstance(payload, dict) or not isinstance(occurred, str):
        raise _Refused(400, "not a Personio webhook envelope: company_id, occurred_at and payload")
    occurred_at = _instant(occurred)
    payload = _normalised(payload, _DEPTH)
    meta = doc.get("meta")
    meta_id = _meta_id(meta) if isinstance(meta, dict) else None
    ids = sorted(_entity_ids(payload, "", _DEPTH))
    key = hashlib.sha256(json.dumps([company_id, name, occurred, ids, meta_id]).encode()).hexdigest()
    return company_id, _Event("personio", key, name, employee_id=_person_id(payload),
                              occurred_at=occurred_at)


def _instant(value: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _Refused(400, "not a Personio webhook envelope: occurred_at is not a date-time") from None
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def _normalised(value: Any, depth: int) -> Any:
    """Keys with ``_`` for ``-`` (the docs show ``absence-period``, deliveries send
    ``absence_period``: personio/api-docs#210), a few levels deep."""
    if not isinstance(value, dict) or depth == 0:
        return value
    return {str(k).replace("-", "_"): _normalised(v, depth - 1) for k, v in value.items()}


def _meta_id(meta: Mapping[str, Any]) -> str | None:
    """An event id in ``meta``, if Personio sends one (undocumented: ``event_id``, then ``id``)."""
    for name in ("event_id", "id"):
        value = meta.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def _entity_ids(payload: Mapping[str, Any], path: str, depth: int) -> list[tuple[str, str]]:
    """Every ``id`` in the payload with where it sits (``person``, ``employment.person``...)."""
    found = [(path, str(payload["id"]))] if "id" in payload and payload["id"] is not None else []
    if depth > 0:
        for key, value in payload.items():
            if isinstance(value, dict):
                found += _entity_ids(value, f"{path}.{key}" if path else key, depth - 1)
    return found


def _person_id(payload: Mapping[str, Any]) -> int | None:
    """The employee id: the person id (a v2 Person is the v1 employee), from ``person.id``,
    ``employment.person.id`` or ``employment.person_id``; None when absent or not numeric, never
    guessed (the changes run then relies on ``updated_since``)."""
    person, employment = payload.get("person"), payload.get("employment")
    candidates = [person.get("id") if isinstance(person, dict) else None, payload.get("person_id")]
    if isinstance(employment, dict):
        nested = employment.get("person")
        candidates += [nested.get("id") if isinstance(nested, dict) else None, employment.get("person_id")]
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and value.isascii() and value.isdigit():
            number = int(value)
        else:
            continue
        if 0 < number <= _BIGINT:
            return number
    return None


def _learning360_event(doc: Mapping[str, Any], webhook_id: str) -> _Event:
    """360Learning's envelope (360learning-webhooks §1.4): ``type``, ``timestamp`` (Unix
    milliseconds; the OpenAPI example is a string, so digits are accepted too), ``data``."""
    name, stamp, data = doc.get("type"), doc.get("timestamp"), doc.get("data")
    if not isinstance(name, str) or not name or not isinstance(data, dict):
        raise _Refused(400, "not a 360Learning webhook envelope: type and data")
    if isinstance(stamp, str) and stamp.isascii() and stamp.isdigit():
        stamp = int(stamp)
    if not isinstance(stamp, int) or isinstance(stamp, bool):
        raise _Refused(400, "not a 360Learning webhook envelope: timestamp")
    try:
        occurred_at = dt.datetime.fromtimestamp(stamp / 1000, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise _Refused(400, "not a 360Learning webhook envelope: timestamp") from None
    user_id = data.get("userId")
    named = name in LEARNING360_USER_EVENTS or name in _ITEM_FIELD
    if named and (not isinstance(user_id, str) or not user_id):
        raise _Refused(400, "not a 360Learning webhook envelope: data.userId")
    item = data.get(_ITEM_FIELD[name]) if name in _ITEM_FIELD else None
    return _Event("360learning", webhook_id, name, user_id=user_id if isinstance(user_id, str) else None,
                  occurred_at=occurred_at, item_id=item if isinstance(item, str) else None)


# --- the routes ---------------------------------------------------------------------------


async def personio(request: Request) -> Response:
    """``POST /hooks/personio``: token (401), size (413), JSON envelope (400), tenant (403)."""
    hooks: Receivers = request.app.state.hooks
    try:
        header = request.headers.get("authorization")
        if not personio_token_ok(header.encode("latin-1") if header is not None else None,
                                 hooks.personio_tokens):
            raise _Refused(401, "unauthorized")
        company_id, event = _personio_event(_json(await _body(request)))
        if hooks.company_id is not None and company_id is not None and company_id != hooks.company_id:
            raise _Refused(403, "company_id is not this connector's Personio company")
    except _Refused as refused:
        return hooks.refuse("personio", refused)
    if event.name == "ping":
        return hooks.ignore("personio", event.name, "a test delivery")
    if not event.name.startswith(_PERSONIO_PREFIXES):
        return hooks.ignore("personio", event.name, "not a person or employment event")
    return await hooks.record(event)


async def learning360(request: Request) -> Response:
    """``POST /hooks/360learning``: size (413), signature and timestamp (401), envelope (400);
    only user events of managed users are recorded (R6), and with write-back on (R18) their
    completions of the configured paths and courses; others get 200 and are ignored."""
    hooks: Receivers = request.app.state.hooks
    try:
        if not hooks.learning360:
            raise _Refused(401, "unauthorized")
        body = await _body(request)
        if not learning360_verified(body, request.headers, hooks.learning360):
            raise _Refused(401, "unauthorized")
        event = _learning360_event(_json(body), request.headers["webhook-id"])
    except _Refused as refused:
        return hooks.refuse("360learning", refused)
    wanted = event.name in LEARNING360_USER_EVENTS or event.name in hooks.completions
    if event.user_id is None or not wanted:
        return hooks.ignore("360learning", event.name, "not a user event")
    if event.name in hooks.completions and event.item_id not in hooks.completions[event.name]:
        return hooks.ignore("360learning", event.name, "not a path or course written back (R18)")
    try:
        employee_id = await run_in_threadpool(hooks.store.links.employee_of, event.user_id)
    except Exception as exc:  # the store cannot say whether it is managed: let the sender retry
        log.error("360learning webhook %s not recorded (%s): answered 503", event.name, type(exc).__name__)
        return hooks.refuse("360learning", _Refused(503, "not recorded; retry later"))
    if employee_id is None:
        return hooks.ignore("360learning", event.name, "not a managed user (R6)")
    return await hooks.record(_Event(event.provider, event.key, event.name, employee_id=employee_id,
                                     user_id=event.user_id, occurred_at=event.occurred_at))


#: no session, no CSRF, no sign-in: a token or a signature authenticates each delivery
hook_routes = [
    Route("/hooks/personio", personio, methods=["POST"]),
    Route("/hooks/360learning", learning360, methods=["POST"]),
]
