"""R18's clients over real HTTP: the stats reader (pages, filters) and the Personio writer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from personio360.emulators.learning360 import Learning360Emulator
from personio360.emulators.personio import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_WRITE_CLIENT_ID,
    DEFAULT_WRITE_CLIENT_SECRET,
    PersonioEmulator,
)
from personio360.errors import AuthError, NotFound, Rejected
from personio360.http.ratelimit import RateLimiter
from personio360.learning360 import Learning360Client
from personio360.personio.writer import PersonioWriter

# as in the other client tests: not from conftest, a module name another folder's conftest can take
MakeClient = Callable[..., Learning360Client]


def test_path_stats_follow_every_page_with_the_filters(emulator: Learning360Emulator,
                                                       make_client: MakeClient) -> None:
    """iter_path_stats reads 2,000 a page, keeps pathId[in] and completedAt[gte] on every page."""
    learning = emulator.state.learning
    wanted, other = learning.add_path("Wanted"), learning.add_path("Other")
    users = [emulator.state.add_user(f"p{i}@example.com") for i in range(2500)]
    for index, user in enumerate(users):
        learning.complete_path(wanted.id, user.id, score=index % 101,
                               completed_at="2026-01-01T00:00:00.000Z" if index < 100 else None)
        learning.complete_path(other.id, user.id)
    client = make_client(emulator.url, check=False)
    emulator.stats.reset()
    everything = list(client.iter_path_stats([wanted.id]))
    assert len(everything) == 2500
    assert {c.item_id for c in everything} == {wanted.id}
    assert emulator.stats.count("read") == 2
    recent = list(client.iter_path_stats([wanted.id], completed_since="2026-06-01T00:00:00.000Z"))
    assert len(recent) == 2400
    assert all(c.kind == "path" and c.status == "successful" for c in recent)


def test_course_stats_are_attempts(emulator: Learning360Emulator, make_client: MakeClient) -> None:
    """iter_course_stats yields every attempt (500 a page) with its score and completion date."""
    learning = emulator.state.learning
    course = learning.add_course("Fire safety")
    user = emulator.state.add_user("c@example.com")
    learning.complete_course(course.id, user.id, score=40, completed_at="2026-01-01T00:00:00.000Z")
    learning.complete_course(course.id, user.id, score=90, completed_at="2026-02-01T00:00:00.000Z")
    client = make_client(emulator.url, check=False)  # openapi-core cannot read courseId[in] lists
    attempts = list(client.iter_course_stats([course.id]))
    assert [(a.score, a.completed_at, a.status) for a in attempts] == [
        (40, "2026-01-01T00:00:00.000Z", None), (90, "2026-02-01T00:00:00.000Z", None)]
    assert client.get_course(course.id).name == "Fire safety"
    with pytest.raises(NotFound):
        client.get_path("507f1f77bcf86cd799439011")


@pytest.fixture
def personio() -> PersonioEmulator:
    emulator = PersonioEmulator(rate_limits=False)
    emulator.state.define_attribute("dynamic_1000042", "Data protection done", "date")
    emulator.state.hire(id=7, first_name="Ada", email="ada@example.com")
    return emulator


@contextmanager
def _writer(url: str, client_id: str, secret: str) -> Iterator[PersonioWriter]:
    with httpx.Client(base_url=url) as http:
        yield PersonioWriter(http, client_id=client_id, client_secret=secret,
                             limiter=RateLimiter(None))


def test_writer_writes_a_custom_attribute(personio: PersonioEmulator) -> None:
    """update_custom_attributes lands the value; the token's scope says the writer may write."""
    with personio, _writer(personio.url, DEFAULT_WRITE_CLIENT_ID, DEFAULT_WRITE_CLIENT_SECRET) as writer:
        assert writer.may_write()
        writer.update_custom_attributes(7, {"dynamic_1000042": "2026-03-01"})
        assert "dynamic_1000042" in {a.key for a in writer.list_attributes()}
    assert personio.state.employee(7)["dynamic_1000042"].isoformat() == "2026-03-01"


def test_writer_with_the_read_credential_is_refused(personio: PersonioEmulator) -> None:
    """The read credential's token has no write scope and its PATCH is an AuthError with the fix."""
    with personio, _writer(personio.url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET) as writer:
        assert not writer.may_write()
        with pytest.raises(AuthError) as refused:
            writer.update_custom_attributes(7, {"dynamic_1000042": "2026-03-01"})
        assert "PERSONIO_WRITE_CLIENT_ID" in (refused.value.hint or "")
    assert personio.state.employee(7).get("dynamic_1000042") is None


def test_writer_refusals_are_typed(personio: PersonioEmulator) -> None:
    """A 422 is Rejected (one employee's error, R15), an unknown employee NotFound."""
    with personio, _writer(personio.url, DEFAULT_WRITE_CLIENT_ID, DEFAULT_WRITE_CLIENT_SECRET) as writer:
        with pytest.raises(Rejected):
            writer.update_custom_attributes(7, {"dynamic_1000042": "not a date"})
        with pytest.raises(NotFound):
            writer.update_custom_attributes(999, {"dynamic_1000042": "2026-03-01"})
