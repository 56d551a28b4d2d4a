"""360Learning API v2 payloads as pydantic models, with the API's field names as aliases.

Each model validates one success body (tolerant reader: unknown fields are ignored, fields we
do not use are optional) and converts itself to the shared ``personio360.domain`` type with
``to_domain``. Request bodies are built by the ``*_body`` functions at the bottom. Sources:
``shared/api/360learning-core-api.openapi.json`` and ``360learning-bulk-api.openapi.json``.
"""

from __future__ import annotations

__all__ = [
    "BULK_STATUSES",
    "BulkOperation",
    "BulkResult",
    "CourseStat",
    "CustomField",
    "CustomValue",
    "ErrorBody",
    "ErrorDetail",
    "ExternalId",
    "Group",
    "GroupMember",
    "LearningItem",
    "PathStat",
    "Token",
    "User",
    "UserMembership",
    "custom_values_body",
    "membership_items",
    "new_user_body",
    "user_changes_body",
]

import functools
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from personio360 import domain


class _Wire(BaseModel):
    """Base of every payload model: camelCase aliases, unknown fields ignored, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


# --- auth and errors --------------------------------------------------------------------


class Token(BaseModel):
    """``GenerateTokenResponse``: ``expires_in`` is a number in the schema but the string
    ``"3600"`` in its example and in the guide, so both are accepted (lax float)."""

    model_config = ConfigDict(extra="ignore", frozen=True)  # snake_case on the wire, no aliases

    access_token: str = Field(min_length=1)
    token_type: str = "Bearer"
    expires_in: float = Field(gt=0)


class ErrorDetail(_Wire):
    """The object form of an error: ``{"code": "userNotFound", "message": "..."}``."""

    code: str = Field(min_length=1)
    message: str = ""


class ErrorBody(_Wire):
    """A documented error body: ``{"error": "invalid_token"}`` or ``{"error": {code, message}}``."""

    error: str | ErrorDetail


# --- users ------------------------------------------------------------------------------


class User(_Wire):
    """``UserDTO``; ``lang`` is required by the schema but unused here, so not enforced."""

    id: str = Field(alias="_id", min_length=1)
    status: str = Field(min_length=1)
    mail: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    job: str | None = None
    lang: str | None = None
    to_be_deactivated_at: str | None = None

    def to_domain(self) -> domain.LmsUser:
        """Names, job and status interned: they repeat across 100,000 users (SPEC §6)."""
        return domain.LmsUser(
            id=self.id,
            mail=self.mail,
            first_name=_interned(self.first_name),
            last_name=_interned(self.last_name),
            job=_interned(self.job),
            status=sys.intern(self.status),
            username=self.username,
            to_be_deactivated_at=self.to_be_deactivated_at,
        )


def new_user_body(new: domain.NewUser) -> dict[str, Any]:
    """``InputUserDTO``: strings are ``minLength: 1``, so empty and unset fields are left out."""
    body: dict[str, Any] = {
        "mail": new.mail,
        "membership": {"groupId": new.group_id, "role": new.role},
    }
    for key, value in (("firstName", new.first_name), ("lastName", new.last_name),
                       ("job", new.job)):
        if value:
            body[key] = value
    return body


def user_changes_body(changes: domain.UserChanges) -> dict[str, Any]:
    """``UpdateUserDTO`` (merge patch): unset fields are left out, ``CLEAR`` becomes ``null``."""
    pairs = (
        ("mail", changes.mail),
        ("firstName", changes.first_name),
        ("lastName", changes.last_name),
        ("job", changes.job),
        ("toBeDeactivatedAt", changes.to_be_deactivated_at),
    )
    return {
        key: (None if value == domain.UserChanges.CLEAR else value)
        for key, value in pairs
        if value is not None
    }


# --- external ids -----------------------------------------------------------------------


class ExternalId(_Wire):
    """``ExternalIdDTO``: one ID mapping (note ``targetType`` ``user``, singular)."""

    id: str = Field(alias="_id", min_length=1)
    platform: str
    target_type: str
    target_id: str
    value: str

    def to_domain(self) -> domain.ExternalId:
        return domain.ExternalId(
            id=self.id, platform=self.platform, target_type=self.target_type,
            target_id=self.target_id, value=self.value,
        )


# --- learning (R18) ---------------------------------------------------------------------


class _PathStatus(_Wire):
    """``status`` of a path statistic: ``{type, reason?}``."""

    type: str = Field(min_length=1)


class PathStat(_Wire):
    """``PathSessionUserStatDTO``: a user's enrolment in a path session."""

    id: str = Field(alias="_id", min_length=1)
    user_id: str = Field(min_length=1)
    path_id: str = Field(min_length=1)
    status: _PathStatus
    score: int | None = None
    completed_at: str | None = None

    def to_domain(self) -> domain.Completion:
        return domain.Completion("path", self.path_id, self.user_id, self.completed_at,
                                 self.status.type, self.score)


class CourseStat(_Wire):
    """``CourseStatDTO``: one attempt at a course."""

    id: str = Field(alias="_id", min_length=1)
    user_id: str = Field(min_length=1)
    course_id: str = Field(min_length=1)
    score: int | None = None
    completed_at: str | None = None

    def to_domain(self) -> domain.Completion:
        return domain.Completion("course", self.course_id, self.user_id, self.completed_at,
                                 None, self.score)


class LearningItem(_Wire):
    """The part of ``PathDTO`` / ``CourseDTO`` that ``check`` reads: the id and the name."""

    id: str = Field(alias="_id", min_length=1)
    name: str = ""
    status: str | None = None


# --- custom fields ----------------------------------------------------------------------


class CustomField(_Wire):
    """``CustomFieldDTO`` (note ``targetType`` ``users``, plural)."""

    id: str = Field(alias="_id", min_length=1)
    name: str
    target_type: str
    type: str

    def to_domain(self) -> domain.CustomField:
        return domain.CustomField(
            id=self.id, name=self.name, type=self.type, target_type=self.target_type
        )


class CustomValue(_Wire):
    """``CustomFieldValueDTO``; the value is a string either way (dates as ``YYYY-MM-DD``)."""

    custom_field_id: str
    type: str
    value: str

    def to_domain(self) -> domain.CustomValue:
        return _custom_value(self.custom_field_id, self.type, self.value)


@functools.lru_cache(maxsize=4096)
def _custom_value(custom_field_id: str, type_: str, value: str) -> domain.CustomValue:
    """One (immutable) ``CustomValue`` for each field and value: a department or a size is the
    value of thousands of users, each read on its own (SPEC §6's 100,000 employees)."""
    return domain.CustomValue(custom_field_id=custom_field_id, type=type_, value=value)


def _interned(text: str | None) -> str | None:
    return sys.intern(text) if type(text) is str else text


def custom_values_body(values: Sequence[domain.CustomValue]) -> dict[str, Any]:
    """``UpdateUserCustomFieldValuesBody``: the whole list, which replaces the user's values."""
    return {
        "customValues": [
            {"customFieldId": v.custom_field_id, "type": v.type, "value": v.value}
            for v in values
        ]
    }


# --- groups and memberships -------------------------------------------------------------


class Group(_Wire):
    """``GroupDTO``: ``parentId`` is absent on the root group."""

    id: str = Field(alias="_id", min_length=1)
    name: str
    parent_id: str | None = None
    public: bool | None = None

    def to_domain(self) -> domain.Group:
        return domain.Group(
            id=self.id, name=self.name, parent_id=self.parent_id, public=self.public
        )


class GroupMember(_Wire):
    """``UserRole``: one item of ``GET /groups/{groupId}/roles``."""

    user_id: str
    role: str

    def to_domain(self, group_id: str) -> domain.GroupRole:
        return domain.GroupRole(group_id=group_id, user_id=self.user_id, role=self.role)


class UserMembership(_Wire):
    """``Membership``: one item of ``GET /users/{userId}/roles``."""

    group_id: str
    role: str

    def to_domain(self, user_id: str) -> domain.GroupRole:
        return domain.GroupRole(group_id=self.group_id, user_id=user_id, role=self.role)


# --- bulk -------------------------------------------------------------------------------

#: The API's operation statuses -> the domain's (``BulkOperation.done`` knows ``errored``).
BULK_STATUSES = {
    "pending": "pending",
    "queued": "queued",
    "running": "running",
    "completed": "completed",
    "error": "errored",
}


def membership_items(items: Sequence[domain.BulkMembership]) -> dict[str, Any]:
    """``AddUsersToGroupsBody`` / ``RemoveUsersFromGroupsBody``."""
    return {
        "input": [
            {"userId": item.user_id, "groupId": item.group_id, "role": item.role}
            for item in items
        ]
    }


class BulkOperation(_Wire):
    """``Pending|Queued|Running|Completed|ErroredOperationDTO``, told apart by ``status``."""

    id: str = Field(alias="_id", min_length=1)
    status: str
    type: str | None = None
    error_message: str | None = None

    def to_domain(self, results: tuple[domain.BulkResult, ...] = ()) -> domain.BulkOperation:
        status = BULK_STATUSES.get(self.status, self.status)
        return domain.BulkOperation(id=self.id, status=status, results=results)


class BulkResult(_Wire):
    """``SuccessResultDTO | ErrorResultDTO``; results come in input order, so the position
    is the item's index. The API gives no error code, only ``errorMessage``."""

    input: dict[str, Any] = Field(default_factory=dict)
    status: str
    resource_id: str | None = None
    error_message: str | None = None

    def to_domain(self, index: int) -> domain.BulkResult:
        ok = self.status == "success"
        return domain.BulkResult(
            index=index,
            ok=ok,
            error=None if ok else self.status,
            message=None if ok else self.error_message,
        )
