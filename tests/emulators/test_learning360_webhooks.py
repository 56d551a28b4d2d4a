"""The 360Learning emulator's webhook subscriptions API and its signed user.* deliveries (R17).

Real HTTP throughout: the emulator on loopback, a receiver (``conftest``) on another port.
Management exchanges are validated against ``360learning-webhook-api.openapi.json`` with
``tests/openapi_check.py`` (openapi-core); delivery bodies against the document's
``webhooks`` section (JSON Schema); signatures with ``standardwebhooks`` itself. Retry delays
are compressed and tests wait through ``POST /_emulator/deliveries/wait``, never by sleeping.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from conftest import Receiver
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from standardwebhooks import Webhook, WebhookVerificationError

from personio360.emulators.learning360 import Learning360Emulator
from personio360.emulators.learning360.routes import WEBHOOK_ROUTES

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from openapi_check import API_DIR, OpenApiCheck

DOCUMENT = "360learning-webhook-api.openapi.json"
_SPEC = json.loads((API_DIR / DOCUMENT).read_text(encoding="utf-8"))
_REGISTRY: Registry[Any] = Registry().with_resource(
    "urn:webhooks", Resource.from_contents(_SPEC, default_specification=DRAFT202012))
_CHECK = OpenApiCheck(DOCUMENT)
SUBS = "/api/v2/webhooks/subscriptions"


def check_delivery(body: dict[str, Any]) -> None:
    """Validate a delivered body against ``webhooks[type].post.requestBody`` of the document."""
    wrapped = {"$ref": f"urn:webhooks#/webhooks/{body['type']}"
                       "/post/requestBody/content/application~1json/schema"}
    jsonschema.Draft202012Validator(wrapped, registry=_REGISTRY,
                                    format_checker=jsonschema.FormatChecker()).validate(body)


def _validated(response: httpx.Response) -> None:
    if response.request.url.path.startswith(SUBS):
        if response.status_code < 400:
            _CHECK.validate_request(response.request)
        _CHECK.validate_response(response.request, response)


@pytest.fixture
def lms() -> Iterator[Learning360Emulator]:
    with Learning360Emulator(rate_limits=False, time_scale=1e6, webhook_timeout=0.3) as emu:
        yield emu


@pytest.fixture
def api(lms: Learning360Emulator) -> Iterator[httpx.Client]:
    """An authenticated client whose every webhook API exchange is held to the document."""
    with httpx.Client(base_url=lms.url, event_hooks={"response": [_validated]}) as client:
        token = client.post("/api/v2/oauth2/token", json={
            "grant_type": "client_credentials", "client_id": lms.client_id,
            "client_secret": lms.client_secret}).json()["access_token"]
        client.headers.update({"Authorization": f"Bearer {token}", "360-api-version": "v2.0"})
        yield client


def subscribe(api: httpx.Client, receiver: Receiver, event_type: str,
              suffix: str = "") -> dict[str, Any]:
    response = api.post(SUBS, json={"eventType": event_type, "name": "personio360",
                                    "url": receiver.url + suffix})
    assert response.status_code == 201, response.text
    return dict(response.json())


def secret_of(api: httpx.Client, sub: dict[str, Any]) -> str:
    return str(api.get(f"{SUBS}/{sub['_id']}/secrets").json()["secret"])


def settle(api: httpx.Client) -> None:
    state = api.post("/_emulator/deliveries/wait", params={"timeout": 10}).json()
    assert state["idle"], state


def hand_create(api: httpx.Client, mail: str = "ada@acme.example") -> str:
    response = api.post("/_emulator/users", json={"mail": mail, "firstName": "Ada",
                                                  "lastName": "Lovelace"})
    assert response.status_code == 201, response.text
    return str(response.json()["_id"])


# --- management ----------------------------------------------------------------------------


def test_every_webhook_operation_conforms(api: httpx.Client, receiver: Receiver) -> None:
    """Each documented operation answers as the document says (validated by the hook)."""
    sub = subscribe(api, receiver, "user.updated")
    assert sub["status"] == "active"
    one = f"{SUBS}/{sub['_id']}"
    assert api.get(SUBS, params={"eventType[eq]": "user.updated"}).json() == [sub]
    assert api.get(SUBS, params={"eventType[ne]": "user.updated"}).json() == []
    assert api.get(one).json() == sub
    assert api.patch(one, json={"name": "renamed"}).json()["name"] == "renamed"
    assert api.get(f"{one}/secrets").json()["secret"].startswith("whsec_")
    rotated = api.post(f"{one}/secrets/rotate")
    assert rotated.status_code == 201
    assert api.get(f"{one}/events", params={"status[eq]": "delivered"}).json() == []
    window = {"startDate": "2026-01-01T00:00:00.000Z", "endDate": "2026-01-02T00:00:00.000Z"}
    assert api.post(f"{one}/events/retry-failure", json=window).status_code == 204
    assert api.post(f"{one}/events/retry-success", json=window).status_code == 204
    assert api.delete(one).status_code == 204
    assert api.get(one).json()["error"]["code"] == "subscriptionNotFound"
    seen = {(m, t) for m, t, _ in _CHECK.seen}
    assert {(r.method, r.template) for r in WEBHOOK_ROUTES} <= seen


def test_documented_errors(api: httpx.Client, receiver: Receiver) -> None:
    """subscriptionAlreadyExists, urlUnreachable, subscriptionNotFound, invalidRetryTimeframe,
    activeSubscriptionNotFound, in the document's shapes."""
    sub = subscribe(api, receiver, "user.deleted")
    again = api.post(SUBS, json={"eventType": "user.deleted", "name": "x", "url": receiver.url})
    assert again.json()["error"]["code"] == "subscriptionAlreadyExists"
    http = api.post(SUBS, json={"eventType": "user.deleted", "name": "x",
                                "url": "http://sync.example.com/hooks"})
    assert http.json()["error"]["code"] == "urlUnreachable"
    missing = api.get(f"{SUBS}/0123456789abcdef01234567/secrets")
    assert missing.status_code == 404
    one = f"{SUBS}/{sub['_id']}"
    too_long = {"startDate": "2026-01-01T00:00:00.000Z", "endDate": "2026-01-05T00:00:00.000Z"}
    assert api.post(f"{one}/events/retry-failure",
                    json=too_long).json()["error"]["code"] == "invalidRetryTimeframe"
    api.patch(one, json={"status": "inactive"})
    window = {"startDate": "2026-01-01T00:00:00.000Z", "endDate": "2026-01-02T00:00:00.000Z"}
    inactive = api.post(f"{one}/events/retry-failure", json=window)
    assert inactive.json()["error"]["code"] == "activeSubscriptionNotFound"


def test_scopes_and_token_are_required(lms: Learning360Emulator) -> None:
    """No token: 401 invalid_token; a credential without webhookSecrets:read: 403."""
    headers = {"360-api-version": "v2.0"}
    assert httpx.get(f"{lms.url}{SUBS}", headers=headers).json() == {"error": "invalid_token"}
    with Learning360Emulator(rate_limits=False, scopes={"webhooks:read",
                                                        "webhooks:write"}) as narrow:
        token = httpx.post(f"{narrow.url}/api/v2/oauth2/token", json={
            "grant_type": "client_credentials", "client_id": narrow.client_id,
            "client_secret": narrow.client_secret}).json()["access_token"]
        auth = {**headers, "Authorization": f"Bearer {token}"}
        created = httpx.post(f"{narrow.url}{SUBS}", headers=auth, json={
            "eventType": "user.updated", "name": "n", "url": "https://x.example.com/h"}).json()
        response = httpx.get(f"{narrow.url}{SUBS}/{created['_id']}/secrets", headers=auth)
        assert response.status_code == 403


# --- signed deliveries ---------------------------------------------------------------------


def test_a_hand_edit_is_delivered_signed(api: httpx.Client, receiver: Receiver) -> None:
    """user.updated after an administrator's edit: Standard Webhooks headers, a signature
    ``standardwebhooks`` verifies, a body the document's schema accepts."""
    user_id = hand_create(api)
    sub = subscribe(api, receiver, "user.updated")
    api.patch(f"/_emulator/users/{user_id}", json={"lastName": "Byron"})
    settle(api)
    (request,) = receiver.requests
    body = Webhook(secret_of(api, sub)).verify(request.body, request.headers)
    assert body["type"] == "user.updated"
    assert body["data"]["userId"] == user_id
    assert body["data"]["lastName"] == "Byron"
    assert isinstance(body["timestamp"], int)
    assert body["timestamp"] > 1_700_000_000_000  # milliseconds
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["webhook-timestamp"].isdigit()
    assert request.headers["webhook-signature"].startswith("v1,")
    check_delivery(body)
    events = api.get(f"{SUBS}/{sub['_id']}/events").json()
    assert [(e["_id"], e["status"]) for e in events] == [
        (request.headers["webhook-id"], "delivered")]


def test_a_wrong_secret_does_not_verify(api: httpx.Client, receiver: Receiver) -> None:
    user_id = hand_create(api)
    subscribe(api, receiver, "user.deleted")
    api.delete(f"/_emulator/users/{user_id}")
    settle(api)
    (request,) = receiver.requests
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB").verify(request.body,
                                                                      request.headers)


@pytest.mark.parametrize("event_type", ["user.created", "user.deleted", "user.reactivated"])
def test_lifecycle_events_by_hand(api: httpx.Client, receiver: Receiver,
                                  event_type: str) -> None:
    """Creation, deletion and reactivation by an administrator each emit their event."""
    subscribe(api, receiver, event_type)
    user_id = hand_create(api)
    api.delete(f"/_emulator/users/{user_id}")
    api.post(f"/_emulator/users/{user_id}/reactivate")
    settle(api)
    assert receiver.events() == [event_type]
    body = receiver.bodies[0]
    assert body["data"]["userId"] == user_id
    check_delivery(body)


def test_api_changes_emit_only_when_switched_on(api: httpx.Client, receiver: Receiver) -> None:
    """A PATCH through the API emits nothing by default; with the switch on it does."""
    user_id = hand_create(api)
    subscribe(api, receiver, "user.updated")
    api.patch(f"/api/v2/users/{user_id}", json={"job": "Engineer"})
    settle(api)
    assert receiver.requests == []
    assert api.put("/_emulator/webhooks/api-changes", json={"enabled": True}).json() == {
        "enabled": True}
    api.patch(f"/api/v2/users/{user_id}", json={"job": "Architect"})
    settle(api)
    assert receiver.events() == ["user.updated"]
    assert receiver.bodies[0]["data"]["job"] == "Architect"


def test_an_unchanged_or_untracked_edit_emits_nothing(api: httpx.Client,
                                                      receiver: Receiver) -> None:
    """Only the documented fields fire user.updated, and only when they change."""
    user_id = hand_create(api)
    subscribe(api, receiver, "user.updated")
    api.patch(f"/_emulator/users/{user_id}", json={"firstName": "Ada"})
    settle(api)
    assert receiver.requests == []


def test_rotation_signs_with_both_secrets(lms: Learning360Emulator, api: httpx.Client,
                                          receiver: Receiver) -> None:
    """After a rotation a delivery carries two v1 signatures; each secret verifies it."""
    user_id = hand_create(api)
    sub = subscribe(api, receiver, "user.updated")
    old = secret_of(api, sub)
    new = api.post(f"{SUBS}/{sub['_id']}/secrets/rotate").json()["secret"]
    assert new != old
    assert secret_of(api, sub) == new
    api.patch(f"/_emulator/users/{user_id}", json={"lastName": "King"})
    settle(api)
    (request,) = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(request.body, request.headers)


def test_retries_keep_the_webhook_id(api: httpx.Client, receiver: Receiver) -> None:
    """500, 302, then 200: three requests, one webhook-id, any non-2xx retried."""
    sub = subscribe(api, receiver, "user.created")
    receiver.answers = [500, 302]
    hand_create(api)
    settle(api)
    assert len(receiver.requests) == 3
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert api.get(f"{SUBS}/{sub['_id']}/events").json()[0]["status"] == "delivered"


def test_4xx_is_retried_too_then_failed(lms: Learning360Emulator, api: httpx.Client,
                                        receiver: Receiver) -> None:
    """Unlike Personio, any rejection is retried: 8 attempts, then the event is failed."""
    sub = subscribe(api, receiver, "user.created")
    receiver.default = 400
    hand_create(api)
    settle(api)
    assert len(receiver.requests) == 8
    assert api.get(f"{SUBS}/{sub['_id']}/events",
                   params={"status[eq]": "failed"}).json()[0]["status"] == "failed"


def test_a_timeout_is_a_failure(api: httpx.Client, receiver: Receiver) -> None:
    subscribe(api, receiver, "user.created")
    receiver.answers = [("hang", 0.6)]
    hand_create(api)
    settle(api)
    assert len(receiver.requests) == 2


def test_retry_failure_replays_failed_events(api: httpx.Client, receiver: Receiver) -> None:
    """A failed event replayed through retry-failure reaches a receiver that is back."""
    sub = subscribe(api, receiver, "user.created")
    receiver.default = 503
    hand_create(api)
    settle(api)
    receiver.reset()
    event = api.get(f"{SUBS}/{sub['_id']}/events").json()[0]
    day = event["createdAt"][:10]
    api.post(f"{SUBS}/{sub['_id']}/events/retry-failure",
             json={"startDate": f"{day}T00:00:00.000Z", "endDate": f"{day}T23:59:59.000Z"})
    settle(api)
    assert [r.headers["webhook-id"] for r in receiver.requests] == [event["_id"]]


def test_persistent_failure_makes_the_subscription_inactive(lms: Learning360Emulator,
                                                            api: httpx.Client,
                                                            receiver: Receiver) -> None:
    """All attempts failing for 5 (compressed) days set the subscription inactive."""
    lms.deliveries.time_scale = 1e7  # 5 days = 43 ms
    sub = subscribe(api, receiver, "user.created")
    receiver.default = 500
    for n in range(200):
        hand_create(api, f"u{n}@acme.example")
        settle(api)
        if api.get(f"{SUBS}/{sub['_id']}").json()["status"] == "inactive":
            break
    assert api.get(f"{SUBS}/{sub['_id']}").json()["status"] == "inactive"
    before = len(receiver.requests)
    hand_create(api, "after@acme.example")
    settle(api)
    assert len(receiver.requests) == before
    assert api.patch(f"{SUBS}/{sub['_id']}", json={"status": "active"}).json()[
        "status"] == "active"


def test_delivery_faults_apply_to_360_too(api: httpx.Client, receiver: Receiver) -> None:
    """A duplicate carries the same webhook-id (the receiver's dedupe key)."""
    subscribe(api, receiver, "user.created")
    api.put("/_emulator/faults", json={"faults": [{"kind": "delivery_duplicate"}]})
    hand_create(api)
    settle(api)
    assert len(receiver.requests) == 2
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1


def test_stats_do_not_count_deliveries(lms: Learning360Emulator, api: httpx.Client,
                                       receiver: Receiver) -> None:
    """Outgoing deliveries are not API calls: the call counters ignore them."""
    subscribe(api, receiver, "user.created")
    api.post("/_emulator/stats/reset")
    hand_create(api)
    settle(api)
    assert api.get("/_emulator/stats").json()["by_kind"] == {}
    assert api.get("/_emulator/deliveries").json()["counts"]["delivered"] == 1
