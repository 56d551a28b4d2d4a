"""Notifications observe runs; runs do not know about notifications (STYLE §7.11, issue 14).

Whoever finishes a run (the CLI's ``sync``, the schedule, the admin page's Run now) hands its
report to ``observe``; ``watch_feed`` looks at the change feed between runs; ``observe_webhooks``
takes what ``personio360 webhooks status`` found. Each logs one structured line per run and per
failure, decides what to send (``alerts``), sends it through Apprise and keeps the state in the
store. Nothing here raises into a run: a target that is down, a missing ``${NAME}``, even a bug,
is logged and recorded as a failed notification, shown on the admin page.
"""

from __future__ import annotations

__all__ = ["Delivery", "TargetResult", "observe", "observe_webhooks", "send_test", "targets_of",
           "watch_feed"]

import datetime as dt
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from urllib.parse import quote

import structlog

from personio360.config import Settings, load_notify_urls
from personio360.errors import ConfigError, Personio360Error
from personio360.http.redact import redact, register_secret
from personio360.notify.alerts import (
    Observation,
    decide,
    feed_observation,
    run_observation,
    webhook_observation,
    without_emails,
)
from personio360.notify.targets import Delivery, Sender, TargetResult, apprise_sender, mask
from personio360.store import Store
from personio360.sync.report import Outcome, RunReport

log = structlog.get_logger("personio360.notify")
Clock = Callable[[], dt.datetime]
#: one observation at a time in this process (the schedule, Run now and the feed watch share a store)
_lock = threading.Lock()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def observe(settings: Settings, store: Store, report: RunReport, *, clock: Clock = _now,
            sender: Sender = apprise_sender, environ: Mapping[str, str] | None = None) -> None:
    """A run has ended: log it, and send what its problems (and the feed's) call for. Never raises."""
    try:
        run = store.runs.summary(report.run_id) if report.run_id is not None else None
        _log_run(report, run.kind if run else "full")
        now = clock()
        _apply(settings, store, run_observation(report, run), now, sender, environ)
        _apply(settings, store, feed_observation(settings, store.feed.status(), now), now, sender, environ)
    except Exception as exc:  # a notification never fails a run
        _failed_to_notify(settings, store, exc, clock)


def watch_feed(settings: Settings, store: Store, *, clock: Clock = _now,
               sender: Sender = apprise_sender, environ: Mapping[str, str] | None = None) -> None:
    """Between runs: is the change feed lagging (R17, ``[notify] lag_after``)? Never raises."""
    try:
        _apply(settings, store, feed_observation(settings, store.feed.status(), clock()), clock(), sender,
               environ)
    except Exception as exc:
        _failed_to_notify(settings, store, exc, clock)


def observe_webhooks(settings: Settings, store: Store, subscriptions: Mapping[str, bool], *,
                     clock: Clock = _now, sender: Sender = apprise_sender,
                     environ: Mapping[str, str] | None = None) -> None:
    """What ``webhooks status`` found: each subscription by name (``personio``, ``360learning``)
    and whether it is enabled; a disabled one is notified once, reminded, and cleared. Never raises."""
    try:
        _apply(settings, store, webhook_observation(subscriptions), clock(), sender, environ)
    except Exception as exc:
        _failed_to_notify(settings, store, exc, clock)


def targets_of(settings: Settings) -> list[str]:
    """The configured targets as a page or a log may show them: scheme and host only."""
    return [mask(url) for url in settings.notify.urls]


def send_test(settings: Settings, store: Store, *, sender: Sender = apprise_sender,
              environ: Mapping[str, str] | None = None, clock: Clock = _now) -> list[TargetResult]:
    """``notify test`` and the admin page's Send test: one message to every target, each result.

    Raises ``ConfigError`` when no target is configured or a ``${NAME}`` is not set."""
    if not settings.notify.urls:
        raise ConfigError("no notification target is configured",
                          hint='add urls = ["mailtos://...", "slack://..."] to [notify] in the config '
                          "(see the README: Notifications)")
    urls = _urls(settings, environ)
    now = clock()
    delivery = Delivery(f"personio360 ({settings.environment}): test notification",
                        "This is a test message from personio360: this target receives its notifications "
                        f"(runs failed or stopped, deletions held back, employees skipped, the change feed "
                        f"lagging, recovery).\n\nenvironment: {settings.environment}", failure=False)
    results = sender(urls, delivery)
    _record(store, "test", "test", delivery, results, now, None)
    for result in results:
        log.info("notification test", target=result.target, ok=result.ok, error=result.error)
    return results


def _apply(settings: Settings, store: Store, seen: Observation, now: dt.datetime, sender: Sender,
           environ: Mapping[str, str] | None) -> None:
    with _lock:
        steps = decide(settings, store.notices.open_problems(), seen, now)
        urls: list[str] | None = None
        for step in steps:
            notice = step.notice
            if step.delivery is not None and settings.notify.urls:
                if urls is None:
                    urls = _urls(settings, environ)
                results = sender(urls, step.delivery)
                _record(store, step.kind, step.phase, step.delivery, results, now, step.run_id)
                if notice is not None and step.phase == "started" and not any(r.ok for r in results):
                    notice = replace(notice, last_sent_at=None)  # tried again at the next look
            if notice is None:
                store.notices.close(step.key)
            else:
                store.notices.save(notice)


def _urls(settings: Settings, environ: Mapping[str, str] | None) -> list[str]:
    targets = load_notify_urls(settings, environ)
    for target in targets:
        register_secret(target.url.get_secret_value())
        for secret in target.secrets:
            register_secret(secret.get_secret_value())
            register_secret(quote(secret.get_secret_value(), safe=""))  # as it stands in the URL
    return [t.url.get_secret_value() for t in targets]


def _record(store: Store, kind: str, phase: str, delivery: Delivery, results: list[TargetResult],
            now: dt.datetime, run_id: int | None) -> None:
    failures = [(r.target, r.error or "not delivered") for r in results if not r.ok]
    store.notices.record(at=now, kind=kind, phase=phase, title=delivery.title, body=delivery.body,
                         targets=len(results), failures=failures, run_id=run_id)
    for target, error in failures:
        log.warning("notification failed", kind=kind, phase=phase, target=target, error=error)
    if len(failures) < len(results):
        log.info("notification sent", kind=kind, phase=phase, targets=len(results) - len(failures))


def _failed_to_notify(settings: Settings, store: Store, exc: Exception, clock: Clock) -> None:
    """Recorded (the admin page shows it) and logged; never raised into the run."""
    reason = redact(str(exc)) + (f" (fix: {redact(exc.hint)})" if isinstance(exc, Personio360Error)
                                 and exc.hint else "")
    if not isinstance(exc, Personio360Error):
        reason = f"{type(exc).__name__}: {reason}"
    log.error("notifications failed", error=reason)
    if not settings.notify.urls:
        return
    try:
        store.notices.record(at=clock(), kind="error", phase="error", title="notifications could not be sent",
                             body=reason, targets=len(settings.notify.urls),
                             failures=[(t, reason) for t in targets_of(settings)])
    except Exception as again:  # the store itself is down: the log line is all there is
        log.error("notification failure not recorded", error=redact(str(again)))


def _log_run(report: RunReport, kind: str) -> None:
    """One structured line per run, and one per failure (R15 errors, a stopped run)."""
    fields = {"run_id": report.run_id, "kind": kind, "outcome": report.outcome.value,
              "duration_s": round(report.duration, 3), "planned": report.planned,
              "applied": sum(report.applied.values()), "failed": sum(report.failed.values()),
              "errors": len(report.errors), "held_back": len(report.held_back)}
    if report.outcome in (Outcome.FAILED, Outcome.STOPPED):
        log.warning("run ended", **fields, message=report.message, hint=report.hint)
    elif report.outcome is Outcome.COMPLETED:
        log.info("run ended", **fields)
    else:
        log.warning("run ended", **fields, message=report.message)
    for error in report.errors:
        log.warning("employee skipped", run_id=report.run_id, employee_id=error.employee_id,
                    code=error.code, reason=without_emails(error.message))

