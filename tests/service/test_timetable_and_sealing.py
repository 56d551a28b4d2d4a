"""The pure parts of a deployment (issue 15): each company's timetable, sealed credentials."""

from __future__ import annotations

import datetime as dt

import pytest

from personio360.errors import ConfigError
from personio360.service.sealing import Sealer, new_key
from personio360.service.timetable import due_jobs, next_slot, offset_of

NOW = dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)


def test_a_company_never_synced_is_due_at_once_then_on_its_own_slot() -> None:
    """The first full sync is due at once; the next falls on the company's offset slot, within the hour."""
    due = due_jobs("acme", NOW, full_every=HOUR, poll_every=MINUTE, next_full_at=None, next_poll_at=None)
    assert due.full
    assert not due.changes
    assert NOW < due.next_full_at <= NOW + HOUR
    slot = next_slot(due.next_full_at - dt.timedelta(seconds=1), HOUR, offset_of("acme", HOUR))
    assert slot == due.next_full_at, "on the company's own slot"


def test_nothing_is_due_twice_for_one_slot() -> None:
    """After a tick, the same instant defers nothing more; a poll falls due a minute on."""
    first = due_jobs("acme", NOW, full_every=HOUR, poll_every=MINUTE, next_full_at=None, next_poll_at=None)
    again = due_jobs("acme", NOW, full_every=HOUR, poll_every=MINUTE, next_full_at=first.next_full_at,
                     next_poll_at=first.next_poll_at)
    assert not again.full
    assert not again.changes
    assert first.next_poll_at is not None
    later = due_jobs("acme", first.next_poll_at, full_every=HOUR, poll_every=MINUTE,
                     next_full_at=first.next_full_at, next_poll_at=first.next_poll_at)
    assert later.changes or later.full


def test_companies_spread_over_the_interval() -> None:
    """500 companies on an hourly full sync start at many different minutes, not all at the top."""
    minutes = {int(offset_of(f"company_{i}", HOUR).total_seconds() // 60) for i in range(500)}
    assert len(minutes) >= 50
    assert offset_of("acme", HOUR) == offset_of("acme", HOUR), "stable on every worker"


def test_sealed_credentials_open_only_with_the_key_and_for_their_company() -> None:
    """AES-GCM: the right key opens; another key, or the sealed value moved to another company, does not."""
    key = new_key()
    sealer = Sealer.from_environ({"PERSONIO360_SECRET_KEY": key})
    sealed = sealer.seal("acme", {"PERSONIO_CLIENT_SECRET": "s3cr3t-value"})
    assert b"s3cr3t-value" not in sealed
    assert sealer.open("acme", sealed) == {"PERSONIO_CLIENT_SECRET": "s3cr3t-value"}
    with pytest.raises(ConfigError, match="company 'beta'"):
        sealer.open("beta", sealed)
    other = Sealer.from_environ({"PERSONIO360_SECRET_KEY": new_key()})
    with pytest.raises(ConfigError, match="company 'acme' do not open") as caught:
        other.open("acme", sealed)
    assert "s3cr3t" not in str(caught.value)
    assert "s3cr3t" not in repr(sealer)


@pytest.mark.parametrize("value", ["", "short", "!" * 44])
def test_a_missing_or_malformed_key_is_refused(value: str) -> None:
    """No key, or one that is not 32 bytes of URL-safe base64: a ConfigError saying how to make one."""
    with pytest.raises(ConfigError, match="PERSONIO360_SECRET_KEY"):
        Sealer.from_environ({"PERSONIO360_SECRET_KEY": value})


def test_the_tick_runs_every_five_seconds_in_every_minute() -> None:
    """procrastinate's 6th cron field is the seconds: the tick (periodic jobs, dead workers' jobs)
    runs every 5 s at any minute, not every second of every fifth minute."""
    import croniter

    from personio360.service.tasks import TICK_CRON

    runs = croniter.croniter(TICK_CRON, dt.datetime(2026, 5, 4, 10, 3, 1, tzinfo=dt.UTC))
    times = [runs.get_next(dt.datetime) for _ in range(3)]
    assert [t.strftime("%H:%M:%S") for t in times] == ["10:03:05", "10:03:10", "10:03:15"]
