"""The webhook subscriptions that feed R17: which are ours, and setup, status and remove as values.

What ``personio360 webhooks setup | status | remove`` and ``check`` (R11) share. Choices the
vendors' documents leave open, also in docs/configuration.md ("Webhooks"):

- **Ours.** At Personio, a webhook is ours when its description is ``personio360 (<environment>)``
  or its URL is our receiver, ``<public_url>/hooks/personio``. At 360Learning, a subscription to
  one of our events is ours when its name is ``personio360 (<environment>) <event>`` or its URL
  is ``<public_url>/hooks/360learning``. Nothing else is ever changed or deleted.
- **Exactly one each.** Setup keeps the one at our URL (else the first), PATCHes what differs
  (URL, events, status, description/name) and deletes further copies of ours.
- **The Personio token** is not echoed by the API, so it cannot be compared: it is sent when
  the webhook is created, when its auth type is not TOKEN, and on ``setup --rotate-token``.
- **Crash-safe creates** (R14): a create whose answer was lost is never re-sent blindly; the
  list is read again and the webhook found by its URL.
- **Secrets** are compared in constant time and never printed, logged or stored.
"""

from __future__ import annotations

__all__ = [
    "LEARNING360_COMPLETION_EVENTS",
    "LEARNING360_EVENTS",
    "PERSONIO_EVENTS",
    "Action",
    "LmsState",
    "PersonioState",
    "SideReport",
    "Target",
    "Verdict",
    "inspect_learning360",
    "inspect_personio",
    "open_webhook_clients",
    "remove_learning360",
    "remove_personio",
    "setup_learning360",
    "setup_personio",
    "target_of",
]

import contextlib
import hmac
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice

from pydantic import SecretStr

from personio360.config import Settings, load_credentials, load_webhook_secrets
from personio360.errors import ApiError, ApiUnavailable, AuthError, ConfigError, NotFound, Rejected
from personio360.learning360.webhooks import Learning360Webhooks, LmsEvent, LmsSubscription
from personio360.personio.webhooks import DeliveryAttempt, PersonioWebhooks, Subscription

PERSONIO_EVENTS = ("person.created", "person.updated", "person.deleted",
                   "employment.created", "employment.updated", "employment.deleted")
LEARNING360_EVENTS = ("user.updated", "user.deleted", "user.reactivated")
#: R18: with write-back on, a learner's completion of a path or course written back
LEARNING360_COMPLETION_EVENTS = {"path": "path.session.user.status.updated",
                                 "course": "course.attempt.closed"}
_LEARNING360_ALL = (*LEARNING360_EVENTS, *LEARNING360_COMPLETION_EVENTS.values())
PERSONIO_PATH, LEARNING360_PATH = "/hooks/personio", "/hooks/360learning"
SETUP_FIX = "run personio360 webhooks setup"
#: at most this many activity entries / events are read per subscription for ``status``
READ_CAP = 250


@dataclass(frozen=True, slots=True)
class Target:
    """What our subscriptions must look like, from ``[webhooks] public_url`` and the environment."""

    personio_url: str
    learning360_url: str
    description: str
    #: the 360Learning events subscribed: the user events (R17), and the completion events of
    #: the kinds of item written back (R18)
    learning360_events: tuple[str, ...] = LEARNING360_EVENTS

    def name_for(self, event: str) -> str:
        return f"{self.description} {event}"

    def manual_steps(self) -> str:
        """360Learning's admin UI route (360learning-webhooks.md §1.1), for credentials without scopes."""
        events = ", ".join(self.learning360_events)
        return (f"in 360Learning, open Settings → Webhooks and create one webhook per event ({events}), "
                f"named '{self.description} <event>', with the endpoint URL {self.learning360_url}; "
                "then open each with 'See secret' and put the secrets, separated by spaces, in "
                "LEARNING360_WEBHOOK_SECRET (environment or .env), and restart personio360 serve")


def target_of(settings: Settings) -> Target:
    """Our receivers' URLs; a ``ConfigError`` naming the key when ``[webhooks]`` is missing."""
    if settings.webhooks is None:
        where = f" {settings.source}" if settings.source else ""
        raise ConfigError(f"the config file{where} has no [webhooks] table (webhooks.public_url)",
                          hint='add [webhooks] with public_url = "https://sync.example.com", the '
                          "address where personio360 serve is reachable (docs/configuration.md)")
    root = settings.webhooks.public_url
    written = settings.writeback.items if settings.writeback_on and settings.writeback else ()
    kinds = {item.kind for item in written}
    events = (*LEARNING360_EVENTS, *(e for k, e in LEARNING360_COMPLETION_EVENTS.items() if k in kinds))
    return Target(root + PERSONIO_PATH, root + LEARNING360_PATH, f"personio360 ({settings.environment})",
                  events)


@contextlib.contextmanager
def open_webhook_clients(settings: Settings, environ: Mapping[str, str] | None = None
                         ) -> Iterator[tuple[PersonioWebhooks, Learning360Webhooks]]:
    """Both management clients, on the configured hosts with the sync's credentials."""
    creds = load_credentials(settings, environ)
    personio = PersonioWebhooks.connect(
        settings.personio.base_url, creds.personio_client_id.get_secret_value(),
        creds.personio_client_secret.get_secret_value(),
        partner_id=settings.personio.partner_id, app_id=settings.personio.app_id)
    lms = Learning360Webhooks.connect(settings.learning360.base_url,
                                      creds.learning360_client_id.get_secret_value(),
                                      creds.learning360_client_secret.get_secret_value())
    try:
        yield personio, lms
    finally:
        lms.close()
        personio.close()


# --- reports ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether one service's subscriptions are in place: one line for ``check`` and ``status``."""

    ok: bool
    detail: str
    fix: str | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """One thing setup or remove did (or found already done): never a secret's value."""

    verb: str  # created | updated | deleted | unchanged | absent
    what: str
    changes: tuple[str, ...] = ()


@dataclass
class SideReport:
    """One service's outcome: actions, things left for the administrator, or the error that stopped it."""

    service: str
    actions: list[Action] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)
    error: ApiError | None = None

    @property
    def changed(self) -> bool:
        return any(a.verb in ("created", "updated", "deleted") for a in self.actions)

    def to_dict(self) -> dict[str, object]:
        return {"service": self.service, "changed": self.changed,
                "actions": [{"verb": a.verb, "what": a.what, "changes": list(a.changes)}
                            for a in self.actions],
                "todo": list(self.todo), "error": None if self.error is None else str(self.error),
                "fix": None if self.error is None else self.error.hint}


# --- Personio ----------------------------------------------------------------------------------


def _ours_personio(hooks: PersonioWebhooks, target: Target) -> list[Subscription]:
    return [s for s in hooks.iter_webhooks()
            if s.description == target.description or s.url == target.personio_url]


def setup_personio(hooks: PersonioWebhooks, target: Target, token: str, *,
                   rotate_token: bool = False) -> SideReport:
    """Ensure exactly one ENABLED webhook of ours, at our URL, for ``PERSONIO_EVENTS`` (R17)."""
    report = SideReport("personio")
    try:
        ours = _ours_personio(hooks, target)
        if not ours:
            report.actions.append(Action("created", _describe_hook(_create_personio(hooks, target, token))))
            return report
        keep = next((s for s in ours if s.url == target.personio_url), ours[0])
        for extra in (s for s in ours if s.id != keep.id):
            hooks.delete_webhook(extra.id)
            report.actions.append(Action("deleted", f"duplicate webhook {extra.id} ({extra.url})"))
        changes = _personio_changes(keep, target, token, rotate_token)
        if changes:
            updated = hooks.update_webhook(keep.id, changes)
            shown = tuple("token" if k == "token" else f"{k}: {_show(getattr(keep, k, None))} → "
                          f"{_show(getattr(updated, k, changes[k]))}" for k in changes)
            report.actions.append(Action("updated", _describe_hook(updated), shown))
        else:
            report.actions.append(Action("unchanged", _describe_hook(keep)))
    except ApiError as exc:
        report.error = exc
    return report


def _create_personio(hooks: PersonioWebhooks, target: Target, token: str) -> Subscription:
    try:
        return hooks.create_webhook(url=target.personio_url, description=target.description,
                                    enabled_events=PERSONIO_EVENTS, token=token)
    except ApiUnavailable as exc:
        if not exc.maybe_applied:
            raise
        found = [s for s in hooks.iter_webhooks() if s.url == target.personio_url]
        if not found:
            raise
        return found[0]


def _personio_changes(hook: Subscription, target: Target, token: str,
                      rotate_token: bool) -> dict[str, object]:
    changes: dict[str, object] = {}
    if hook.url != target.personio_url:
        changes["url"] = target.personio_url
    if set(hook.enabled_events) != set(PERSONIO_EVENTS) or len(hook.enabled_events) != len(PERSONIO_EVENTS):
        changes["enabled_events"] = list(PERSONIO_EVENTS)
    if not hook.enabled:
        changes["status"] = "ENABLED"
    if hook.description != target.description:
        changes["description"] = target.description
    if hook.auth_type != "TOKEN" or rotate_token:
        changes.update(auth_type="TOKEN", token=token)
    return changes


def remove_personio(hooks: PersonioWebhooks, target: Target) -> SideReport:
    """Delete our webhooks only; nothing to delete is not an error (idempotent)."""
    report = SideReport("personio")
    try:
        ours = _ours_personio(hooks, target)
        for hook in ours:
            with contextlib.suppress(NotFound):
                hooks.delete_webhook(hook.id)
            report.actions.append(Action("deleted", _describe_hook(hook)))
        if not ours:
            report.actions.append(Action("absent", "no webhook of ours at Personio"))
    except ApiError as exc:
        report.error = exc
    return report


@dataclass
class PersonioState:
    """Our Personio webhooks and their recent delivery attempts, newest first."""

    subscriptions: list[Subscription] = field(default_factory=list)
    activity: dict[str, list[DeliveryAttempt]] = field(default_factory=dict)
    error: ApiError | None = None

    def verdict(self, target: Target, *, token_set: bool = True) -> Verdict:
        """What ``check`` and ``status`` say about Personio; ``token_set``: PERSONIO_WEBHOOK_TOKEN is."""
        if self.error is not None:
            return Verdict(False, f"cannot read the webhooks: {self.error}", self.error.hint)
        hook = next((s for s in self.subscriptions if s.url == target.personio_url), None)
        if hook is None:
            extra = f" (ours elsewhere: {self.subscriptions[0].url})" if self.subscriptions else ""
            return Verdict(False, f"no webhook for {target.personio_url}{extra}", SETUP_FIX)
        missing = [e for e in PERSONIO_EVENTS if e not in hook.enabled_events]
        if not hook.enabled:
            return Verdict(False, f"webhook {hook.id} is {hook.status}: Personio sends nothing", SETUP_FIX)
        if missing:
            return Verdict(False, f"webhook {hook.id} lacks the events {', '.join(missing)}", SETUP_FIX)
        if not token_set:
            return Verdict(False, f"webhook {hook.id} ENABLED, but PERSONIO_WEBHOOK_TOKEN is not set: "
                           "serve refuses every delivery",
                           "set PERSONIO_WEBHOOK_TOKEN (environment or .env) to the token Personio "
                           f"sends, or a new one and {SETUP_FIX} --rotate-token")
        return Verdict(True, f"webhook {hook.id} ENABLED for {target.personio_url}")


def inspect_personio(hooks: PersonioWebhooks, target: Target, *, activity: int = 0) -> PersonioState:
    """Read our webhooks (and, with ``activity``, that many recent attempts of each)."""
    state = PersonioState()
    try:
        state.subscriptions = _ours_personio(hooks, target)
        for hook in state.subscriptions if activity else ():
            rows = list(islice(hooks.iter_activity(hook.id), READ_CAP))
            state.activity[hook.id] = sorted(rows, key=lambda a: a.completed_at, reverse=True)[:activity]
    except ApiError as exc:
        state.error = exc
    return state


# --- 360Learning ---------------------------------------------------------------------------------


def _ours_lms(hooks: Learning360Webhooks, target: Target) -> list[LmsSubscription]:
    return [s for s in hooks.iter_subscriptions() if s.event_type in _LEARNING360_ALL
            and (s.url == target.learning360_url or s.name == target.name_for(s.event_type))]


def setup_learning360(hooks: Learning360Webhooks, target: Target,
                      secrets: Sequence[SecretStr]) -> SideReport:
    """Ensure one active subscription of ours per event of ``target.learning360_events`` (and
    none of ours for an event no longer wanted: write-back turned off), then check that
    ``LEARNING360_WEBHOOK_SECRET`` holds each one's signing secret. Without the webhooks scopes
    (403), the administrator gets the manual steps instead of an error."""
    report = SideReport("learning360")
    try:
        ours = _ours_lms(hooks, target)
        kept = [_ensure_lms(hooks, target, event, [s for s in ours if s.event_type == event], report)
                for event in target.learning360_events]
        for stale in (s for s in ours if s.event_type not in target.learning360_events):
            with contextlib.suppress(NotFound):
                hooks.delete_subscription(stale.id)
            report.actions.append(Action("deleted", f"{_describe_sub(stale)} (no longer needed)"))
    except AuthError as exc:
        if exc.status != 403:
            report.error = exc
            return report
        report.todo.append(f"the API credentials may not manage webhooks ({exc.message}): "
                           + target.manual_steps())
        return report
    except ApiError as exc:
        report.error = exc
        return report
    report.todo.extend(_secret_todo(hooks, kept, secrets))
    return report


def _ensure_lms(hooks: Learning360Webhooks, target: Target, event: str, mine: list[LmsSubscription],
                report: SideReport) -> LmsSubscription:
    if not mine:
        created = _create_lms(hooks, target, event)
        report.actions.append(Action("created", _describe_sub(created)))
        return created
    keep = next((s for s in mine if s.url == target.learning360_url), mine[0])
    for extra in (s for s in mine if s.id != keep.id):
        hooks.delete_subscription(extra.id)
        report.actions.append(Action("deleted", f"duplicate {extra.event_type} subscription {extra.id}"))
    wanted = {"url": target.learning360_url, "status": "active", "name": target.name_for(event)}
    changes = {k: v for k, v in wanted.items() if getattr(keep, k) != v}
    if not changes:
        report.actions.append(Action("unchanged", _describe_sub(keep)))
        return keep
    updated = hooks.update_subscription(keep.id, **changes)
    shown = tuple(f"{k}: {getattr(keep, k)} → {getattr(updated, k)}" for k in changes)
    report.actions.append(Action("updated", _describe_sub(updated), shown))
    return updated


def _create_lms(hooks: Learning360Webhooks, target: Target, event: str) -> LmsSubscription:
    try:
        return hooks.create_subscription(event_type=event, name=target.name_for(event),
                                         url=target.learning360_url)
    except (ApiUnavailable, Rejected) as exc:
        lost = isinstance(exc, ApiUnavailable) and exc.maybe_applied
        if not (lost or exc.code == "subscriptionAlreadyExists"):
            if exc.code == "urlUnreachable":
                exc.hint = (f"360Learning probes {target.learning360_url} when subscribing: start "
                            "personio360 serve there (reachable from the internet), then run setup again")
            raise
        found = [s for s in hooks.iter_subscriptions(event_type=event) if s.url == target.learning360_url]
        if not found:
            raise
        return found[0]


def _secret_todo(hooks: Learning360Webhooks, subs: Sequence[LmsSubscription],
                 secrets: Sequence[SecretStr]) -> list[str]:
    known = _secrets_known(hooks, subs, secrets)
    if known is None:
        return ["the API credentials may not read signing secrets (scope webhookSecrets:read): make sure "
                "LEARNING360_WEBHOOK_SECRET holds each subscription's secret (360Learning: Settings → "
                "Webhooks → See secret; several secrets separated by spaces)"]
    missing = [f"{s.event_type} ({s.id})" for s in subs if not known.get(s.id)]
    if not missing:
        return []
    return [f"the signing secrets of the subscriptions {', '.join(missing)} are not in "
            "LEARNING360_WEBHOOK_SECRET: copy each from 360Learning (Settings → Webhooks → See secret) "
            "into LEARNING360_WEBHOOK_SECRET (environment or .env; several secrets separated by "
            "spaces), then restart personio360 serve"]


def _secrets_known(hooks: Learning360Webhooks, subs: Sequence[LmsSubscription],
                   secrets: Sequence[SecretStr]) -> dict[str, bool] | None:
    """Per subscription: is its secret among ``secrets`` (constant-time)? ``None``: not readable (403)."""
    mine = [s.get_secret_value().encode() for s in secrets]
    known: dict[str, bool] = {}
    for sub in subs:
        try:
            theirs = hooks.get_secret(sub.id).get_secret_value().encode()
        except AuthError as exc:
            if exc.status == 403:
                return None
            raise
        known[sub.id] = any([hmac.compare_digest(theirs, candidate) for candidate in mine])
    return known


def remove_learning360(hooks: Learning360Webhooks, target: Target) -> SideReport:
    """Delete our subscriptions only (idempotent); without the scopes, the manual steps."""
    report = SideReport("learning360")
    try:
        ours = _ours_lms(hooks, target)
        for sub in ours:
            with contextlib.suppress(NotFound):
                hooks.delete_subscription(sub.id)
            report.actions.append(Action("deleted", _describe_sub(sub)))
        if not ours:
            report.actions.append(Action("absent", "no subscription of ours at 360Learning"))
    except AuthError as exc:
        if exc.status != 403:
            report.error = exc
        else:
            report.todo.append("the API credentials may not manage webhooks: in 360Learning, delete the "
                               f"webhooks to {target.learning360_url} under Settings → Webhooks")
    except ApiError as exc:
        report.error = exc
    return report


@dataclass
class LmsState:
    """Our 360Learning subscriptions, whether their secrets are configured, their recent events."""

    subscriptions: list[LmsSubscription] = field(default_factory=list)
    secrets: dict[str, bool] | None = None  # None: not readable
    events: dict[str, list[LmsEvent]] = field(default_factory=dict)
    error: ApiError | None = None

    @property
    def forbidden(self) -> bool:
        return isinstance(self.error, AuthError) and self.error.status == 403

    def verdict(self, target: Target) -> Verdict:
        """The three subscriptions active at our URL, their secrets in LEARNING360_WEBHOOK_SECRET?"""
        if self.forbidden:
            return Verdict(False, "the API credentials may not read webhooks (scope webhooks:read)",
                           target.manual_steps())
        if self.error is not None:
            return Verdict(False, f"cannot read the subscriptions: {self.error}", self.error.hint)
        at_url = {s.event_type: s for s in self.subscriptions if s.url == target.learning360_url}
        missing = [e for e in target.learning360_events if e not in at_url]
        inactive = sorted(e for e, s in at_url.items() if not s.active)
        if missing or inactive:
            problems = [f"no subscription for {', '.join(missing)}"] if missing else []
            problems += [f"inactive: {', '.join(inactive)}"] if inactive else []
            return Verdict(False, "; ".join(problems), SETUP_FIX)
        if self.secrets is None:
            return Verdict(True, f"{len(at_url)} subscriptions active for {target.learning360_url}; "
                           "their secrets are not readable (scope webhookSecrets:read): not compared")
        unknown = sorted(s.event_type for s in at_url.values() if not self.secrets.get(s.id))
        if unknown:
            return Verdict(False, "signing secrets not in LEARNING360_WEBHOOK_SECRET: " + ", ".join(unknown),
                           "copy each subscription's secret (360Learning: Settings → Webhooks → See "
                           "secret) into LEARNING360_WEBHOOK_SECRET, separated by spaces; restart serve")
        return Verdict(True, f"{len(at_url)} subscriptions active for {target.learning360_url}; "
                       "their signing secrets are in LEARNING360_WEBHOOK_SECRET")


def inspect_learning360(hooks: Learning360Webhooks, target: Target, secrets: Sequence[SecretStr], *,
                        events: int = 0) -> LmsState:
    """Read our subscriptions, check their secrets (and, with ``events``, that many recent events)."""
    state = LmsState()
    try:
        state.subscriptions = _ours_lms(hooks, target)
        state.secrets = _secrets_known(hooks, state.subscriptions, secrets)
        for sub in state.subscriptions if events else ():
            rows = list(islice(hooks.iter_events(sub.id), READ_CAP))
            state.events[sub.id] = sorted(rows, key=lambda e: e.created_at, reverse=True)[:events]
    except ApiError as exc:
        state.error = exc
    return state


def _describe_hook(hook: Subscription) -> str:
    return f"webhook {hook.id} {hook.status} → {hook.url} ({len(hook.enabled_events)} events)"


def _describe_sub(sub: LmsSubscription) -> str:
    return f"{sub.event_type} subscription {sub.id} {sub.status} → {sub.url}"


def _show(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def enabled_states(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, bool]:
    """Whether each service's subscriptions are in place and enabled, for the services that
    could be read (issue 14's "webhook subscription disabled"); nothing when [webhooks] is not
    configured. The same verdicts as ``webhooks status`` and ``check``."""
    if settings.webhooks is None:
        return {}
    target = target_of(settings)
    secrets = load_webhook_secrets(settings, environ)
    with open_webhook_clients(settings, environ) as (personio, lms):
        p_state = inspect_personio(personio, target)
        l_state = inspect_learning360(lms, target, secrets.learning360_secrets)
    found = {"personio": (p_state.error, p_state.verdict(target, token_set=bool(secrets.personio_tokens))),
             "360learning": (l_state.error, l_state.verdict(target))}
    return {name: verdict.ok for name, (error, verdict) in found.items() if error is None}
