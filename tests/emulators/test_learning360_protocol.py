"""The 360Learning emulator's protocol: tokens, version header, pagination, limits, faults, stats.

Driven over real HTTP with plain httpx; no sleeps (a zero token lifetime and a tiny
``rate_limit_factor`` stand in for waiting).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from personio360.emulators.faults import Fault
from personio360.emulators.learning360 import Learning360Emulator
from personio360.emulators.learning360.ratelimit import (
    READS_PER_SECOND,
    WRITES_PER_SECOND,
    TokenBucket,
)


@contextmanager
def _client(emu: Learning360Emulator) -> Iterator[httpx.Client]:
    """An httpx client holding a fresh token and the version header."""
    with httpx.Client(base_url=emu.url) as client:
        token = client.post("/api/v2/oauth2/token", json={
            "grant_type": "client_credentials", "client_id": emu.client_id,
            "client_secret": emu.client_secret}).json()["access_token"]
        client.headers.update({"Authorization": f"Bearer {token}", "360-api-version": "v2.0"})
        yield client


@pytest.fixture
def emu() -> Iterator[Learning360Emulator]:
    with Learning360Emulator(rate_limits=False) as emulator:
        yield emulator


@pytest.fixture
def api(emu: Learning360Emulator) -> Iterator[httpx.Client]:
    with _client(emu) as client:
        yield client


def test_token_lasts_an_hour_by_default_and_expires_after_its_ttl() -> None:
    """expires_in is 3600 by default; a token past its lifetime gets 401 invalid_token."""
    with Learning360Emulator(rate_limits=False) as emu:
        granted = httpx.post(f"{emu.url}/api/v2/oauth2/token", json={
            "grant_type": "client_credentials", "client_id": emu.client_id,
            "client_secret": emu.client_secret}).json()
        assert granted["expires_in"] == 3600
    with Learning360Emulator(rate_limits=False, token_ttl=0.0) as emu, _client(emu) as api:
        expired = api.get("/api/v2/users")
        assert (expired.status_code, expired.json()) == (401, {"error": "invalid_token"})


def test_missing_token_is_401_invalid_token(emu: Learning360Emulator) -> None:
    """A call without Authorization is 401 {"error": "invalid_token"}."""
    answer = httpx.get(f"{emu.url}/api/v2/users", headers={"360-api-version": "v2.0"})
    assert (answer.status_code, answer.json()) == (401, {"error": "invalid_token"})


@pytest.mark.parametrize("version", [None, "v1", "2.0"])
def test_version_header_is_required(api: httpx.Client, version: str | None) -> None:
    """Without 360-api-version: v2.0 every call but the token call is 400 invalidApiVersion."""
    headers = dict(api.headers)
    headers.pop("360-api-version")
    if version is not None:
        headers["360-api-version"] = version
    answer = httpx.get(api.base_url.join("/api/v2/users"), headers=headers)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalidApiVersion"


def _follow(api: httpx.Client, url: str) -> tuple[list[list[dict[str, str]]], list[str]]:
    pages, links = [], []
    while True:
        answer = api.get(url)
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        link = answer.headers.get("link")
        if link is None:
            return pages, links
        links.append(link)
        found = re.fullmatch(r'<([^>]+)>; rel="next"', link)
        assert found is not None
        url = str(answer.url.join(found.group(1)))


def test_users_are_paged_by_500_with_a_link_that_keeps_the_filters(
        api: httpx.Client, emu: Learning360Emulator) -> None:
    """Pages of 500 users; the relative Link URL carries only `next` yet keeps the filters."""
    for n in range(1100):
        emu.state.add_user(f"u{n}@example.com", status="invited" if n % 2 else "active")
    pages, links = _follow(api, "/api/v2/users?status[eq]=active")
    assert [len(p) for p in pages] == [500, 51]
    assert all(u["status"] == "active" for page in pages for u in page)
    assert len({u["_id"] for page in pages for u in page}) == 551
    assert links[0].startswith("</api/v2/users?next=")
    everyone, _ = _follow(api, "/api/v2/users")
    assert [len(p) for p in everyone] == [500, 500, 101]


def test_absolute_links_on_request(emu: Learning360Emulator) -> None:
    """absolute_links=True makes the Link URL absolute (a client must handle both)."""
    with Learning360Emulator(rate_limits=False, absolute_links=True) as absolute, \
            _client(absolute) as api:
        for n in range(501):
            absolute.state.add_user(f"u{n}@example.com")
        link = api.get("/api/v2/users").headers["link"]
        assert link.startswith(f"<{absolute.url}/api/v2/users?next=")


def test_external_ids_page_size_is_5000(api: httpx.Client, emu: Learning360Emulator) -> None:
    """External ids come 5,000 a page."""
    group = emu.state.add_group("G")
    user = emu.state.add_user("ada@example.com")
    for n in range(5001):
        emu.state.add_external_id(f"p{n}", "user" if n % 2 else "group",
                                  user.id if n % 2 else group.id, str(n))
    pages, _ = _follow(api, "/api/v2/external-ids")
    assert [len(p) for p in pages] == [5000, 1]


def test_a_forged_next_token_is_refused(api: httpx.Client) -> None:
    """A `next` token the emulator did not issue is 400."""
    assert api.get("/api/v2/users", params={"next": "not-a-token"}).status_code == 400


def test_rate_limits_answer_429_with_retry_after() -> None:
    """Over the (scaled) per-company limits: 429 tooManyRequests with Retry-After; the token
    call and the control surface are never limited (nor counted)."""
    with Learning360Emulator(rate_limit_factor=0.02) as emu, _client(emu) as api:
        assert api.get("/api/v2/users").status_code == 200
        limited = api.get("/api/v2/groups")
        assert (limited.status_code, limited.json()) == (429, {"error": "tooManyRequests"})
        assert limited.headers["retry-after"] == "1"
        root = emu.state.root_group_id
        owner = emu.state.owner_id
        assert api.post(f"/api/v2/groups/{root}/coach/{owner}").status_code == 204
        write = api.post(f"/api/v2/groups/{root}/coach/{owner}")
        assert write.status_code == 429
        assert write.headers["retry-after"] == "5"
        assert api.get("/_emulator/stats").status_code == 200
        assert emu.stats.snapshot()["by_status"] == {"200": 2, "204": 1, "429": 2}


def test_published_limits_hold_by_default() -> None:
    """By default a burst of 50 GETs passes and the limiter refuses the 51st in that second."""
    with Learning360Emulator() as emu, _client(emu) as api:
        assert all(api.get("/api/v2/groups").status_code == 200 for _ in range(50))
    now = [0.0]
    reads = TokenBucket(READS_PER_SECOND, clock=lambda: now[0])
    assert [reads.take() for _ in range(50)] == [0.0] * 50
    assert reads.take() == pytest.approx(0.02)
    now[0] = 0.02
    assert reads.take() == 0.0
    writes = TokenBucket(WRITES_PER_SECOND * 0.5, clock=lambda: now[0])
    assert [writes.take() > 0 for _ in range(6)] == [False] * 5 + [True]


def test_injected_status_drop_and_lost_response(api: httpx.Client,
                                                emu: Learning360Emulator) -> None:
    """Faults set through /_emulator/faults: a 503 with a body, a dropped connection, and a
    lost response whose write still lands."""
    faults = [{"kind": "status", "status": 503, "method": "GET", "path": "/groups$", "count": 1},
              {"kind": "drop", "method": "GET", "path": "/custom-fields$", "count": 1},
              {"kind": "lose_response", "method": "POST", "path": "/users$", "count": 1}]
    assert httpx.put(f"{emu.url}/_emulator/faults", json={"faults": faults, "seed": 1}).is_success
    failed = api.get("/api/v2/groups")
    assert failed.status_code == 503
    assert "error" in failed.json()
    assert api.get("/api/v2/groups").status_code == 200
    with pytest.raises(httpx.TransportError):
        api.get("/api/v2/custom-fields")
    with pytest.raises(httpx.TransportError):
        api.post("/api/v2/users", json={"mail": "lost@example.com", "membership": {
            "groupId": emu.state.root_group_id, "role": "learner"}})
    assert emu.state.user_by_mail("lost@example.com") is not None
    injected = httpx.get(f"{emu.url}/_emulator/stats").json()["faults_injected"]
    assert injected == {"status_503": 1, "drop": 1, "lose_response": 1}


def test_faults_given_at_construction_with_retry_after() -> None:
    """A constructor fault answers 429 with the documented body and Retry-After."""
    fault = Fault(kind="status", status=429, path="/users", count=1, retry_after=2)
    with Learning360Emulator(rate_limits=False, faults=[fault]) as emu, _client(emu) as api:
        answer = api.get("/api/v2/users")
        assert (answer.status_code, answer.json()) == (429, {"error": "tooManyRequests"})
        assert answer.headers["retry-after"] == "2"


def test_stats_count_calls_by_kind_and_endpoint_template(
        api: httpx.Client, emu: Learning360Emulator) -> None:
    """Calls are counted by kind and path template; reset clears them; control calls never count."""
    owner = emu.state.owner_id
    api.get(f"/api/v2/users/{owner}")
    api.patch(f"/api/v2/users/{owner}", json={"job": "CEO"})
    stats = httpx.get(f"{emu.url}/_emulator/stats").json()
    assert stats["by_kind"] == {"auth": 1, "read": 1, "write": 1}
    assert stats["by_endpoint"]["PATCH /api/v2/users/{userId}"] == 1
    assert httpx.post(f"{emu.url}/_emulator/stats/reset").status_code == 204
    assert httpx.get(f"{emu.url}/_emulator/stats").json()["by_kind"] == {}


def test_state_dump_shows_users_with_their_links(emu: Learning360Emulator) -> None:
    """GET /_emulator/users dumps users with roles, managers and custom values."""
    dump = httpx.get(f"{emu.url}/_emulator/users").json()
    assert dump["ownerId"] == emu.state.owner_id
    owner = next(u for u in dump["users"] if u["_id"] == dump["ownerId"])
    assert owner["roles"] == [{"groupId": dump["rootGroupId"], "role": "owner"}]
    assert owner["managers"] == []
    assert owner["customValues"] == []


def test_credentials_are_never_echoed(emu: Learning360Emulator) -> None:
    """A refused token request does not repeat the secret it was sent."""
    answer = httpx.post(f"{emu.url}/api/v2/oauth2/token", json={
        "grant_type": "client_credentials", "client_id": emu.client_id,
        "client_secret": 12345})
    assert answer.json() == {"error": "invalid_request"}
    assert "12345" not in answer.text
