"""The written call budget holds for a small company: counts of calls, never their timing (issues 5, 13)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import stamina
from benchmarks.budget import LIMITS, floor, limit_seconds, no_change_reads, pages
from benchmarks.changes import percentile, split_reads
from benchmarks.scenarios import counts

from personio360.config import load_config
from personio360.emulators.sandbox import Sandbox
from personio360.sync.run import run_sync
from personio360.sync.run_changes import run_changes
from personio360.wiring import open_context


@pytest.fixture(autouse=True)
def _stamina_testing() -> Iterator[None]:
    """Retries without waiting."""
    stamina.set_testing(True, attempts=3)
    yield
    stamina.set_testing(False)


def test_an_initial_then_a_no_change_sync_spend_exactly_the_budget(tmp_path: Path) -> None:
    """At most four writes per synced employee at first; then zero writes and exactly the budgeted reads."""
    with Sandbox(tmp_path, size=120, seed=5, rate_limits=False) as sb:
        settings = load_config(sb.config_path)
        with open_context(settings, environ=sb.environ, rate_limit_factor=sb.client_rate_factor) as ctx:
            first = run_sync(settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01)
            synced = first.applied.get("create_user", 0) + first.applied.get("adopt_user", 0)
            initial_writes = sb.lms.stats.count("write")
            budget = no_change_reads(counts(sb, synced))
            sb.lms.stats.reset()
            sb.personio.stats.reset()
            second = run_sync(settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01)
        endpoints = {**sb.lms.stats.snapshot()["by_endpoint"], **sb.personio.stats.snapshot()["by_endpoint"]}

    assert synced > 100
    assert initial_writes <= 4 * synced + len(sb.custom_fields)
    assert second.applied == {}
    assert sb.lms.stats.count("write") == sb.lms.stats.count("bulk") == 0
    reads = {e: n for e, n in endpoints.items() if e.startswith("GET ")}
    assert reads == budget
    assert budget["GET /api/v2/users/{userId}/managers"] == synced


def test_the_floor_is_the_slowest_limit_scaled_by_the_factor() -> None:
    """A token bucket passes its burst at once, then its rate; limits of different kinds overlap."""
    assert limit_seconds(50, LIMITS["360 reads"]) == 0.0
    assert limit_seconds(550, LIMITS["360 reads"]) == 10.0
    assert limit_seconds(1_010, LIMITS["360 writes"]) == 100.0
    assert limit_seconds(315, LIMITS["Personio list"]) == 20.0  # 300 a minute after the burst
    assert floor({"360 reads": 550, "360 writes": 1_010, "Personio list": 100}) == (100.0, "360 writes")
    assert floor({"360 reads": 5_500, "360 writes": 10_100}, factor=10) == (100.0, "360 writes")
    assert pages(0, 500) == 1
    assert pages(1_001, 1_000) == 2


def test_r17_a_changes_run_spends_one_personio_read_and_four_reads_an_employee(tmp_path: Path) -> None:
    """The bench's R17 split: one list call, fixed reads apart, four per employee, one write per edit."""
    with Sandbox(tmp_path, size=120, seed=5, rate_limits=False) as sb:
        settings = load_config(sb.config_path)
        with open_context(settings, environ=sb.environ, rate_limit_factor=sb.client_rate_factor) as ctx:
            run_sync(settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01)
            links = ctx.store.links.active()
            bosses = {e.get("supervisor") for e in sb.personio.state.employees()}
            edited = [i for i in sorted(links) if i not in bosses][:6]
            for employee_id in edited:
                position = sb.personio.state.employee(employee_id).get("position") or "Clerk"
                sb.personio.state.update(employee_id, position=f"{position} (edited)")
            sb.lms.stats.reset()
            sb.personio.stats.reset()
            report = run_changes(settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01)
            lms, personio = sb.lms.stats.snapshot(), sb.personio.stats.snapshot()
            sb.lms.stats.reset()
            sb.personio.stats.reset()
            idle = run_changes(settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01)

    assert report.covered == len(edited)
    assert personio["by_endpoint"] == {"GET /v1/company/employees": 1}
    fixed, per_person = split_reads(lms["by_endpoint"])
    assert fixed == 4  # groups, custom fields, R10's admin by mail and its roles
    assert per_person == 4 * len(edited)
    assert lms["by_endpoint"]["PATCH /api/v2/users/{userId}"] == lms["by_kind"]["write"] == len(edited)
    assert idle.run_id is None
    assert sb.lms.stats.snapshot()["by_kind"] == {}
    assert sb.personio.stats.snapshot()["by_endpoint"] == {"GET /v1/company/employees": 1}


def test_r17_percentile_is_the_nearest_rank() -> None:
    """p95 of 100 latencies is the 95th smallest; p50 of an odd count is its median."""
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
