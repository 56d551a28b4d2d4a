"""The 360Learning API v2 client: users, external IDs, custom fields, groups, managers, bulk.

Every call goes through one ``ApiCaller`` (pacing at 50 reads/s and 10 writes/s, bounded
method-aware retries, typed errors from ``status.map_status``); every success body is
validated by a ``wire`` model and returned as a ``personio360.domain`` type. Lists are lazy
``iter_*`` generators that follow the ``Link: <…>; rel="next"`` header page by page
(guide "Pagination"), so memory stays constant. Thread-safe: the sync calls it from a pool.
"""

from __future__ import annotations

__all__ = ["BULK_MAX_ITEMS", "CUSTOM_VALUES_MAX", "Learning360Client"]

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Self

import httpx
from pydantic import SecretStr

from personio360.domain import (
    BulkMembership,
    BulkOperation,
    BulkResult,
    Completion,
    CustomField,
    CustomValue,
    ExternalId,
    Group,
    GroupRole,
    LmsUser,
    NewUser,
    UserChanges,
)
from personio360.errors import ApiUnavailable, Rejected
from personio360.http.caller import ApiCaller
from personio360.http.ratelimit import LEARNING360_LIMITS, RateLimiter
from personio360.http.redact import mask, register_secret
from personio360.http.retry import RetryPolicy
from personio360.learning360 import wire
from personio360.learning360.auth import Learning360Auth
from personio360.learning360.status import SERVICE, TOKEN_PATH, map_status
from personio360.learning360.transport import Transport, malformed

#: ``AddUsersToGroupsBody.input``: ``maxItems: 20000`` [OAS-bulk].
BULK_MAX_ITEMS = 20_000
#: ``UpdateUserCustomFieldValuesBody.customValues``: ``maxItems: 300`` [OAS].
CUSTOM_VALUES_MAX = 300
#: Bodies use ``userAdmin``, the path ``{role}`` enum uses ``user-admin`` [OAS].
_PATH_ROLES = {"userAdmin": "user-admin"}

_USERS = "/api/v2/users"
_USER = "/api/v2/users/{userId}"
_EXTERNAL_IDS = "/api/v2/external-ids"
_EXTERNAL_ID = "/api/v2/external-ids/{mappingId}"
_CUSTOM_FIELDS = "/api/v2/custom-fields"
_CUSTOM_FIELD = "/api/v2/custom-fields/{customFieldId}"
_CUSTOM_VALUES = "/api/v2/users/{userId}/custom-fields/values"
_GROUPS = "/api/v2/groups"
_GROUP = "/api/v2/groups/{groupId}"
_GROUP_ROLES = "/api/v2/groups/{groupId}/roles"
_GROUP_ROLE = "/api/v2/groups/{groupId}/{role}/{userId}"
_USER_ROLES = "/api/v2/users/{userId}/roles"
_MANAGERS = "/api/v2/users/{userId}/managers"
_MANAGER = "/api/v2/users/{userId}/managers/{managerId}"
_SUBORDINATES = "/api/v2/users/{userId}/subordinates"
_BULK_MEMBERSHIPS = "/api/v2/bulk/groups/memberships"
_BULK_OPERATION = "/api/v2/bulk/operations/{bulkOperationId}"
_BULK_RESULTS = "/api/v2/bulk/operations/{bulkOperationId}/results"
_PATH_STATS = "/api/v2/paths/stats"
_COURSE_STATS = "/api/v2/courses/stats"
_PATH = "/api/v2/paths/{pathId}"
_COURSE = "/api/v2/courses/{courseId}"


class Learning360Client:
    """360Learning API v2 over an injected ``httpx.Client`` whose ``base_url`` is the host.

    The client installs its ``Learning360Auth`` on ``http``; ``close()`` closes ``http``
    only when ``connect`` built it (the owner of an injected client closes it).
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        client_id: str,
        client_secret: str,
        limiter: RateLimiter | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        register_secret(client_secret)
        self._http = http
        self._owns_http = False
        self._client_id = client_id
        self._client_secret = SecretStr(client_secret)
        self._api = Transport(ApiCaller(
            http, service=SERVICE, limiter=limiter or RateLimiter(LEARNING360_LIMITS),
            map_status=map_status, policy=policy,
        ))
        self.auth = Learning360Auth(self._fetch_token)
        http.auth = self.auth

    @classmethod
    def connect(
        cls,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 30.0,
        rate_limit_factor: float = 1.0,
    ) -> Learning360Client:
        """A client with its own connection pool, sized for the sync's threads: 20 reads in
        flight (``gather``) while 8 writes go out (``executor``), so neither waits for a connection."""
        http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )
        client = cls(http, client_id=client_id, client_secret=client_secret,
                     limiter=RateLimiter(LEARNING360_LIMITS, factor=rate_limit_factor))
        client._owns_http = True
        return client

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        base_url, client_id = str(self._http.base_url), mask(self._client_id)
        return f"Learning360Client(base_url={base_url!r}, client_id={client_id!r})"

    # --- users ----------------------------------------------------------------------------

    def iter_users(
        self, *, mail: str | None = None, status: str | None = None
    ) -> Iterator[LmsUser]:
        """Every user (500 a page), optionally filtered by ``mail[eq]`` and ``status[eq]``."""
        params = _filters(mail=mail, status=status)
        for user in self._api.pages(_USERS, wire.User, params=params):
            yield user.to_domain()

    def find_user_by_mail(self, mail: str) -> LmsUser | None:
        """The user whose mail equals ``mail`` (trimmed, any case), deleted users included.

        Whether ``mail[eq]`` is case-sensitive is not documented: the filter is tried as given
        and, if that finds nobody, lower-cased; candidates are compared case-insensitively, an
        exact match first, then one that is not deleted (STYLE §7.4: the crash-safe create).
        """
        wanted = mail.strip()
        candidates = list(self.iter_users(mail=wanted))
        if not _matching(candidates, wanted) and wanted.lower() != wanted:
            candidates = list(self.iter_users(mail=wanted.lower()))
        found = _matching(candidates, wanted)
        if not found:
            return None
        return min(found, key=lambda u: (u.mail != wanted, u.status == "deleted"))

    def get_user(self, user_id: str) -> LmsUser:
        return self._api.one("GET", _USER, wire.User, {"userId": user_id}).to_domain()

    def create_user(self, new: NewUser, *, send_invitation_email: bool) -> tuple[LmsUser, bool]:
        """Create (201) or restore (200: a deleted user with this mail) a user; True = restored.

        Never retried once sent: a lost answer raises ``ApiUnavailable(maybe_applied=True)``
        and the caller looks the user up by mail before trying again (R14).
        """
        response = self._api.call(
            "POST", _USERS, json_body=wire.new_user_body(new),
            params={"sendInvitationEmail": "true" if send_invitation_email else "false"},
            ok=(200, 201),
        )
        user = self._api.parse(wire.User, response, "POST", _USERS).to_domain()
        return user, response.status_code == 200

    def update_user(self, user_id: str, changes: UserChanges) -> LmsUser:
        """Merge patch: only the fields set in ``changes`` are sent, ``CLEAR`` as ``null``."""
        body = wire.user_changes_body(changes)
        user = self._api.one("PATCH", _USER, wire.User, {"userId": user_id}, json_body=body)
        return user.to_domain()

    def delete_user(self, user_id: str) -> None:
        """Soft delete: the account stays, ``status`` becomes ``deleted``."""
        self._api.call("DELETE", _USER, path_params={"userId": user_id}, ok=(204,))

    def activate_user(self, user_id: str) -> LmsUser:
        template = "/api/v2/users/{userId}/activate"
        return self._api.one("PUT", template, wire.User, {"userId": user_id}).to_domain()

    # --- external ids ---------------------------------------------------------------------

    def iter_external_ids(
        self, *, platform: str, target_type: str = "user", value: str | None = None,
        target_id: str | None = None,
    ) -> Iterator[ExternalId]:
        """ID mappings of ``platform`` (5,000 a page); the API's filter is ``type[eq]``."""
        params = _filters(platform=platform, type=target_type, value=value, targetId=target_id)
        for mapping in self._api.pages(_EXTERNAL_IDS, wire.ExternalId, params=params):
            yield mapping.to_domain()

    def create_external_id(
        self, platform: str, target_type: str, target_id: str, value: str
    ) -> ExternalId:
        body = _mapping_body(platform, target_type, target_id, value)
        response = self._api.call("POST", _EXTERNAL_IDS, json_body=body, ok=(201,))
        return self._api.parse(wire.ExternalId, response, "POST", _EXTERNAL_IDS).to_domain()

    def update_external_id(
        self, mapping_id: str, platform: str, target_type: str, target_id: str, value: str
    ) -> ExternalId:
        """``PUT`` replaces the whole mapping."""
        body = _mapping_body(platform, target_type, target_id, value)
        return self._api.one("PUT", _EXTERNAL_ID, wire.ExternalId, {"mappingId": mapping_id},
                         json_body=body).to_domain()

    def delete_external_id(self, mapping_id: str) -> None:
        self._api.call("DELETE", _EXTERNAL_ID, path_params={"mappingId": mapping_id}, ok=(204,))

    # --- custom fields --------------------------------------------------------------------

    def iter_custom_fields(self, *, target_type: str | None = None) -> Iterator[CustomField]:
        """Custom field definitions (1,000 a page), of every target type unless one is given."""
        params = _filters(targetType=target_type)
        for field in self._api.pages(_CUSTOM_FIELDS, wire.CustomField, params=params):
            yield field.to_domain()

    def create_custom_field(self, name: str, type: str = "string") -> CustomField:
        """A new user custom field (``targetType: users``); ``type`` is ``string`` or ``date``."""
        body = {"name": name, "targetType": "users", "type": type}
        response = self._api.call("POST", _CUSTOM_FIELDS, json_body=body, ok=(201,))
        return self._api.parse(wire.CustomField, response, "POST", _CUSTOM_FIELDS).to_domain()

    def update_custom_field(self, field_id: str, name: str) -> CustomField:
        """Rename a field: its type and target cannot change."""
        return self._api.one("PATCH", _CUSTOM_FIELD, wire.CustomField, {"customFieldId": field_id},
                         json_body={"name": name}).to_domain()

    def delete_custom_field(self, field_id: str) -> None:
        self._api.call("DELETE", _CUSTOM_FIELD, path_params={"customFieldId": field_id}, ok=(204,))

    def get_custom_values(self, user_id: str) -> list[CustomValue]:
        """All custom field values of one user (not paginated)."""
        response = self._api.call("GET", _CUSTOM_VALUES, path_params={"userId": user_id})
        return [v.to_domain() for v in self._api.parse_list(wire.CustomValue, response, "GET",
                                                        _CUSTOM_VALUES)]

    def put_custom_values(self, user_id: str, values: Sequence[CustomValue]) -> list[CustomValue]:
        """Replace ALL of a user's values (fields left out are cleared); at most 300."""
        if len(values) > CUSTOM_VALUES_MAX:
            raise ValueError(f"at most {CUSTOM_VALUES_MAX} custom values, got {len(values)}")
        response = self._api.call("PUT", _CUSTOM_VALUES, path_params={"userId": user_id},
                              json_body=wire.custom_values_body(values))
        return [v.to_domain() for v in self._api.parse_list(wire.CustomValue, response, "PUT",
                                                        _CUSTOM_VALUES)]

    # --- groups ---------------------------------------------------------------------------

    def iter_groups(self, *, parent_id: str | None = None) -> Iterator[Group]:
        """Every group (500 a page); ``GET /groups`` has no filters, so ``parent_id`` is ours."""
        for group in self._api.pages(_GROUPS, wire.Group):
            if parent_id is None or group.parent_id == parent_id:
                yield group.to_domain()

    def get_group(self, group_id: str) -> Group:
        return self._api.one("GET", _GROUP, wire.Group, {"groupId": group_id}).to_domain()

    def iter_group_roles(self, group_id: str) -> Iterator[GroupRole]:
        """Every (user, role) of a group (1,000 a page); roles in body spelling (``userAdmin``)."""
        path = {"groupId": group_id}
        for member in self._api.pages(_GROUP_ROLES, wire.GroupMember, path_params=path):
            yield member.to_domain(group_id)

    def iter_user_roles(self, user_id: str) -> Iterator[GroupRole]:
        """Every (group, role) of a user (1,000 a page)."""
        path = {"userId": user_id}
        for membership in self._api.pages(_USER_ROLES, wire.UserMembership, path_params=path):
            yield membership.to_domain(user_id)

    def add_group_role(self, group_id: str, role: str, user_id: str) -> None:
        """Give ``user_id`` ``role`` in ``group_id``, joining the group if needed."""
        self._api.call("POST", _GROUP_ROLE, path_params=_role_path(group_id, role, user_id),
                       ok=(204,))

    def remove_group_role(self, group_id: str, role: str, user_id: str) -> None:
        """Removing ``learner`` also removes it from the group's public subgroups [OAS]."""
        self._api.call("DELETE", _GROUP_ROLE, path_params=_role_path(group_id, role, user_id),
                   ok=(204,))

    # --- learning (R18) -------------------------------------------------------------------

    def iter_path_stats(self, path_ids: Sequence[str], *, completed_since: str | None = None,
                        user_ids: Sequence[str] = ()) -> Iterator[Completion]:
        """Every user's statistics in these paths (2,000 a page): ``pathId[in]`` and, when
        given, ``completedAt[gte]`` (its milliseconds "are always set to 0" [OAS]) and
        ``userId[in]``."""
        params = _learning_filters("pathId", path_ids, completed_since, user_ids)
        for stat in self._api.pages(_PATH_STATS, wire.PathStat, params=params):
            yield stat.to_domain()

    def iter_course_stats(self, course_ids: Sequence[str], *, completed_since: str | None = None,
                          user_ids: Sequence[str] = ()) -> Iterator[Completion]:
        """Every attempt at these courses (500 a page), filtered like ``iter_path_stats``."""
        params = _learning_filters("courseId", course_ids, completed_since, user_ids)
        for stat in self._api.pages(_COURSE_STATS, wire.CourseStat, params=params):
            yield stat.to_domain()

    def get_path(self, path_id: str) -> wire.LearningItem:
        """One path (``NotFound``: ``pathNotFound``), for ``check``."""
        return self._api.one("GET", _PATH, wire.LearningItem, {"pathId": path_id})

    def get_course(self, course_id: str) -> wire.LearningItem:
        """One course (``NotFound``: ``courseNotFound``), for ``check``."""
        return self._api.one("GET", _COURSE, wire.LearningItem, {"courseId": course_id})

    # --- managers -------------------------------------------------------------------------

    def iter_managers(self, user_id: str) -> Iterator[str]:
        """The ids of a user's managers (1,000 a page)."""
        yield from self._api.pages(_MANAGERS, str, path_params={"userId": user_id})

    def iter_subordinates(self, user_id: str) -> Iterator[str]:
        """The ids of the users ``user_id`` manages (1,000 a page)."""
        yield from self._api.pages(_SUBORDINATES, str, path_params={"userId": user_id})

    def add_manager(self, user_id: str, manager_id: str) -> None:
        path = {"userId": user_id, "managerId": manager_id}
        self._api.call("POST", _MANAGER, path_params=path, ok=(204,))

    def remove_manager(self, user_id: str, manager_id: str) -> None:
        path = {"userId": user_id, "managerId": manager_id}
        self._api.call("DELETE", _MANAGER, path_params=path, ok=(204,))

    # --- bulk -----------------------------------------------------------------------------

    def submit_bulk_memberships(
        self, items: Sequence[BulkMembership], *, remove: bool = False
    ) -> str:
        """Start a bulk add (or remove) of memberships; return the operation id.

        At most 20,000 items: splitting larger inputs is the caller's job. A 429
        ``bulkOperationsConcurrencyLimitReached`` (3 running operations) is retried.
        """
        if len(items) > BULK_MAX_ITEMS:
            raise ValueError(f"at most {BULK_MAX_ITEMS} bulk items per operation, got {len(items)}")
        method = "DELETE" if remove else "POST"
        try:
            response = self._api.call(method, _BULK_MEMBERSHIPS, kind="bulk", ok=(202,),
                                      json_body=wire.membership_items(items))
        except ApiUnavailable as exc:
            if exc.code == "bulkAPIDisabled":
                raise _bulk_disabled(method) from None
            raise
        location = response.headers.get("Location", "")
        operation_id = httpx.URL(location).path.rstrip("/").rpartition("/")[2]
        if not location or not operation_id:
            raise malformed(method, _BULK_MEMBERSHIPS, 202,
                             "202 without a Location header naming the bulk operation")
        return operation_id

    def get_bulk_operation(self, operation_id: str) -> BulkOperation:
        """The operation's status (``pending`` … ``completed`` | ``errored``), without results."""
        path = {"bulkOperationId": operation_id}
        return self._api.one("GET", _BULK_OPERATION, wire.BulkOperation, path).to_domain()

    def iter_bulk_results(self, operation_id: str) -> Iterator[BulkResult]:
        """One result per input item, in input order (400 ``bulkOperationNotRun`` before it ran)."""
        path = {"bulkOperationId": operation_id}
        results = self._api.pages(_BULK_RESULTS, wire.BulkResult, path_params=path)
        for index, result in enumerate(results):
            yield result.to_domain(index)

    def run_bulk_memberships(
        self,
        items: Sequence[BulkMembership],
        *,
        remove: bool = False,
        poll_interval: float = 1.0,
        timeout: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> BulkOperation:
        """Submit, poll until the operation ends, then read its results.

        Each wait is 1.5 times the last, up to 10 ``poll_interval``, so a long operation does
        not spend the read budget; ``timeout`` bounds the waiting (the sum of the sleeps).
        """
        operation_id = self.submit_bulk_memberships(items, remove=remove)
        operation = self.get_bulk_operation(operation_id)
        waited, interval = 0.0, poll_interval
        while not operation.done:
            if waited >= timeout:
                raise ApiUnavailable(
                    f"bulk operation still {operation.status} after {timeout:g} s",
                    service=SERVICE, method="GET", path=_BULK_OPERATION, maybe_applied=True,
                    hint="360Learning's bulk queue is slow; the next run converges",
                )
            sleep(interval)
            waited += interval
            interval = min(interval * 1.5, poll_interval * 10)
            operation = self.get_bulk_operation(operation_id)
        return BulkOperation(operation.id, operation.status, self._results(operation))

    def _fetch_token(self) -> tuple[str, float]:
        """``POST /api/v2/oauth2/token`` (JSON body, no version header) for ``Learning360Auth``."""
        body = {"grant_type": "client_credentials", "client_id": self._client_id,
                "client_secret": self._client_secret.get_secret_value()}
        response = self._api.call("POST", TOKEN_PATH, json_body=body, kind="auth",
                                  versioned=False)
        token = self._api.parse(wire.Token, response, "POST", TOKEN_PATH)
        register_secret(token.access_token)
        return token.access_token, token.expires_in

    def _results(self, operation: BulkOperation) -> tuple[BulkResult, ...]:
        try:
            return tuple(self.iter_bulk_results(operation.id))
        except Rejected as exc:
            if operation.status == "errored" and exc.code == "bulkOperationNotRun":
                return ()
            raise

def _bulk_disabled(method: str) -> ApiUnavailable:
    """503 ``bulkAPIDisabled``: nothing was queued, and retrying will not help."""
    return ApiUnavailable(
        "the 360Learning bulk API is disabled for this company (503 bulkAPIDisabled)",
        service=SERVICE, method=method, path=_BULK_MEMBERSHIPS, status=503,
        code="bulkAPIDisabled", maybe_applied=False,
        hint="ask 360Learning to enable the bulk API for this company",
    )


def _filters(**fields: str | None) -> dict[str, str]:
    """LHS bracket filters (guide "Filtering"): ``mail[eq]=…`` for each field that is set."""
    return {f"{name}[eq]": value for name, value in fields.items() if value is not None}


def _learning_filters(field: str, ids: Sequence[str], completed_since: str | None,
                      user_ids: Sequence[str]) -> list[tuple[str, str]]:
    """``pathId[in]=a&pathId[in]=b`` (the guide's list form), ``userId[in]``, ``completedAt[gte]``."""
    params = [(f"{field}[in]", item) for item in ids]
    params += [("userId[in]", user_id) for user_id in user_ids]
    if completed_since is not None:
        params.append(("completedAt[gte]", completed_since))
    return params


def _matching(users: Sequence[LmsUser], mail: str) -> list[LmsUser]:
    wanted = mail.strip().casefold()
    return [u for u in users if u.mail is not None and u.mail.strip().casefold() == wanted]


def _mapping_body(platform: str, target_type: str, target_id: str, value: str) -> dict[str, str]:
    return {"platform": platform, "targetType": target_type, "targetId": target_id,
            "value": value}


def _role_path(group_id: str, role: str, user_id: str) -> dict[str, str]:
    """Path parameters for a role call: the path spells ``userAdmin`` as ``user-admin``."""
    return {"groupId": group_id, "role": _PATH_ROLES.get(role, role), "userId": user_id}
