"""Request bodies the emulator accepts, as the OpenAPI schemas declare them (API names).

Unknown properties are refused (``extra="forbid"``), like the token endpoint's documented
"only the expected properties with the correct types": a client sending anything
undocumented learns it here rather than in production.
"""

from __future__ import annotations

__all__ = [
    "BulkItem", "CustomValues", "InputCustomField", "InputExternalId", "InputSubscription",
    "InputUser", "PatchSubscription", "RetryEvents", "TokenBody", "UpdateCustomField",
    "UpdateUser", "problems",
]

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

ObjectId = Annotated[str, StringConstraints(pattern=r"^[a-fA-F0-9]{24}$", strict=True)]
Text = Annotated[str, StringConstraints(min_length=1, strict=True)]
Lang = Literal["bg", "cs", "da", "de", "el", "en", "es", "fi", "fr", "hr", "ht_HT", "hu", "id",
               "it", "ja", "kar_MM", "ko", "lt", "mh_MH", "nl", "nl_BE", "no", "pl", "pt", "ro",
               "ru", "rw_RW", "sk", "sl", "so_SO", "sv", "sw_KE", "th", "ti_ET", "tr", "uk",
               "zh", "vi"]
BodyRole = Literal["admin", "analyst", "editor", "coach", "contributor", "learner", "userAdmin"]
TargetType = Literal["attempt", "classroom", "classroomAttendance", "classroomAttendanceSheet",
                     "classroomSlot", "classroomSlotRegistration", "course", "group",
                     "learningNeed", "path", "pathEnrollment", "pathSession", "pathTracking",
                     "registrationRequest", "user"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TokenBody(_Body):
    """``GenerateTokenBody``."""

    grant_type: str
    client_id: str
    client_secret: str
    user_id: ObjectId | None = None
    company_id: ObjectId | None = None


class Membership(_Body):
    """``MembershipDTO``: the new user's one initial group and role."""

    groupId: ObjectId
    role: BodyRole


class InputUser(_Body):
    """``InputUserDTO``."""

    membership: Membership
    mail: Text | None = None
    username: Text | None = None
    primaryGroupId: ObjectId | None = None
    custom: Text | None = None
    firstName: Text | None = None
    lastName: Text | None = None
    job: Text | None = None
    lang: Lang | None = None
    organization: Text | None = None
    phone: Text | None = None
    toBeDeactivatedAt: Text | None = None


class UpdateUser(_Body):
    """``UpdateUserDTO``: every field nullable except ``lang``; ``null`` clears."""

    firstName: Text | None = None
    lastName: Text | None = None
    phone: Text | None = None
    job: Text | None = None
    organization: Text | None = None
    custom: Text | None = None
    lang: Lang | None = None
    toBeDeactivatedAt: Text | None = None
    mail: Text | None = None
    primaryGroupId: ObjectId | None = None
    username: Text | None = None
    profileImageId: ObjectId | None = None


class InputCustomField(_Body):
    """``InputCustomFieldDTO``."""

    name: str
    targetType: Literal["users", "contents"]
    type: Literal["string", "date"]


class UpdateCustomField(_Body):
    """``UpdateCustomFieldBody``."""

    name: str


class CustomValue(_Body):
    """``CustomFieldValueDTO``."""

    customFieldId: ObjectId
    type: Literal["string", "date"]
    value: Text


class CustomValues(_Body):
    """``UpdateUserCustomFieldValuesBody`` (at most 300 values)."""

    customValues: Annotated[list[CustomValue], Field(max_length=300)]


class InputExternalId(_Body):
    """``InputExternalIdDTO``."""

    platform: Text
    targetId: ObjectId
    targetType: TargetType
    value: Text


class BulkItem(_Body):
    """``MembershipAdditionDTO`` / ``MembershipDeletionDTO``."""

    userId: ObjectId
    groupId: ObjectId
    role: BodyRole


class InputSubscription(_Body):
    """``BaseSubscriptionDTO`` (webhook API); the event type is checked against its enum."""

    eventType: Text
    name: Text
    url: Text


class PatchSubscription(_Body):
    """``PatchSubscriptionDTO``: a merge."""

    name: Text | None = None
    status: Literal["active", "inactive"] | None = None
    url: Text | None = None


class RetryEvents(_Body):
    """``RetryEventsDTO``: ``YYYY-MM-DDThh:mm:ss.sssZ`` date-times."""

    startDate: Annotated[str, StringConstraints(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$", strict=True)]
    endDate: Annotated[str, StringConstraints(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$", strict=True)]


def problems(error: ValidationError) -> str:
    """Where the body is wrong, without echoing any value (it may hold a secret)."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
                     for e in error.errors(include_input=False, include_url=False))
