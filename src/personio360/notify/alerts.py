"""What to say, and when (issue 14): the problems a run report or the change feed shows, and the
messages they call for, deduplicated against the problems already open. Pure: no I/O.

A problem is sent once when it starts, again at most every ``[notify] remind_every`` while it
lasts, and once when it clears; never once per run. Skipped employees (R15) are one problem
whose new members are sent as they appear: only those not reported before.
"""

from __future__ import annotations

__all__ = ["Observation", "Problem", "Step", "decide", "feed_observation", "run_observation",
           "webhook_observation", "without_emails"]

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from personio360.config import Settings, parse_duration
from personio360.notify.targets import Delivery
from personio360.store.events import FeedStatus
from personio360.store.notices import Notice
from personio360.store.runs import RunSummary
from personio360.sync.report import Outcome, RunReport

Phase = Literal["started", "reminder", "cleared"]
#: How many people a message lists by id (the rest are counted).
LISTED = 20
_EMAIL = re.compile(r"[^\s'\"<>()]+@[^\s'\"<>()]*")
_FAILED = (Outcome.FAILED, Outcome.STOPPED)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong now: ``what`` (one line, with how many people), the ``lines`` that list
    them, and the fix. ``subjects`` are its members (skipped employees as ``"<id>:<code>"``)."""

    key: str
    kind: str
    what: str
    hint: str | None
    lines: Mapping[str, str] | None = None
    run_id: int | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """What one look (a run's end, the feed's status) found: the problems, and which problem keys
    it is entitled to clear (a changes run cannot tell that a full sync's skips are fixed)."""

    problems: tuple[Problem, ...]
    covers: frozenset[str]
    #: members are added to what is open, never removed (a run over some employees only)
    partial: bool = False
    context: str = ""


@dataclass(frozen=True, slots=True)
class Step:
    """One thing to do: send ``delivery`` (``None``: the kind is not in ``[notify] on``) and keep
    ``notice`` as the problem's state (``None``: the problem is closed)."""

    phase: Phase
    kind: str
    key: str
    delivery: Delivery | None
    notice: Notice | None
    run_id: int | None = None


def run_observation(report: RunReport, run: RunSummary | None) -> Observation:
    """The problems of a finished run: failed or stopped (R13a, R10, an API), deletions held back
    (R13b), employees skipped (R15). Only a completed full sync of everyone clears the last two."""
    kind = run.kind if run is not None else "full"
    partial = kind != "full" or (run is not None and "--employee" in run.command)
    name = "full sync" if kind == "full" else f"{kind} run"
    where = f"the {name}" + (f" (run {report.run_id})" if report.run_id is not None else "")
    failed_key = f"run_failed:{kind}"
    if report.outcome in _FAILED:
        reason = without_emails(report.message or "no reason recorded")
        what = f"{where.capitalize()} {report.outcome.value}: {reason}"
        hint = report.hint or "run personio360 check to see what is wrong"
        return Observation((Problem(failed_key, "run_failed", what, hint, run_id=report.run_id),),
                           frozenset({failed_key}), partial=True, context=where)
    problems = []
    if report.held_back:
        count = len(report.held_back)
        lines = {f"{op.employee_id}": f"employee {op.employee_id}: {op.kind.replace('_', ' ')} held back"
                 for op in report.held_back[:LISTED]}
        problems.append(Problem(
            "deletions_held_back", "deletions_held_back",
            f"{count} deletion{_s(count)} held back by {where}: over safety.max_deletions (R13b)",
            report.hint or "review them, then run: personio360 sync --allow-deletions",
            lines=lines, run_id=report.run_id))
    skipped = {f"{e.employee_id}:{e.code}": ("" if e.employee_id is None else f"employee {e.employee_id}: ")
               + f"{e.code}: {without_emails(e.message)}" for e in report.errors}
    if skipped:
        problems.append(Problem("employees_skipped", "employees_skipped", where, _SKIP_FIX,
                                lines=skipped, run_id=report.run_id))
    covers = {failed_key} if partial else {failed_key, "deletions_held_back", "employees_skipped"}
    return Observation(tuple(problems), frozenset(covers), partial=partial, context=where)


_SKIP_FIX = ("correct each employee in Personio (or the value 360Learning refused); the next sync "
             "picks them up")


def feed_observation(settings: Settings, status: FeedStatus, now: dt.datetime) -> Observation:
    """R17's feed lagging: no successful poll, or an event waiting, for ``[notify] lag_after``.

    Only while changes are on; before the first poll there is nothing to lag behind."""
    if not settings.changes_on:
        return Observation((), frozenset({"feed_lagging"}))
    limit = parse_duration(settings.notify.lag_after)
    reasons = []
    polling = settings.changes_or_default.poll_interval is not None
    if polling and status.last_poll is not None and now - status.last_poll > limit:
        reasons.append(f"no successful poll of Personio since {_when(status.last_poll)}")
    lag = status.lag(now)
    if lag is not None and lag > limit:
        reasons.append(f"{status.waiting} event{_s(status.waiting)} waiting, the oldest since "
                       f"{_when(status.oldest_waiting)}")
    if not reasons:
        return Observation((), frozenset({"feed_lagging"}))
    what = f"The change feed is lagging (over {settings.notify.lag_after}): {'; '.join(reasons)}"
    hint = ("check that personio360 serve (or schedule) is running and that changes runs complete "
            "(personio360 runs); personio360 sync --changes runs one by hand")
    return Observation((Problem("feed_lagging", "feed_lagging", what, hint),), frozenset({"feed_lagging"}))


def webhook_observation(subscriptions: Mapping[str, bool]) -> Observation:
    """Webhook subscriptions by name (``personio``, ``360learning``) and whether each is enabled:
    a disabled one is a problem until it is enabled again (``personio360 webhooks status``)."""
    keys = {f"webhook_disabled:{name}" for name in subscriptions}
    problems = tuple(
        Problem(f"webhook_disabled:{name}", "webhook_disabled",
                f"The {name} webhook subscription is disabled: its changes now arrive only by polling "
                "and full syncs (R17)",
                "run personio360 webhooks status, then personio360 webhooks setup to enable it again")
        for name, enabled in sorted(subscriptions.items()) if not enabled)
    return Observation(problems, frozenset(keys))


def decide(settings: Settings, open_problems: Mapping[str, Notice], seen: Observation,
           now: dt.datetime) -> list[Step]:
    """The messages an observation calls for, and each problem's next state."""
    remind = parse_duration(settings.notify.remind_every)
    on = set(settings.notify.on)
    env = settings.environment
    steps: list[Step] = []
    for problem in seen.problems:
        old = open_problems.get(problem.key)
        members = tuple(sorted((problem.lines or {}).keys()))
        if old is None or old.last_sent_at is None:
            # new, or its first message reached no target: (again) as it starts
            fresh = members if old is None else tuple(m for m in members if m not in old.subjects) or members
            delivery = _started(env, problem, fresh) if problem.kind in on else None
            kept = members if not seen.partial or old is None else tuple(sorted({*old.subjects, *members}))
            notice = Notice(problem.key, problem.kind, old.opened_at if old else now, now, 0, kept,
                            _summary(problem, members), problem.run_id)
            steps.append(Step("started", problem.kind, problem.key, delivery, notice, problem.run_id))
            continue
        kept = tuple(sorted({*old.subjects, *members})) if seen.partial else members
        new = tuple(m for m in members if m not in old.subjects)
        if problem.kind == "employees_skipped" and new:
            delivery = _started(env, problem, new) if problem.kind in on else None
            notice = replace(old, last_sent_at=now, subjects=kept, summary=_summary(problem, kept),
                             run_id=problem.run_id)
            steps.append(Step("started", problem.kind, problem.key, delivery, notice, problem.run_id))
        elif now - old.last_sent_at >= remind:
            delivery = _reminder(env, problem, old, kept, now) if problem.kind in on else None
            notice = replace(old, last_sent_at=now, reminders=old.reminders + 1, subjects=kept,
                             summary=_summary(problem, kept), run_id=problem.run_id)
            steps.append(Step("reminder", problem.kind, problem.key, delivery, notice, problem.run_id))
        elif kept != old.subjects:
            notice = replace(old, subjects=kept, summary=_summary(problem, kept))
            steps.append(Step("reminder", problem.kind, problem.key, None, notice, problem.run_id))
    current = {p.key for p in seen.problems}
    for key in sorted(seen.covers - current):
        old = open_problems.get(key)
        if old is None:
            continue
        kind = "recovered" if old.kind == "run_failed" else old.kind
        delivery = _cleared(env, old, seen.context, now) if kind in on else None
        steps.append(Step("cleared", kind, key, delivery, None))
    return steps


def _started(env: str, problem: Problem, members: Iterable[str]) -> Delivery:
    chosen = list(members)
    if problem.kind == "employees_skipped":
        count = len(chosen)
        title = f"{count} employee{_s(count)} newly skipped"
        what = f"{count} employee{_s(count)} newly skipped by {problem.what} (R15):"
    else:
        title, what = _title(problem), problem.what
    return Delivery(f"personio360 ({env}): {title}", _body(what, problem, chosen, env))


def _reminder(env: str, problem: Problem, old: Notice, members: tuple[str, ...],
              now: dt.datetime) -> Delivery:
    since = f"since {_when(old.opened_at)} ({_ago(now - old.opened_at)})"
    if problem.kind == "employees_skipped":
        count = len(members)
        title = f"still {count} employee{_s(count)} skipped"
        what = f"Still {count} employee{_s(count)} skipped, {since}; latest: {problem.what} (R15):"
    else:
        title, what = f"still: {_title(problem)}", f"Still, {since}: {problem.what}"
    return Delivery(f"personio360 ({env}): {title}", _body(what, problem, members, env))


def _cleared(env: str, old: Notice, context: str, now: dt.datetime) -> Delivery:
    lasted = _ago(now - old.opened_at)
    by = f" by {context}" if context else ""
    text = {
        "run_failed": f"Recovered: the first good run after a failure{by}; the failure lasted {lasted}.",
        "deletions_held_back": f"Resolved: no deletion is held back any more{by} (held back for {lasted}).",
        "employees_skipped": f"Resolved: no employee is skipped any more{by} (for {lasted}).",
        "feed_lagging": f"Resolved: the change feed caught up (it lagged for {lasted}).",
        "webhook_disabled": f"Resolved: the webhook subscription is enabled again (after {lasted}).",
    }.get(old.kind, f"Resolved{by}.")
    title = "recovered" if old.kind == "run_failed" else f"resolved: {old.kind.replace('_', ' ')}"
    body = f"{text}\nIt was: {old.summary}\n\nenvironment: {env} · {_when(now)}"
    return Delivery(f"personio360 ({env}): {title}", body, failure=False)


def _title(problem: Problem) -> str:
    return {"run_failed": "a run failed or stopped", "deletions_held_back": "deletions held back",
            "feed_lagging": "the change feed is lagging",
            "webhook_disabled": "a webhook subscription is disabled"}.get(problem.kind, problem.kind)


def _body(what: str, problem: Problem, members: list[str] | tuple[str, ...], env: str) -> str:
    lines = [what]
    listed = [problem.lines[m] for m in members if problem.lines and m in problem.lines]
    lines += [f"- {line}" for line in listed[:LISTED]]
    if len(listed) > LISTED:
        lines.append(f"- and {len(listed) - LISTED} more (personio360 runs show {problem.run_id})")
    if problem.hint:
        lines.append(f"fix: {problem.hint}")
    run = f" · run {problem.run_id}" if problem.run_id is not None else ""
    lines += ["", f"environment: {env}{run}"]
    return "\n".join(lines)


def _summary(problem: Problem, members: tuple[str, ...]) -> str:
    if problem.kind == "employees_skipped":
        return f"{len(members)} employee{_s(len(members))} skipped (latest: {problem.what})"
    return problem.what


def without_emails(text: str) -> str:
    """No more personal data than an id and the reason: email addresses are left out."""
    return _EMAIL.sub("(email)", text)


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _ago(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"
