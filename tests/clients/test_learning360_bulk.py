"""Bulk memberships: submit, poll with back-off, results, limits and the bulk API's own errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from personio360.domain import BulkMembership, GroupRole
from personio360.emulators.faults import Fault
from personio360.emulators.learning360 import Learning360Emulator
from personio360.emulators.server import RunningServer
from personio360.errors import ApiUnavailable, NotFound, RateLimited
from personio360.learning360 import Learning360Client

MakeClient = Callable[..., Learning360Client]
MakeEmulator = Callable[..., Learning360Emulator]
MEMBERSHIPS = "/api/v2/bulk/groups/memberships"


def _members(emulator: Learning360Emulator, count: int) -> tuple[str, list[BulkMembership]]:
    group = emulator.state.add_group("Bulk")
    users = [emulator.state.add_user(f"b{n}@example.com") for n in range(count)]
    return group.id, [BulkMembership(group.id, u.id) for u in users]


def test_run_bulk_memberships_adds_then_removes(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """A bulk add lands every membership, one result per item; a bulk remove undoes it."""
    group_id, items = _members(emulator, 25)
    done = client.run_bulk_memberships(items, sleep=lambda _: emulator.bulk.wait_idle())
    assert done.status == "completed"
    assert done.done
    assert [r.index for r in done.results] == list(range(25))
    assert all(r.ok for r in done.results)
    assert {(r.user_id, r.role) for r in emulator.state.roles_of_group(group_id)} == {
        (i.user_id, "learner") for i in items}
    removed = client.run_bulk_memberships(items, remove=True,
                                          sleep=lambda _: emulator.bulk.wait_idle())
    assert removed.status == "completed"
    assert emulator.state.roles_of_group(group_id) == []


def test_bulk_item_errors_are_reported_per_item(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """An item that fails is a result with ok=False and the API's message; the others land."""
    group_id, items = _members(emulator, 2)
    bad = BulkMembership("0123456789abcdef01234567", items[0].user_id)
    done = client.run_bulk_memberships([items[0], bad, items[1]],
                                       sleep=lambda _: emulator.bulk.wait_idle())
    assert [r.ok for r in done.results] == [True, False, True]
    assert done.results[1].message
    assert GroupRole(group_id, items[1].user_id, "learner") in emulator.state.roles_of_group(
        group_id)


def test_polls_back_off_until_the_operation_ends(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """While the operation waits, each poll waits longer than the last; then results are read."""
    _, items = _members(emulator, 3)
    emulator.bulk.pause()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 4:
            emulator.bulk.resume()
            emulator.bulk.wait_idle()

    done = client.run_bulk_memberships(items, poll_interval=1.0, sleep=sleep)
    assert done.status == "completed"
    assert waits == sorted(waits)
    assert waits[0] == 1.0
    assert waits[-1] > waits[0]
    assert emulator.stats.by_endpoint["GET /api/v2/bulk/operations/{bulkOperationId}"] == 5


def test_poll_gives_up_after_the_timeout(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """A never-ending operation is ApiUnavailable(maybe_applied) once the waits hit the timeout."""
    _, items = _members(emulator, 1)
    emulator.bulk.pause()
    waits: list[float] = []
    with pytest.raises(ApiUnavailable) as caught:
        client.run_bulk_memberships(items, poll_interval=1.0, timeout=10.0, sleep=waits.append)
    assert caught.value.maybe_applied
    assert sum(waits) >= 10.0
    assert len(waits) < 10
    emulator.bulk.resume()


def test_get_bulk_operation_and_results(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """The submitted id reads back as an operation and, once run, as results."""
    _, items = _members(emulator, 2)
    operation_id = client.submit_bulk_memberships(items)
    emulator.bulk.wait_idle()
    operation = client.get_bulk_operation(operation_id)
    assert (operation.id, operation.status, operation.results) == (operation_id, "completed", ())
    assert [r.ok for r in client.iter_bulk_results(operation_id)] == [True, True]


def test_unknown_bulk_operation_is_not_found(client: Learning360Client) -> None:
    """An unknown operation id is NotFound ``bulkOperationNotFound``."""
    with pytest.raises(NotFound) as caught:
        client.get_bulk_operation("0123456789abcdef01234567")
    assert caught.value.code == "bulkOperationNotFound"


def test_more_than_20000_items_are_refused_before_sending(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """Splitting is the caller's job: over 20,000 items is a ValueError and no call."""
    items = [BulkMembership(emulator.state.root_group_id, emulator.state.owner_id)] * 20_001
    with pytest.raises(ValueError, match="20000"):
        client.submit_bulk_memberships(items)
    assert emulator.stats.count("bulk") == 0


def test_a_429_on_submit_is_retried(
    make_emulator: MakeEmulator, make_client: MakeClient
) -> None:
    """A 429 on submit (no write happened) is retried and the operation then runs."""
    emu = make_emulator(faults=[Fault(kind="status", status=429, path=MEMBERSHIPS, count=1,
                                      retry_after=1)])
    _, items = _members(emu, 2)
    client = make_client(emu.url, check_responses=False)
    done = client.run_bulk_memberships(items, sleep=lambda _: emu.bulk.wait_idle())
    assert done.status == "completed"
    assert emu.faults.injected["status_429"] == 1


def test_concurrency_limit_is_retried_then_reported(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """With three operations unfinished, submit retries the 429, then says RateLimited."""
    _, items = _members(emulator, 1)
    emulator.bulk.pause()
    for _ in range(3):
        client.submit_bulk_memberships(items)
    with pytest.raises(RateLimited):
        client.submit_bulk_memberships(items)
    assert emulator.stats.by_status[429] == 3  # every attempt of the test policy
    emulator.bulk.resume()
    emulator.bulk.wait_idle()
    assert client.submit_bulk_memberships(items)


def _disabled_bulk_api() -> Starlette:
    """A 360Learning stand-in whose bulk API is off (503 ``bulkAPIDisabled``)."""

    async def token(_: Request) -> Response:
        return JSONResponse({"token_type": "Bearer", "access_token": "tok-bulk-off",
                             "expires_in": 3600})

    async def memberships(_: Request) -> Response:
        return JSONResponse({"error": {"code": "bulkAPIDisabled",
                                       "message": "The bulk API is temporarily disabled."}},
                            status_code=503)

    return Starlette(routes=[Route("/api/v2/oauth2/token", token, methods=["POST"]),
                             Route(MEMBERSHIPS, memberships, methods=["POST", "DELETE"])])


@pytest.mark.parametrize("remove", [False, True])
def test_bulk_api_disabled_is_a_clear_error(
    serve: Callable[[object], RunningServer], make_client: MakeClient, remove: bool
) -> None:
    """503 ``bulkAPIDisabled`` says the bulk API is off and how to turn it on."""
    server = serve(_disabled_bulk_api())
    client = make_client(server.url, check=False)
    item = BulkMembership("0123456789abcdef01234567", "0123456789abcdef01234568")
    with pytest.raises(ApiUnavailable) as caught:
        client.submit_bulk_memberships([item], remove=remove)
    assert caught.value.code == "bulkAPIDisabled"
    assert "disabled" in str(caught.value)
    assert caught.value.hint is not None
    assert "enable the bulk API" in caught.value.hint
    assert not caught.value.maybe_applied
