"""360Learning's error codes, messages, statuses and bodies, as the OpenAPI documents them.

Business errors are ``{"error": {"code", "message"}}``; auth and rate errors are flat
``{"error": "invalid_token" | "invalid_client" | "tooManyRequests"}`` (360learning.md,
"Essentials"). Messages are the documents' own descriptions of each code.
"""

from __future__ import annotations

__all__ = ["MESSAGES", "StateError", "error_body", "fault_body", "flat_body", "status_of"]

import json

#: Each code's description in ``360learning-core-api`` / ``360learning-bulk-api``.
MESSAGES: dict[str, str] = {
    "analystUnavailable": "The `analyst` group role is not available in this company.",
    "bulkAPIDisabled": "The bulk API is temporarily disabled.",
    "bulkOperationNotFound":
        "The given `bulkOperationId` does not correspond to any existing bulk operation.",
    "bulkOperationNotRun": "The operation with the given `bulkOperationId` has not run yet.",
    "bulkOperationsConcurrencyLimitReached":
        "The maximum number of concurrent operations has been reached.",
    "customFieldLimitReached":
        "The company has reached the maximum number of custom fields for this collection.",
    "customFieldNotFound":
        "The given `customFieldId` does not correspond to any existing custom field.",
    "courseNotFound": "The given `courseId` does not correspond to any existing course.",
    "customFieldsTargetTypeNotEnabled": "This target type is not yet enabled for custom fields.",
    "deactivationDateInvalid": "The given deactivation date must be set to a future date.",
    "groupNotFound": "The given `groupId` does not correspond to any existing group.",
    "inputTooLong": "The input array size exceeds the maximum limit of 20,000 objects.",
    "invalidInput": "The input of a bulk operation must be an array.",
    "invalidName": "The name of the custom field should not be empty.",
    "invalidUpdateOnDeletedUser":
        "The field `toBeDeactivatedAt` cannot be updated on a deleted user.",
    "invalid_scope":
        "The given access token does not have the required OAuth scope to execute the request.",
    "loginIdentifierMultipleUsersFound": "Mail and username match a different user each.",
    "mailAlreadyUsed": "The given mail is already used.",
    "mailAndUsernameUndefined": "The given input must contain a `mail` or a `username`.",
    "mailInvalid": "The given mail is invalid.",
    "managerDeleted": "The given `managerId` corresponds to a deleted user.",
    "managerNotAssignedToUser": "The user corresponding to the given `userId` has no manager "
                                "corresponding to the given `managerId`.",
    "managerNotFound": "The given `managerId` does not correspond to any existing user.",
    "mappingAlreadyExists": "A mapping already exists for the given resource on this platform.",
    "mappingIdNotFound": "The given `mappingId` does not correspond to any existing mapping.",
    "mediaNotFound": "The given media does not exist.",
    "pathNotFound": "The given `pathId` does not correspond to any existing path.",
    "multipleValuesForSingleCustomField":
        "The given body has multiple values for a single `customField`.",
    "nameAlreadyTaken": "The name of the custom field is already taken.",
    "notMemberOfPrimaryGroup": "The user is not a member of the `primaryGroupId` group.",
    "ownerDeactivationNotAllowed":
        "Updating the deactivation date of the platform owner is not allowed.",
    "reservedPlatformName": "The platform is one of the reserved ones.",
    "resourceNotFound": "The targeted resource does not exist.",
    "targetAlreadyMapped": "The target already has an external ID on this platform.",
    "unauthorizedValue": "The given body has a `customField` with an unauthorized value.",
    "userDeleted": "The given `userId` corresponds to a deleted user.",
    "userIsCompanyOwner":
        "The given `userId` corresponds to the company owner and cannot be deleted.",
    "userNotFound": "The given `userId` does not correspond to any existing user.",
    "userNotFoundInGroup": "The given `userId` does not correspond to any existing user "
                           "with this role in this group.",
    "userShouldHaveAtLeastOneValidIdentifier": "Proceeding with this request would make this "
                                               "user have no valid identifier (mail, username).",
    "usernameAlreadyUsed": "The given username is already used.",
    "valueAlreadyUsed": "The value is already used with another resource.",
    "wrongTypeValue": "The given body has a `customField` with invalid value type.",
    # The webhook API (360learning-webhook-api.openapi.json):
    "activeSubscriptionNotFound":
        "The given `subscriptionId` does not correspond to any active subscription.",
    "invalidRetryTimeframe": "The given `startDate` and `endDate` are invalid. The retry "
                             "timeframe is limited to 3 days and the `endDate` must be after "
                             "the `startDate`.",
    "subscriptionAlreadyExists": "A subscription already exists for this event type and URL.",
    "subscriptionNotFound":
        "The given `subscriptionId` does not correspond to any existing subscription.",
    "subscriptionsLimitReached":
        "The maximum number of subscriptions for this event type has been reached.",
    "urlUnreachable": "The provided URL is unreachable.",
    # Not in the documents (docs/emulators.md says why each exists):
    "invalidRequest": "The request does not match the documented parameters or body.",
    "invalidApiVersion": "The header `360-api-version: v2.0` is missing or unsupported.",
    "notFound": "No such endpoint.",
}

_NOT_FOUND = frozenset({
    "bulkOperationNotFound", "customFieldNotFound", "groupNotFound", "managerNotFound",
    "mappingIdNotFound", "notFound", "resourceNotFound", "userNotFound", "userNotFoundInGroup",
    "subscriptionNotFound", "activeSubscriptionNotFound", "pathNotFound", "courseNotFound",
})
_OTHER_STATUS = {
    "bulkOperationsConcurrencyLimitReached": 429,
    "bulkAPIDisabled": 503,
    "invalid_scope": 403,
}


class StateError(Exception):
    """A documented business error raised by the state; the app turns it into a response."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message or MESSAGES.get(code, code)

    @property
    def status(self) -> int:
        return status_of(self.code)


def status_of(code: str) -> int:
    """The HTTP status the documents give ``code`` (404 for not-found codes, else 400)."""
    if code in _NOT_FOUND:
        return 404
    return _OTHER_STATUS.get(code, 400)


def error_body(code: str, message: str | None = None) -> bytes:
    """The object form ``{"error": {"code", "message"}}``."""
    return json.dumps({"error": {"code": code, "message": message or MESSAGES.get(code, code)}}
                      ).encode()


def flat_body(error: str) -> bytes:
    """The flat form ``{"error": "invalid_token"}`` of auth and rate-limit errors."""
    return json.dumps({"error": error}).encode()


def fault_body(status: int) -> bytes:
    """The body an injected fault answers with: the documented one where there is one."""
    if status == 429:
        return flat_body("tooManyRequests")
    if status == 401:
        return flat_body("invalid_token")
    if status == 403:
        return error_body("invalid_scope")
    if status == 503:
        return error_body("serviceUnavailable", "The service is temporarily unavailable.")
    if status >= 500:
        return error_body("internalServerError", "An unexpected error occurred.")
    return error_body("injectedFault", f"Injected fault {status}.")
