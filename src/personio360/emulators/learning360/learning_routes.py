"""The emulated learning endpoints (R18): paths, courses and their statistics.

``GET /paths/stats`` (2,000 a page) and ``GET /courses/stats`` (500 a page) with the
documented filters (``360learning-webhooks.md`` §2): ``completedAt[lt|gte]`` (its
milliseconds "are always set to 0"), ``pathId``/``courseId`` and ``userId`` (``eq``, ``ne``,
``in``, ``nin``) and, for paths, the path's ``status[eq]``; ``GET /paths``, ``/courses`` and
one of each by id, for ``check``. A statistic without ``completedAt`` never passes a
``completedAt`` filter (a comparison with nothing is false).
"""

from __future__ import annotations

__all__ = ["LEARNING_ROUTES", "course_stat_dto", "learning_control", "path_stat_dto"]

import datetime as dt
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from personio360.emulators.learning360.errors import StateError
from personio360.emulators.learning360.learning import (
    CourseRecord,
    CourseStat,
    PathRecord,
    PathStat,
)
from personio360.emulators.learning360.routes import Call, Route, Services, _listing, _object_id
from personio360.emulators.learning360.state import Learning360State, iso

_IDS = frozenset({"eq", "ne", "in", "nin"})
_DATES = frozenset({"lt", "gte"})


def path_stat_dto(stat: PathStat) -> dict[str, Any]:
    """``PathSessionUserStatDTO``: optional dates left out while unset."""
    status: dict[str, str] = {"type": stat.status}
    if stat.reason:
        status["reason"] = stat.reason
    dto: dict[str, Any] = {"_id": stat.id, "userId": stat.user_id, "pathId": stat.path_id,
                           "sessionId": stat.session_id, "progress": stat.progress,
                           "status": status, "timeSpent": stat.time_spent,
                           "enrolledAt": stat.enrolled_at, "selfEnrolled": False}
    for key, value in (("score", stat.score), ("startedAt", stat.started_at),
                       ("completedAt", stat.completed_at)):
        if value is not None:
            dto[key] = value
    return dto


def course_stat_dto(stat: CourseStat) -> dict[str, Any]:
    """``CourseStatDTO``."""
    dto: dict[str, Any] = {"_id": stat.id, "userId": stat.user_id, "courseId": stat.course_id,
                           "progress": stat.progress, "timeSpent": stat.time_spent,
                           "lang": stat.lang}
    for key, value in (("score", stat.score), ("firstActivityAt", stat.first_activity_at),
                       ("lastActivityAt", stat.last_activity_at),
                       ("completedAt", stat.completed_at)):
        if value is not None:
            dto[key] = value
    return dto


_OPTIONS = {"linearProgression": False, "mandatoryReplay": False, "displayForum": True,
            "displayClassroomMessages": False, "automatedReminders": True,
            "notificationOnStepCreation": False}


def _path_dto(path: PathRecord) -> dict[str, Any]:
    """``PathDTO`` (no steps, one English translation: the emulator does not model content)."""
    return {"_id": path.id, "name": path.name, "status": path.status, "createdAt": path.created_at,
            "modifiedAt": path.created_at, "authorId": path.author_id, "groupId": path.group_id,
            "coAuthorIds": [], "defaultLang": "en", "sourceLang": "en", "options": _OPTIONS,
            "steps": [], "translations": []}


def _course_dto(course: CourseRecord) -> dict[str, Any]:
    """``CourseDTO`` of a native course."""
    return {"_id": course.id, "name": course.name, "status": course.status,
            "createdAt": course.created_at, "modifiedAt": course.created_at,
            "authorId": course.author_id, "groupId": course.group_id, "coAuthorIds": [],
            "defaultLang": "en", "sourceLang": "en", "translations": [], "type": "native"}


def _whole_seconds(call: Call) -> Call:
    """``completedAt`` filters as the API reads them: "The milliseconds are always set to 0"."""
    return _Requery(call.request, call.params, call.body, tuple(
        (key, _second(value) if key.startswith("completedAt[") else value)
        for key, value in call.query))


@dataclass(frozen=True)
class _Requery(Call):
    """The same call with its query rewritten."""

    rewritten: tuple[tuple[str, str], ...] = ()

    @property
    def query(self) -> list[tuple[str, str]]:
        return list(self.rewritten)


def _second(value: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise StateError("invalidRequest", f"{value!r} is not a date (YYYY-MM-DDThh:mm:ss.sssZ)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def path_stats(s: Services, c: Call) -> Response:
    learning = s.state.learning
    statuses = {p.id: p.status for p in learning.paths()}
    return _stats(s, _whole_seconds(c), learning.path_stats(), "path_stats", path_stat_dto,
                  lambda st: {"userId": st.user_id, "pathId": st.path_id,
                              "completedAt": st.completed_at, "status": statuses.get(st.path_id)},
                  {"userId": _IDS, "pathId": _IDS, "completedAt": _DATES,
                   "status": frozenset({"eq"})})


def course_stats(s: Services, c: Call) -> Response:
    return _stats(s, _whole_seconds(c), s.state.learning.course_stats(), "course_stats",
                  course_stat_dto,
                  lambda st: {"userId": st.user_id, "courseId": st.course_id,
                              "completedAt": st.completed_at},
                  {"userId": _IDS, "courseId": _IDS, "completedAt": _DATES})


def _stats(s: Services, c: Call, items: list[Any], size: str, render: Any, fields: Any,
           allowed: dict[str, frozenset[str]]) -> Response:
    return _listing(s, c, items, size=size, key=lambda st: (st.id,), render=render, fields=fields,
                    allowed=allowed)


def list_paths(s: Services, c: Call) -> Response:
    return _listing(s, c, s.state.learning.paths(), size="paths", key=lambda p: (p.id,),
                    render=_path_dto, fields=lambda p: {"status": p.status},
                    allowed={"status": frozenset({"eq"})})


def get_path(s: Services, c: Call) -> Response:
    path_id = _object_id(c.params["pathId"], "pathNotFound")
    return JSONResponse(_path_dto(s.state.learning.path(path_id)))


def list_courses(s: Services, c: Call) -> Response:
    return _listing(s, c, s.state.learning.courses(), size="courses", key=lambda p: (p.id,),
                    render=_course_dto, fields=lambda p: {"status": p.status},
                    allowed={"status": frozenset({"eq"})})


def get_course(s: Services, c: Call) -> Response:
    course_id = _object_id(c.params["courseId"], "courseNotFound")
    return JSONResponse(_course_dto(s.state.learning.course(course_id)))


#: Before the core routes: ``/paths/stats`` is not a ``/paths/{pathId}``.
LEARNING_ROUTES = [
    Route("GET", "/api/v2/paths/stats", "pathStats:read", path_stats),
    Route("GET", "/api/v2/courses/stats", "courseStats:read", course_stats),
    Route("GET", "/api/v2/paths", "paths:read", list_paths),
    Route("GET", "/api/v2/paths/{pathId}", "paths:read", get_path),
    Route("GET", "/api/v2/courses", "courses:read", list_courses),
    Route("GET", "/api/v2/courses/{courseId}", "courses:read", get_course),
]


def learning_control(state: Learning360State, method: str, parts: list[str],
                     payload: Any) -> Response | None:
    """The control surface's learning part (``/_emulator/paths``, ``/_emulator/courses``):
    add a path or course, mark a user's completion; ``None`` when the path is not one of these.

    ``POST /_emulator/paths/{pathId}/completions`` with ``{"userId", "status"?, "score"?,
    "completedAt"?}`` (status ``successful`` by default, ``completedAt`` now by default);
    ``POST /_emulator/courses/{courseId}/completions`` with ``{"userId", "score"?, "completedAt"?}``.
    """
    learning = state.learning
    match method, parts:
        case "POST", ["paths"]:
            path = learning.add_path(str(payload["name"]), status=payload.get("status", "published"))
            return JSONResponse(_path_dto(path), 201)
        case "POST", ["courses"]:
            course = learning.add_course(str(payload["name"]))
            return JSONResponse(_course_dto(course), 201)
        case "POST", ["paths", path_id, "completions"]:
            stat = learning.complete_path(path_id, str(payload["userId"]),
                                          status=payload.get("status", "successful"),
                                          score=payload.get("score"),
                                          completed_at=_stamp(payload.get("completedAt")))
            return JSONResponse(path_stat_dto(stat), 201)
        case "POST", ["courses", course_id, "completions"]:
            attempt = learning.complete_course(course_id, str(payload["userId"]),
                                               score=payload.get("score"),
                                               completed_at=_stamp(payload.get("completedAt")))
            return JSONResponse(course_stat_dto(attempt), 201)
        case "GET", ["paths", path_id, "stats"]:
            return JSONResponse([path_stat_dto(st) for st in learning.path_stats() if st.path_id == path_id])
    return None


def _stamp(value: object) -> str | None:
    """A completion date given to the control surface, in the API's own format."""
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return iso(moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC))
