"""360Learning emulator learning state: paths, courses and who completed them, no HTTP (R18).

What ``GET /paths/stats`` and ``GET /courses/stats`` list (``360learning-webhooks.md`` §2,
``PathSessionUserStatDTO`` and ``CourseStatDTO`` of the core OpenAPI): one path statistic per
user's enrolment in a path session (completing again updates the same enrolment) and one
course statistic per course *attempt* (completing a course again is a new attempt). Every
path has one session here; the documents do not say how many a real path has.

A completion is the learner's own doing, so it always emits its webhook event (R18), API or
not: ``path.session.user.status.updated`` (``UserPathSessionStatusUpdatedDTO``) when a path
enrolment's status changes, ``course.attempt.closed`` (``AttemptClosedDTO``, reason
``learnerFinished``) for a finished course attempt. The listeners (``webhooks.py``) turn them
into deliveries.
"""

from __future__ import annotations

__all__ = ["PATH_STATUSES", "CourseRecord", "CourseStat", "LearningListener", "LearningState", "PathRecord",
           "PathStat"]

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from personio360.emulators.learning360.errors import StateError

#: ``PathSessionUserStatDTO.status.type`` (the eight documented statuses).
PATH_STATUSES = ("awaitingCorrection", "late", "notYetStarted", "onTime", "sessionNotOpened",
                 "successful", "toRetake", "unsuccessful")
#: ``status.reason`` where the document gives one.
_REASONS = {"unsuccessful": "sessionEnded", "toRetake": "mandatoryReplay"}

#: Called after a completion: (event type, the event's ``data``).
LearningListener = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class PathRecord:
    id: str
    name: str
    session_id: str
    created_at: str
    status: str = "published"
    author_id: str = ""
    group_id: str = ""


@dataclass(frozen=True, slots=True)
class CourseRecord:
    id: str
    name: str
    created_at: str
    status: str = "published"
    author_id: str = ""
    group_id: str = ""


@dataclass(frozen=True, slots=True)
class PathStat:
    """One user's enrolment in a path's session."""

    id: str
    user_id: str
    path_id: str
    session_id: str
    enrolled_at: str
    status: str = "notYetStarted"
    progress: int = 0
    score: int | None = None
    time_spent: int = 0
    started_at: str | None = None
    completed_at: str | None = None

    @property
    def reason(self) -> str | None:
        return _REASONS.get(self.status)


@dataclass(frozen=True, slots=True)
class CourseStat:
    """One attempt of one user at a course."""

    id: str
    user_id: str
    course_id: str
    progress: int = 0
    score: int | None = None
    time_spent: int = 0
    first_activity_at: str | None = None
    last_activity_at: str | None = None
    completed_at: str | None = None
    lang: str = "en"


class LearningState:
    """Paths, courses and their statistics behind one lock.

    Invariants: a statistic names an existing path or course and an existing user; one path
    statistic per (user, session); scores and progress are percentages (0-100); a completion
    date is set exactly when a statistic is completed.
    """

    def __init__(self, new_id: Callable[[], str], now: Callable[[], str],
                 user_exists: Callable[[str], bool],
                 owner: Callable[[], tuple[str, str]] = lambda: ("", "")) -> None:
        """``owner``: the default author and owner group of new paths and courses."""
        self._lock = threading.RLock()
        self._owner = owner
        self._new_id, self._now, self._user_exists = new_id, now, user_exists
        self._paths: dict[str, PathRecord] = {}
        self._courses: dict[str, CourseRecord] = {}
        self._path_stats: dict[tuple[str, str], PathStat] = {}
        self._course_stats: list[CourseStat] = []
        self._listeners: list[LearningListener] = []

    def subscribe(self, listener: LearningListener) -> None:
        """Call ``listener`` after every completion (webhook events)."""
        with self._lock:
            self._listeners.append(listener)

    def _notify(self, event_type: str, data: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            listener(event_type, data)

    # --- paths and courses ------------------------------------------------------------------

    def add_path(self, name: str, *, status: str = "published", author_id: str = "",
                 group_id: str = "") -> PathRecord:
        """A path (and its one session) by ``author_id``, owned by ``group_id``."""
        with self._lock:
            author, group = self._owner()
            path = PathRecord(self._new_id(), name, self._new_id(), self._now(), status,
                              author_id or author, group_id or group)
            self._paths[path.id] = path
            return path

    def add_course(self, name: str, *, status: str = "published", author_id: str = "",
                   group_id: str = "") -> CourseRecord:
        with self._lock:
            author, group = self._owner()
            course = CourseRecord(self._new_id(), name, self._now(), status, author_id or author,
                                  group_id or group)
            self._courses[course.id] = course
            return course

    def path(self, path_id: str) -> PathRecord:
        with self._lock:
            if path_id not in self._paths:
                raise StateError("pathNotFound")
            return self._paths[path_id]

    def course(self, course_id: str) -> CourseRecord:
        with self._lock:
            if course_id not in self._courses:
                raise StateError("courseNotFound")
            return self._courses[course_id]

    def paths(self) -> list[PathRecord]:
        with self._lock:
            return list(self._paths.values())

    def courses(self) -> list[CourseRecord]:
        with self._lock:
            return list(self._courses.values())

    # --- completions ------------------------------------------------------------------------

    def enroll(self, path_id: str, user_id: str) -> PathStat:
        """The user's enrolment in the path's session (made if missing), not yet started."""
        with self._lock:
            path = self.path(path_id)
            self._check_user(user_id)
            key = (user_id, path.session_id)
            if key not in self._path_stats:
                self._path_stats[key] = PathStat(self._new_id(), user_id, path_id, path.session_id,
                                                 enrolled_at=self._now())
            return self._path_stats[key]

    def complete_path(self, path_id: str, user_id: str, *, status: str = "successful",
                      score: int | None = None, completed_at: str | None = None) -> PathStat:
        """Mark the user's session of the path completed (again: the same enrolment, updated)."""
        if status not in PATH_STATUSES:
            raise StateError("invalidRequest", f"status must be one of {', '.join(PATH_STATUSES)}")
        _check_percent(score)
        with self._lock:
            stat = self.enroll(path_id, user_id)
            at = completed_at or self._now()
            done = replace(stat, status=status, progress=100, score=score, started_at=stat.started_at or at,
                           completed_at=at, time_spent=stat.time_spent + 600_000)
            self._path_stats[(user_id, stat.session_id)] = done
            if status != stat.status:  # "emitted once per status transition"
                self._notify("path.session.user.status.updated", {
                    "userId": user_id, "pathId": path_id, "sessionId": stat.session_id,
                    "enrollmentId": stat.id, "status": status, "updatedAt": self._now()})
            return done

    def complete_course(self, course_id: str, user_id: str, *, score: int | None = None,
                        completed_at: str | None = None) -> CourseStat:
        """A new completed attempt of the user at the course."""
        _check_percent(score)
        with self._lock:
            self.course(course_id)
            self._check_user(user_id)
            at = completed_at or self._now()
            attempt = CourseStat(self._new_id(), user_id, course_id, progress=100, score=score,
                                 time_spent=300_000, first_activity_at=at, last_activity_at=at,
                                 completed_at=at)
            self._course_stats.append(attempt)
            self._notify("course.attempt.closed", {
                "attemptId": attempt.id, "closedAt": at, "userId": user_id, "courseId": course_id,
                "reason": "learnerFinished", "context": {}})
            return attempt

    def path_stats(self) -> list[PathStat]:
        with self._lock:
            return list(self._path_stats.values())

    def course_stats(self) -> list[CourseStat]:
        with self._lock:
            return list(self._course_stats)

    def _check_user(self, user_id: str) -> None:
        if not self._user_exists(user_id):
            raise StateError("userNotFound")


def _check_percent(value: int | None) -> None:
    if value is not None and not (isinstance(value, int) and 0 <= value <= 100):
        raise StateError("invalidRequest", "score must be an integer between 0 and 100")
