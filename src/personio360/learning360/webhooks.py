"""``Learning360Webhooks``: 360Learning's webhook subscriptions, their secrets and events (R17).

Follows ``shared/api/360learning-webhook-api.openapi.json`` (360learning-webhooks.md §1.1):
a subscription is ONE ``eventType`` + ``url`` (``{_id, eventType, name, url, status}``,
``status`` ``active | inactive``); lists page by ``Link`` (2,000 subscriptions, 250 events a
page); a signing secret is read with ``GET …/secrets`` (scope ``webhookSecrets:read``).
It reuses the 360Learning client's transport and token flow: it is built on the same
``httpx.Client`` a ``Learning360Client`` installed its ``Learning360Auth`` on. Choices where
the document is silent: an event's ``payload`` is the delivery body (``{type, timestamp,
data}``, §1.4), of which only the event type and ``data.userId`` are kept (the rest may be
personal data); secrets come back as ``SecretStr``, registered with the redaction helper.
"""

from __future__ import annotations

__all__ = [
    "EVENTS",
    "SUBSCRIPTION",
    "SUBSCRIPTIONS",
    "Learning360Webhooks",
    "LmsEvent",
    "LmsSubscription",
]

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from personio360.errors import ApiError, AuthError
from personio360.http.caller import ApiCaller
from personio360.http.ratelimit import LEARNING360_LIMITS, RateLimiter
from personio360.http.redact import register_secret
from personio360.http.retry import RetryPolicy
from personio360.learning360.client import Learning360Client
from personio360.learning360.status import SERVICE, map_status
from personio360.learning360.transport import Transport

SUBSCRIPTIONS = "/api/v2/webhooks/subscriptions"
SUBSCRIPTION = "/api/v2/webhooks/subscriptions/{subscriptionId}"
SECRETS = "/api/v2/webhooks/subscriptions/{subscriptionId}/secrets"
EVENTS = "/api/v2/webhooks/subscriptions/{subscriptionId}/events"

#: (method, template) -> the scope its OpenAPI description names; 403 hints name it.
SCOPES = {
    ("GET", SUBSCRIPTIONS): "webhooks:read",
    ("POST", SUBSCRIPTIONS): "webhooks:write",
    ("GET", SUBSCRIPTION): "webhooks:read",
    ("PATCH", SUBSCRIPTION): "webhooks:write",
    ("DELETE", SUBSCRIPTION): "webhooks:write",
    ("GET", SECRETS): "webhookSecrets:read",
    ("GET", EVENTS): "webhooks:read",
}


@dataclass(frozen=True, slots=True)
class LmsSubscription:
    """One 360Learning webhook subscription: one event type to one URL."""

    id: str
    event_type: str
    name: str
    url: str
    status: str

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class LmsEvent:
    """One event of a subscription (``EventDTO``): its delivery state, not its personal data."""

    id: str
    created_at: dt.datetime
    status: str
    type: str | None = None
    user_id: str | None = None


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _Subscription(_Wire):
    id: str = Field(alias="_id", min_length=1)
    event_type: str = Field(alias="eventType")
    name: str
    url: str
    status: str = "active"

    def to_domain(self) -> LmsSubscription:
        return LmsSubscription(self.id, self.event_type, self.name, self.url, self.status)


class _Event(_Wire):
    id: str = Field(alias="_id")
    created_at: dt.datetime = Field(alias="createdAt")
    status: str
    payload: dict[str, Any] = Field(default_factory=dict)

    def to_domain(self) -> LmsEvent:
        data = self.payload.get("data")
        user = data.get("userId") if isinstance(data, dict) else None
        kind = self.payload.get("type")
        when = self.created_at if self.created_at.tzinfo else self.created_at.replace(tzinfo=dt.UTC)
        return LmsEvent(self.id, when, self.status, kind if isinstance(kind, str) else None,
                        user if isinstance(user, str) else None)


class _Secret(_Wire):
    secret: SecretStr


class Learning360Webhooks:
    """The ``/api/v2/webhooks/subscriptions`` resources over an ``httpx.Client`` that carries
    360Learning's auth flow (``connect`` builds one; an injected one is the caller's)."""

    def __init__(self, http: httpx.Client, *, limiter: RateLimiter | None = None,
                 policy: RetryPolicy | None = None) -> None:
        self._http = http
        self._owned = False
        self._api = Transport(ApiCaller(http, service=SERVICE, map_status=_map_status, policy=policy,
                                        limiter=limiter or RateLimiter(LEARNING360_LIMITS)))

    @classmethod
    def connect(cls, base_url: str, client_id: str, client_secret: str, *,
                timeout: float = 30.0) -> Self:
        """A client on its own connection, authenticated by a ``Learning360Client``'s token flow."""
        http = httpx.Client(base_url=base_url, timeout=timeout)
        Learning360Client(http, client_id=client_id, client_secret=client_secret)  # installs its auth
        client = cls(http)
        client._owned = True
        return client

    def close(self) -> None:
        if self._owned:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Learning360Webhooks(base_url={str(self._http.base_url)!r})"

    # --- subscriptions ------------------------------------------------------------------------

    def iter_subscriptions(self, *, event_type: str | None = None) -> Iterator[LmsSubscription]:
        """Every subscription of the platform (2,000 a page), optionally of one ``eventType[eq]``."""
        params = {"eventType[eq]": event_type} if event_type else None
        for item in self._api.pages(SUBSCRIPTIONS, _Subscription, params=params):
            yield item.to_domain()

    def get_subscription(self, subscription_id: str) -> LmsSubscription:
        path = {"subscriptionId": subscription_id}
        return self._api.one("GET", SUBSCRIPTION, _Subscription, path).to_domain()

    def create_subscription(self, *, event_type: str, name: str, url: str) -> LmsSubscription:
        """201; 400 ``subscriptionAlreadyExists`` (same event type and URL), ``urlUnreachable``
        (the URL is probed) or ``subscriptionsLimitReached`` come back as ``Rejected`` with the code.
        Never re-sent after a lost answer: the caller lists before trying again (R14)."""
        body = {"eventType": event_type, "name": name, "url": url}
        response = self._api.call("POST", SUBSCRIPTIONS, json_body=body, ok=(201,))
        return self._api.parse(_Subscription, response, "POST", SUBSCRIPTIONS).to_domain()

    def update_subscription(self, subscription_id: str, *, name: str | None = None,
                            status: str | None = None, url: str | None = None) -> LmsSubscription:
        """Merge patch of ``PatchSubscriptionDTO``: only what is given is sent."""
        body = {k: v for k, v in (("name", name), ("status", status), ("url", url)) if v is not None}
        path = {"subscriptionId": subscription_id}
        return self._api.one("PATCH", SUBSCRIPTION, _Subscription, path, json_body=body).to_domain()

    def delete_subscription(self, subscription_id: str) -> None:
        self._api.call("DELETE", SUBSCRIPTION, path_params={"subscriptionId": subscription_id},
                       ok=(204,))

    def get_secret(self, subscription_id: str) -> SecretStr:
        """The subscription's signing secret (``SigningSecretDTO``); never printed or stored."""
        path = {"subscriptionId": subscription_id}
        secret = self._api.one("GET", SECRETS, _Secret, path).secret
        register_secret(secret.get_secret_value())
        return secret

    def iter_events(self, subscription_id: str, *, status: str | None = None,
                    since: dt.datetime | None = None) -> Iterator[LmsEvent]:
        """The subscription's events (250 a page; kept 90 days), filtered by ``status[eq]`` and
        ``createdAt[gte]`` (whose milliseconds the API sets to 0)."""
        params: dict[str, str] = {}
        if status is not None:
            params["status[eq]"] = status
        if since is not None:
            moment = since.astimezone(dt.UTC).replace(microsecond=0)
            params["createdAt[gte]"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        path = {"subscriptionId": subscription_id}
        for item in self._api.pages(EVENTS, _Event, path_params=path, params=params or None):
            yield item.to_domain()


def _map_status(response: httpx.Response, method: str, template: str) -> ApiError:
    """The client's status map, with the webhook scopes named in 403 hints (its table lacks them)."""
    error = map_status(response, method, template)
    scope = SCOPES.get((method.upper(), template))
    if isinstance(error, AuthError) and response.status_code == 403 and scope:
        return AuthError(f"the access token lacks the scope {scope}", service=error.service,
                         method=error.method, path=error.path, status=error.status,
                         code=error.code, request_id=error.request_id,
                         hint=f"give the 360Learning API credentials the scope {scope} "
                         "(ask 360Learning to enable webhooks scopes), or set the webhooks up by hand")
    return error
