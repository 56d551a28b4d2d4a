"""A short seeded slice of the chaos suite (``make chaos`` runs 200 cases, then 30 R17 ones): each
case syncs a generated company through the real CLI under faults and SIGKILLs, then fault-free,
and must end exactly where a fault-free reference run ends, with every violation count at 0
(R13, R14, R6); the R17 case does so through webhooks and killed changes runs (R17)."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks import chaos_changes
from benchmarks.chaos import VIOLATIONS, _touched, make_case, run_case

#: initial sync under faults with a kill after a write; kills before and after writes with lost
#: responses and drops; an initial sync killed twice; deactivating leavers with token expiry.
SLICE = [1, 23, 39, 11]
#: R17: a changes run killed mid-run; dropped, duplicated and delayed deliveries; forgeries and
#: replays (about 10 s: two or three CLI subprocesses)
CHANGES_SLICE = [6]


@pytest.mark.parametrize("number", SLICE)
def test_a_chaos_case_converges_to_the_reference(number: int, tmp_path: Path) -> None:
    """Faults and kills, then one fault-free sync: the reference's state, and no violation."""
    case = make_case(number)
    result = run_case(case, tmp_path)
    assert {name: result.violations[name] for name in VIOLATIONS} == dict.fromkeys(VIOLATIONS, 0), (
        result.notes
    )
    assert sum(result.faults.values()) > 0
    assert sum(result.exits.values()) == len(case.kills)


@pytest.mark.parametrize("number", CHANGES_SLICE)
def test_a_changes_chaos_case_converges_to_the_reference(number: int, tmp_path: Path) -> None:
    """Webhook faults, forgeries and killed changes runs: the cursor and events move only with
    completed runs, nothing forged is recorded, and the end state is the reference's."""
    case = chaos_changes.make_case(number)
    result = chaos_changes.run_case(case, tmp_path)
    names = chaos_changes.VIOLATIONS
    assert {name: result.violations[name] for name in names} == dict.fromkeys(names, 0), result.notes
    assert result.kills > 0
    assert result.faults["replayed_stale_timestamp"] > 0


def test_the_harness_sees_every_user_a_write_names() -> None:
    """Path ids, manager ids, external-id targets, bulk items and a create's mail all count."""
    user, manager = "65003000000000000000000a", "65003000000000000000000b"
    assert _touched((1, "PATCH", f"/api/v2/users/{user}", b"{}")) == {user}
    assert _touched((1, "POST", f"/api/v2/users/{user}/managers/{manager}", b"")) == {user, manager}
    assert _touched((1, "DELETE", f"/api/v2/groups/{manager}/learner/{user}", b"")) == {user}
    assert _touched((1, "POST", "/api/v2/external-ids", b'{"targetId": "%s"}' % user.encode())) == {user}
    assert _touched(
        (
            1,
            "POST",
            "/api/v2/bulk/groups/memberships",
            b'{"input": [{"userId": "%s", "groupId": "g"}]}' % user.encode(),
        )
    ) == {user}
    assert _touched((1, "POST", "/api/v2/users", b'{"mail": " Trainer@X.example "}')) == {"trainer@x.example"}
