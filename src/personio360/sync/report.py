"""What a run did: the RunReport, its outcome and its exit code (SPEC §2)."""

from __future__ import annotations

__all__ = ["Outcome", "RunReport"]

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from personio360.sync.operations import EmployeeError, Operation


class Outcome(StrEnum):
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed with errors"
    HELD_BACK = "completed, deletions held back"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def exit_code(self) -> int:
        return {"completed": 0, "stopped": 3}.get(self.value, 1)


@dataclass(frozen=True, slots=True)
class RunReport:
    run_id: int | None
    outcome: Outcome
    started_at: dt.datetime
    ended_at: dt.datetime
    applied: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    errors: tuple[EmployeeError, ...] = ()
    held_back: tuple[Operation, ...] = ()
    message: str | None = None
    hint: str | None = None
    planned: int = 0
    #: ``full`` or ``changes`` (R17), and how many employees a changes run covered
    kind: str = "full"
    covered: int | None = None

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code

    @property
    def duration(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "kind": self.kind, "outcome": self.outcome.value,
            "covered": self.covered,
            "started_at": self.started_at.isoformat(), "ended_at": self.ended_at.isoformat(),
            "duration_s": round(self.duration, 3), "planned": self.planned,
            "applied": self.applied, "failed": self.failed,
            "errors": [e.to_dict() for e in self.errors],
            "held_back": [op.to_dict() for op in self.held_back],
            "message": self.message, "hint": self.hint,
        }
