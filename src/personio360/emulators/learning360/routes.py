"""The emulated endpoints: HTTP in, state call, documented DTO out (one handler each).

Paths, methods, scopes, page sizes and filters are those of ``360learning-core-api`` and
``360learning-bulk-api``; ``app.py`` does the cross-cutting parts (version header, token,
scope, rate limit, stats) before a handler runs.
"""

from __future__ import annotations

__all__ = ["ROUTES", "WEBHOOK_ROUTES", "Call", "Route", "Services"]

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from personio360 import domain
from personio360.emulators.learning360 import wire
from personio360.emulators.learning360.bulk import MAX_ITEMS, BulkRunner
from personio360.emulators.learning360.errors import StateError
from personio360.emulators.learning360.paging import (
    PAGE_SIZES,
    decode_token,
    matches,
    paginate,
    parse_filters,
)
from personio360.emulators.learning360.state import Learning360State, UserRecord
from personio360.emulators.learning360.webhooks import EVENT_TYPES, Subscriptions

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
_STRING_OPS = frozenset({"eq", "ne", "in", "nin"})


@dataclass(frozen=True)
class Services:
    """What handlers work on."""

    state: Learning360State
    bulk: BulkRunner
    absolute_links: bool = False
    webhooks: Subscriptions | None = None

    @property
    def hooks(self) -> Subscriptions:
        assert self.webhooks is not None, "the app is built with its webhook subscriptions"
        return self.webhooks


@dataclass(frozen=True)
class Call:
    """One request, already read: path parameters, query and body."""

    request: Request
    params: Mapping[str, str]
    body: bytes

    def model(self, model: type[M]) -> M:
        try:
            return model.model_validate_json(self.body or b"null")
        except ValidationError as error:
            raise StateError("invalidRequest", wire.problems(error)) from None

    @property
    def query(self) -> list[tuple[str, str]]:
        return list(self.request.query_params.multi_items())


Handler = Callable[[Services, Call], Response]


@dataclass(frozen=True)
class Route:
    """One documented operation: ``template`` as the OpenAPI writes it."""

    method: str
    template: str
    scope: str
    handler: Handler
    kind: str = ""
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        object.__setattr__(self, "regex", re.compile(f"^{pattern}$"))
        if not self.kind:
            object.__setattr__(self, "kind", "read" if self.method == "GET" else "write")

    def match(self, method: str, path: str) -> dict[str, str] | None:
        found = self.regex.match(path) if method == self.method else None
        return found.groupdict() if found else None


# --- helpers ---------------------------------------------------------------------------


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(data, status_code=status, headers=dict(headers or {}))


def _empty(status: int = 204, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status_code=status, headers=dict(headers or {}))


def _object_id(value: str, code: str) -> str:
    """A path id that is no ObjectId names nothing: the resource's documented 404."""
    if not re.fullmatch(r"[a-fA-F0-9]{24}", value):
        raise StateError(code)
    return value


def _listing(services: Services, call: Call, items: Iterable[T], *, size: str,
             key: Callable[[T], tuple[str, ...]], render: Callable[[T], Any],
             fields: Callable[[T], Mapping[str, str | None]] | None = None,
             allowed: Mapping[str, frozenset[str]] | None = None) -> Response:
    """Filter, then answer one page with a ``Link`` to the next when more remain."""
    filters, token = parse_filters(call.query, allowed or {})
    after = None
    if token is not None:
        filters, after = decode_token(token)
    selected = [item for item in items if fields is None or all(
        matches(fields(item).get(name), ops) for name, ops in filters.items())]
    page = paginate(selected, size=PAGE_SIZES[size], key=key, filters=filters, after=after)
    headers = {}
    if page.next_token is not None:
        url = f"{call.request.url.path}?next={quote(page.next_token)}"
        if services.absolute_links:
            url = str(call.request.base_url).rstrip("/") + url
        headers["Link"] = f'<{url}>; rel="next"'
    return _json([render(item) for item in page.items], headers=headers)


def user_dto(record: UserRecord) -> dict[str, Any]:
    """``UserDTO``: absent rather than empty fields (``minLength: 1``)."""
    dto: dict[str, Any] = {"_id": record.id, "status": record.status, "lang": record.lang,
                           **record.profile}
    if record.deleted_at:
        dto["deletedAt"] = list(record.deleted_at)
    if record.reactivated_at:
        dto["reactivatedAt"] = list(record.reactivated_at)
    return dto


def group_dto(group: domain.Group) -> dict[str, Any]:
    dto: dict[str, Any] = {"_id": group.id, "name": group.name, "public": bool(group.public)}
    if group.parent_id is not None:
        dto["parentId"] = group.parent_id
    return dto


def field_dto(item: domain.CustomField) -> dict[str, str]:
    return {"_id": item.id, "name": item.name, "targetType": item.target_type, "type": item.type}


def value_dto(value: domain.CustomValue) -> dict[str, str]:
    return {"customFieldId": value.custom_field_id, "type": value.type, "value": value.value}


def mapping_dto(item: domain.ExternalId) -> dict[str, str]:
    return {"_id": item.id, "platform": item.platform, "targetType": item.target_type,
            "targetId": item.target_id, "value": item.value}


# --- users -----------------------------------------------------------------------------


def list_users(s: Services, c: Call) -> Response:
    allowed = {"mail": _STRING_OPS, "username": _STRING_OPS, "status": frozenset({"eq", "ne"})}
    return _listing(s, c, s.state.user_records(), size="users", key=lambda r: (r.id,),
                    render=user_dto, allowed=allowed,
                    fields=lambda r: {"status": r.status, **r.profile})


def create_user(s: Services, c: Call) -> Response:
    flag = c.request.query_params.get("sendInvitationEmail", "true")
    if flag not in ("true", "false") or set(c.request.query_params) - {"sendInvitationEmail"}:
        raise StateError("invalidRequest", "sendInvitationEmail must be 'true' or 'false'.")
    body = c.model(wire.InputUser)
    profile = body.model_dump(exclude={"membership", "lang"}, exclude_none=True)
    record, restored = s.state.create_user(profile, body.membership.groupId, body.membership.role,
                                           lang=body.lang, send_invitation=flag == "true")
    return _json(user_dto(record), 200 if restored else 201)


def get_user(s: Services, c: Call) -> Response:
    return _json(user_dto(s.state.user_record(_object_id(c.params["userId"], "userNotFound"))))


def update_user(s: Services, c: Call) -> Response:
    body = c.model(wire.UpdateUser)
    changes = {name: getattr(body, name) for name in body.model_fields_set if name != "lang"}
    user_id = _object_id(c.params["userId"], "userNotFound")
    return _json(user_dto(s.state.update_user(user_id, changes, lang=body.lang)))


def delete_user(s: Services, c: Call) -> Response:
    s.state.delete_user(_object_id(c.params["userId"], "userNotFound"))
    return _empty()


def activate_user(s: Services, c: Call) -> Response:
    user_id = _object_id(c.params["userId"], "userNotFound")
    return _json(user_dto(s.state.activate_user(user_id)))


# --- groups, roles, managers -----------------------------------------------------------


def list_groups(s: Services, c: Call) -> Response:
    return _listing(s, c, s.state.groups(), size="groups", key=lambda g: (g.id,),
                    render=group_dto)


def get_group(s: Services, c: Call) -> Response:
    return _json(group_dto(s.state.group(_object_id(c.params["groupId"], "groupNotFound"))))


def group_roles(s: Services, c: Call) -> Response:
    group = s.state.group(_object_id(c.params["groupId"], "groupNotFound"))
    return _listing(s, c, s.state.roles_of_group(group.id), size="group_roles",
                    key=lambda r: (r.user_id, r.role),
                    render=lambda r: {"userId": r.user_id, "role": r.role})


def user_roles(s: Services, c: Call) -> Response:
    user = s.state.user_record(_object_id(c.params["userId"], "userNotFound"))
    return _listing(s, c, s.state.roles_of_user(user.id), size="user_roles",
                    key=lambda r: (r.group_id, r.role),
                    render=lambda r: {"groupId": r.group_id, "role": r.role})


def _role(c: Call) -> str:
    role = c.params["role"]
    if role not in ("admin", "analyst", "coach", "contributor", "editor", "learner", "user-admin"):
        raise StateError("invalidRequest", "Unknown role in the path.")
    return role


def add_role(s: Services, c: Call) -> Response:
    role = _role(c)
    group_id = _object_id(c.params["groupId"], "groupNotFound")
    s.state.add_role(group_id, _object_id(c.params["userId"], "userNotFound"), role)
    return _empty()


def remove_role(s: Services, c: Call) -> Response:
    role = _role(c)
    group_id = _object_id(c.params["groupId"], "groupNotFound")
    s.state.remove_role(group_id, _object_id(c.params["userId"], "userNotFoundInGroup"), role)
    return _empty()


def _ids(s: Services, c: Call, reader: Callable[[str], list[str]], size: str) -> Response:
    user = s.state.user_record(_object_id(c.params["userId"], "userNotFound"))
    return _listing(s, c, reader(user.id), size=size, key=lambda i: (i,), render=lambda i: i)


def list_managers(s: Services, c: Call) -> Response:
    return _ids(s, c, s.state.managers_of, "managers")


def list_subordinates(s: Services, c: Call) -> Response:
    return _ids(s, c, s.state.subordinates_of, "subordinates")


def add_manager(s: Services, c: Call) -> Response:
    s.state.add_manager(_object_id(c.params["userId"], "userNotFound"),
                        _object_id(c.params["managerId"], "managerNotFound"))
    return _empty()


def remove_manager(s: Services, c: Call) -> Response:
    s.state.remove_manager(_object_id(c.params["userId"], "userNotFound"),
                           _object_id(c.params["managerId"], "managerNotFound"))
    return _empty()


# --- custom fields ---------------------------------------------------------------------


def list_fields(s: Services, c: Call) -> Response:
    allowed = {"name": _STRING_OPS, "targetType": _STRING_OPS, "type": _STRING_OPS}
    return _listing(s, c, s.state.custom_fields(), size="custom_fields", key=lambda f: (f.id,),
                    render=field_dto, allowed=allowed,
                    fields=lambda f: {"name": f.name, "targetType": f.target_type,
                                      "type": f.type})


def create_field(s: Services, c: Call) -> Response:
    body = c.model(wire.InputCustomField)
    return _json(field_dto(s.state.add_custom_field(body.name, body.type, body.targetType)), 201)


def rename_field(s: Services, c: Call) -> Response:
    body = c.model(wire.UpdateCustomField)
    field_id = _object_id(c.params["customFieldId"], "customFieldNotFound")
    return _json(field_dto(s.state.rename_custom_field(field_id, body.name)))


def delete_field(s: Services, c: Call) -> Response:
    s.state.delete_custom_field(_object_id(c.params["customFieldId"], "customFieldNotFound"))
    return _empty()


def get_values(s: Services, c: Call) -> Response:
    values = s.state.custom_values(_object_id(c.params["userId"], "userNotFound"))
    return _json([value_dto(v) for v in values])


def put_values(s: Services, c: Call) -> Response:
    user_id = _object_id(c.params["userId"], "userNotFound")
    body = c.model(wire.CustomValues)
    s.state.set_custom_values(user_id, [
        domain.CustomValue(custom_field_id=v.customFieldId, type=v.type, value=v.value)
        for v in body.customValues])
    return _json([value_dto(v) for v in s.state.custom_values(user_id)])


# --- external ids ----------------------------------------------------------------------


def list_mappings(s: Services, c: Call) -> Response:
    allowed = {name: _STRING_OPS for name in ("platform", "type", "value", "targetId")}
    return _listing(s, c, s.state.external_ids(), size="external_ids", key=lambda e: (e.id,),
                    render=mapping_dto, allowed=allowed,
                    fields=lambda e: {"platform": e.platform, "type": e.target_type,
                                      "value": e.value, "targetId": e.target_id})


def create_mapping(s: Services, c: Call) -> Response:
    body = c.model(wire.InputExternalId)
    created = s.state.add_external_id(body.platform, body.targetType, body.targetId, body.value)
    return _json(mapping_dto(created), 201)


def update_mapping(s: Services, c: Call) -> Response:
    mapping_id = _object_id(c.params["mappingId"], "mappingIdNotFound")
    body = c.model(wire.InputExternalId)
    return _json(mapping_dto(s.state.update_external_id(
        mapping_id, body.platform, body.targetType, body.targetId, body.value)))


def delete_mapping(s: Services, c: Call) -> Response:
    s.state.delete_external_id(_object_id(c.params["mappingId"], "mappingIdNotFound"))
    return _empty()


# --- bulk ------------------------------------------------------------------------------


def _submit(s: Services, c: Call, kind: str) -> Response:
    try:
        payload = json.loads(c.body or b"null")
    except ValueError:
        raise StateError("invalidInput") from None
    items = payload.get("input") if isinstance(payload, dict) else None
    if not isinstance(items, list) or set(payload) != {"input"}:
        raise StateError("invalidInput")
    if len(items) > MAX_ITEMS:
        raise StateError("inputTooLong")
    try:
        checked = [wire.BulkItem.model_validate(item).model_dump() for item in items]
    except ValidationError as error:
        raise StateError("invalidInput", wire.problems(error)) from None
    op_id = s.bulk.submit(kind, checked)
    location = str(c.request.base_url).rstrip("/") + f"/api/v2/bulk/operations/{op_id}"
    return _empty(202, {"Location": location})


def bulk_add(s: Services, c: Call) -> Response:
    return _submit(s, c, "addUsersToGroups")


def bulk_remove(s: Services, c: Call) -> Response:
    return _submit(s, c, "removeUsersFromGroups")


def list_operations(s: Services, c: Call) -> Response:
    allowed = {"createdAt": frozenset({"lt", "gte"}), "status": frozenset({"eq"}),
               "type": frozenset({"eq"})}
    return _listing(s, c, s.bulk.operations(), size="bulk_operations",
                    key=lambda o: (o["_id"],), render=lambda o: o, allowed=allowed, fields=dict)


def get_operation(s: Services, c: Call) -> Response:
    op_id = _object_id(c.params["bulkOperationId"], "bulkOperationNotFound")
    return _json(s.bulk.operation(op_id))


def operation_results(s: Services, c: Call) -> Response:
    op_id = _object_id(c.params["bulkOperationId"], "bulkOperationNotFound")
    return _json(s.bulk.results(op_id))


_U, _G, _B = "/api/v2/users", "/api/v2/groups", "/api/v2/bulk"
#: Literal segments before parameters where both could match.
ROUTES = (
    Route("GET", _U, "users:read", list_users),
    Route("POST", _U, "users:write", create_user),
    Route("GET", _U + "/{userId}", "users:read", get_user),
    Route("PATCH", _U + "/{userId}", "users:write", update_user),
    Route("DELETE", _U + "/{userId}", "users:write", delete_user),
    Route("PUT", _U + "/{userId}/activate", "users:write", activate_user),
    Route("GET", _U + "/{userId}/roles", "users:read", user_roles),
    Route("GET", _U + "/{userId}/managers", "users:read", list_managers),
    Route("POST", _U + "/{userId}/managers/{managerId}", "users:write", add_manager),
    Route("DELETE", _U + "/{userId}/managers/{managerId}", "users:write", remove_manager),
    Route("GET", _U + "/{userId}/subordinates", "users:read", list_subordinates),
    Route("GET", _U + "/{userId}/custom-fields/values", "users:read", get_values),
    Route("PUT", _U + "/{userId}/custom-fields/values", "users:write", put_values),
    Route("GET", _G, "groups:read", list_groups),
    Route("GET", _G + "/{groupId}", "groups:read", get_group),
    Route("GET", _G + "/{groupId}/roles", "groups:read", group_roles),
    Route("POST", _G + "/{groupId}/{role}/{userId}", "groups:write", add_role),
    Route("DELETE", _G + "/{groupId}/{role}/{userId}", "groups:write", remove_role),
    Route("GET", "/api/v2/custom-fields", "customFields:read", list_fields),
    Route("POST", "/api/v2/custom-fields", "customFields:write", create_field),
    Route("PATCH", "/api/v2/custom-fields/{customFieldId}", "customFields:write", rename_field),
    Route("DELETE", "/api/v2/custom-fields/{customFieldId}", "customFields:write", delete_field),
    Route("GET", "/api/v2/external-ids", "externalIds:read", list_mappings),
    Route("POST", "/api/v2/external-ids", "externalIds:write", create_mapping),
    Route("PUT", "/api/v2/external-ids/{mappingId}", "externalIds:write", update_mapping),
    Route("DELETE", "/api/v2/external-ids/{mappingId}", "externalIds:write", delete_mapping),
    Route("POST", _B + "/groups/memberships", "groups:bulk", bulk_add, "bulk"),
    Route("DELETE", _B + "/groups/memberships", "groups:bulk", bulk_remove, "bulk"),
    Route("GET", _B + "/operations", "bulkOperations:read", list_operations),
    Route("GET", _B + "/operations/{bulkOperationId}", "bulkOperations:read", get_operation),
    Route("GET", _B + "/operations/{bulkOperationId}/results", "bulkOperations:read",
          operation_results),
)


# --- webhook subscriptions (360learning-webhook-api.openapi.json) ------------------------


def _subscription_id(c: Call) -> str:
    return _object_id(c.params["subscriptionId"], "subscriptionNotFound")


def create_subscription(s: Services, c: Call) -> Response:
    body = c.model(wire.InputSubscription)
    if body.eventType not in EVENT_TYPES:
        raise StateError("invalidRequest", "eventType must be one of the documented types.")
    return _json(s.hooks.create(body.eventType, body.name, body.url), 201)


def list_subscriptions(s: Services, c: Call) -> Response:
    return _listing(s, c, s.hooks.all(), size="subscriptions", key=lambda d: (d["_id"],),
                    render=lambda d: d, fields=dict, allowed={"eventType": _STRING_OPS})


def get_subscription(s: Services, c: Call) -> Response:
    return _json(s.hooks.get(_subscription_id(c)))


def update_subscription(s: Services, c: Call) -> Response:
    body = c.model(wire.PatchSubscription)
    changes = {name: getattr(body, name) for name in body.model_fields_set
               if getattr(body, name) is not None}
    return _json(s.hooks.update(_subscription_id(c), changes))


def delete_subscription(s: Services, c: Call) -> Response:
    s.hooks.delete(_subscription_id(c))
    return _empty()


def subscription_events(s: Services, c: Call) -> Response:
    allowed = {"createdAt": frozenset({"lt", "gte"}), "status": frozenset({"eq"})}
    return _listing(s, c, s.hooks.events(_subscription_id(c)), size="webhook_events",
                    key=lambda e: (e["seq"],), allowed=allowed, fields=dict,
                    render=lambda e: {k: v for k, v in e.items() if k != "seq"})


def subscription_secret(s: Services, c: Call) -> Response:
    return _json({"secret": s.hooks.secret(_subscription_id(c))})


def rotate_secret(s: Services, c: Call) -> Response:
    return _json({"secret": s.hooks.rotate(_subscription_id(c))}, 201)


def _retry(s: Services, c: Call, status: str) -> Response:
    subscription_id = _object_id(c.params["subscriptionId"], "activeSubscriptionNotFound")
    body = c.model(wire.RetryEvents)
    start, end = (dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
                  for v in (body.startDate, body.endDate))
    if end <= start or end - start > dt.timedelta(days=3):
        raise StateError("invalidRetryTimeframe")
    s.hooks.retry(subscription_id, body.startDate, body.endDate, status)
    return _empty()


def retry_failures(s: Services, c: Call) -> Response:
    return _retry(s, c, "failed")


def retry_successes(s: Services, c: Call) -> Response:
    return _retry(s, c, "delivered")


_W = "/api/v2/webhooks/subscriptions"
_ONE = _W + "/{subscriptionId}"
#: Kept apart from ``ROUTES``: its own document and its own conformance test.
WEBHOOK_ROUTES = (
    Route("POST", _W, "webhooks:write", create_subscription),
    Route("GET", _W, "webhooks:read", list_subscriptions),
    Route("GET", _ONE, "webhooks:read", get_subscription),
    Route("PATCH", _ONE, "webhooks:write", update_subscription),
    Route("DELETE", _ONE, "webhooks:write", delete_subscription),
    Route("GET", _ONE + "/events", "webhooks:read", subscription_events),
    Route("POST", _ONE + "/events/retry-failure", "webhooks:write", retry_failures),
    Route("POST", _ONE + "/events/retry-success", "webhooks:write", retry_successes),
    Route("GET", _ONE + "/secrets", "webhookSecrets:read", subscription_secret),
    Route("POST", _ONE + "/secrets/rotate", "webhookSecrets:write", rotate_secret),
)
