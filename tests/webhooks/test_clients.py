"""The two webhook management clients against answers outside the documents: a fake API at the
transport (httpx's ``MockTransport``), so each malformed or refused answer is exactly the one named."""

from __future__ import annotations

from collections.abc import Callable
from secrets import token_hex
from typing import Any

import httpx
import pytest

from personio360.errors import ApiUnavailable, AuthError, MalformedResponse, Rejected
from personio360.learning360 import Learning360Client
from personio360.learning360.webhooks import Learning360Webhooks
from personio360.personio.webhooks import PersonioWebhooks

SECRET = f"psec-Wombat-{token_hex(8)}"  # made per run: no credential is written in the repository
WEBHOOK_TOKEN = f"pwt-{token_hex(8)}"
Handler = Callable[[httpx.Request], httpx.Response]
HOOK = {"id": "0b5f", "url": "https://sync.example.com/hooks/personio", "description": "personio360 (test)",
        "status": "ENABLED", "auth_type": "TOKEN", "enabled_events": ["person.created"]}


def _personio(routes: dict[tuple[str, str], Handler]) -> tuple[PersonioWebhooks, list[str]]:
    """A client whose API answers the token call, then ``routes`` by (method, path); calls are kept."""
    calls: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        if request.url.path == "/v2/auth/token":
            assert request.headers["content-type"] == "application/x-www-form-urlencoded"
            return httpx.Response(200, json={"access_token": token_hex(8), "token_type": "Bearer",
                                             "expires_in": 86400})
        return routes[(request.method, request.url.path)](request)

    http = httpx.Client(base_url="https://api.personio.test", transport=httpx.MockTransport(handle))
    return PersonioWebhooks(http, client_id="cid", client_secret=SECRET), calls


def _json(status: int, body: Any, **headers: str) -> Handler:
    return lambda _request: httpx.Response(status, json=body, headers=headers)


def test_a_list_without_its_data_envelope_is_malformed() -> None:
    """``GET /v2/webhooks`` without v2's ``_data`` envelope: MalformedResponse naming it, no values."""
    client, _ = _personio({("GET", "/v2/webhooks"): _json(200, {"data": [HOOK]})})
    with pytest.raises(MalformedResponse, match="_data") as caught:
        list(client.iter_webhooks())
    assert caught.value.path == "/v2/webhooks"
    assert "sync.example.com" not in str(caught.value)


def test_an_answer_that_is_not_json_is_malformed() -> None:
    """An HTML page where JSON belongs (a proxy's error page): MalformedResponse, not a crash."""
    client, _ = _personio({("GET", "/v2/webhooks/0b5f"): lambda _r: httpx.Response(
        200, text="<html>maintenance</html>", headers={"content-type": "text/html"})})
    with pytest.raises(MalformedResponse, match="expected JSON"):
        client.get_webhook("0b5f")


def test_an_activity_entry_without_its_delivery_flag_is_malformed() -> None:
    """An activity entry lacking ``is_delivered`` cannot say whether Personio delivered."""
    page = {"_data": [{"completed_at": "2026-01-01T10:00:00Z"}], "_meta": {"links": {}}}
    client, _ = _personio({("GET", "/v2/webhooks/0b5f/activity"): _json(200, page)})
    with pytest.raises(MalformedResponse, match="is_delivered"):
        list(client.iter_activity("0b5f"))


def test_pages_follow_the_next_link_and_a_repeated_page_stops() -> None:
    """Cursor pages are followed; a next link that comes back to a page already read is a loop."""
    def pages(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        nxt = {"href": "https://api.personio.test/v2/webhooks?cursor=b"}  # page b names itself next
        item = {**HOOK, "id": cursor or "a"}
        return httpx.Response(200, json={"_data": [item], "_meta": {"links": {"next": nxt}}})

    client, calls = _personio({("GET", "/v2/webhooks"): pages})
    with pytest.raises(MalformedResponse, match="same page twice"):
        list(client.iter_webhooks())
    assert calls.count("GET /v2/webhooks") == 2


def test_a_next_link_to_another_host_is_refused() -> None:
    """The bearer token never follows a next link off the API's host."""
    page = {"_data": [HOOK], "_meta": {"links": {"next": {"href": "https://evil.test/v2/webhooks?cursor=x"}}}}
    client, calls = _personio({("GET", "/v2/webhooks"): _json(200, page)})
    with pytest.raises(MalformedResponse, match="another host"):
        list(client.iter_webhooks())
    assert calls.count("GET /v2/webhooks") == 1


def test_a_single_webhook_may_come_inside_data() -> None:
    """Create answers 201 with the webhook bare or inside ``_data``; both are read."""
    client, _ = _personio({("POST", "/v2/webhooks"): _json(201, {"_data": HOOK})})
    created = client.create_webhook(url=HOOK["url"], description="personio360 (test)",  # type: ignore[arg-type]
                                    enabled_events=["person.created"], token=WEBHOOK_TOKEN)
    assert created.id == "0b5f"
    assert created.enabled


def test_missing_webhook_scopes_name_them_in_the_fix() -> None:
    """403 on the management API: AuthError whose fix names personio:webhooks:read and :write."""
    body = {"personio_trace_id": "t-1", "errors": [{"title": "Forbidden", "detail": "missing scope"}]}
    client, _ = _personio({("GET", "/v2/webhooks"): _json(403, body)})
    with pytest.raises(AuthError) as caught:
        list(client.iter_webhooks())
    assert "personio:webhooks:read" in str(caught.value.hint)
    assert caught.value.request_id == "t-1"


def test_refused_credentials_on_the_v2_token_are_an_auth_error_without_the_secret() -> None:
    """400 invalid_client from ``/v2/auth/token``: AuthError with the credentials fix; no secret shown."""
    def refuse(_request: httpx.Request) -> httpx.Response:
        body = {"error": "invalid_client", "error_description": "bad client", "trace_id": "t-2"}
        return httpx.Response(400, json=body, headers={"content-type": "application/problem+json"})

    http = httpx.Client(base_url="https://api.personio.test", transport=httpx.MockTransport(refuse))
    client = PersonioWebhooks(http, client_id="cid", client_secret=SECRET)
    with pytest.raises(AuthError) as caught:
        list(client.iter_webhooks())
    assert caught.value.code == "invalid_client"
    assert "PERSONIO_CLIENT_SECRET" in str(caught.value.hint)
    assert SECRET not in str(caught.value) + repr(client)


def test_r14_a_create_that_failed_mid_way_is_sent_once() -> None:
    """A 503 to POST /v2/webhooks is not retried (it may have landed): ApiUnavailable(maybe_applied)."""
    client, calls = _personio({("POST", "/v2/webhooks"): _json(503, {"errors": [{"title": "down"}]})})
    with pytest.raises(ApiUnavailable) as caught:
        client.create_webhook(url=HOOK["url"], description="d", enabled_events=["person.created"],  # type: ignore[arg-type]
                              token=WEBHOOK_TOKEN)
    assert caught.value.maybe_applied
    assert calls.count("POST /v2/webhooks") == 1


def _lms(routes: dict[tuple[str, str], Handler]) -> Learning360Webhooks:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/oauth2/token":
            return httpx.Response(200, json={"access_token": token_hex(8), "token_type": "Bearer",
                                             "expires_in": 3600})
        assert request.headers["360-api-version"] == "v2.0"
        return routes[(request.method, request.url.path)](request)

    http = httpx.Client(base_url="https://app.360learning.test", transport=httpx.MockTransport(handle))
    Learning360Client(http, client_id="lid", client_secret=token_hex(8))
    return Learning360Webhooks(http)


SUB = {"_id": "507f1f77bcf86cd799439011", "eventType": "user.updated", "name": "n",
       "url": "https://sync.example.com/hooks/360learning", "status": "active"}


def test_360_subscriptions_follow_the_link_header() -> None:
    """The subscription list pages by ``Link: <…>; rel="next"`` like every 360Learning list."""
    def pages(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("page") == "2":
            return httpx.Response(200, json=[{**SUB, "_id": "507f1f77bcf86cd799439012"}])
        link = '</api/v2/webhooks/subscriptions?page=2>; rel="next"'
        return httpx.Response(200, json=[SUB], headers={"Link": link})

    client = _lms({("GET", "/api/v2/webhooks/subscriptions"): pages})
    assert [s.id[-2:] for s in client.iter_subscriptions()] == ["11", "12"]


def test_360_a_subscription_without_an_id_is_malformed() -> None:
    """A subscription lacking ``_id`` cannot be updated or deleted later: MalformedResponse."""
    client = _lms({("GET", "/api/v2/webhooks/subscriptions"): _json(200, [{k: v for k, v in SUB.items()
                                                                            if k != "_id"}])})
    with pytest.raises(MalformedResponse, match="_id"):
        list(client.iter_subscriptions())


def test_360_missing_secret_scope_is_named() -> None:
    """403 on ``…/secrets``: AuthError naming webhookSecrets:read (the client's table lacks it)."""
    forbidden = {"error": {"code": "invalid_scope", "message": "no"}}
    client = _lms({("GET", f"/api/v2/webhooks/subscriptions/{SUB['_id']}/secrets"): _json(403, forbidden)})
    with pytest.raises(AuthError) as caught:
        client.get_secret(SUB["_id"])
    assert "webhookSecrets:read" in str(caught.value)
    assert "webhookSecrets:read" in str(caught.value.hint)


def test_360_an_existing_subscription_is_rejected_with_its_code() -> None:
    """400 subscriptionAlreadyExists keeps the API's code, for setup to re-read instead of failing."""
    exists = {"error": {"code": "subscriptionAlreadyExists", "message": "exists"}}
    client = _lms({("POST", "/api/v2/webhooks/subscriptions"): _json(400, exists)})
    with pytest.raises(Rejected) as caught:
        client.create_subscription(event_type="user.updated", name="n", url=SUB["url"])
    assert caught.value.code == "subscriptionAlreadyExists"


def test_360_events_keep_only_type_and_user() -> None:
    """An event's payload is reduced to its type and userId: mails and names stay out."""
    event = {"_id": "msg_1", "createdAt": "2026-01-01T10:00:00.000Z", "status": "delivered",
             "payload": {"type": "user.updated", "timestamp": 1, "data": {"userId": "u1", "mail": "a@b.c"}}}
    client = _lms({("GET", f"/api/v2/webhooks/subscriptions/{SUB['_id']}/events"): _json(200, [event])})
    [read] = list(client.iter_events(SUB["_id"]))
    assert (read.type, read.user_id, read.status) == ("user.updated", "u1", "delivered")
    assert "a@b.c" not in repr(read)
