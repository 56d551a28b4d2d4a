"""Bulk membership operations, applied asynchronously by a worker thread (bulk API).

``POST|DELETE /api/v2/bulk/groups/memberships`` answer 202 at once; the worker later moves
each operation ``pending -> queued -> running -> completed`` and applies its items one by
one through the state, recording a result per item. At most three operations may be
unfinished at a time (429 ``bulkOperationsConcurrencyLimitReached``). ``delay`` is how long
an operation runs (0 in tests); ``pause()``/``resume()``/``wait_idle()`` let tests hold
operations in flight without sleeping.
"""

from __future__ import annotations

__all__ = ["MAX_CONCURRENT", "MAX_ITEMS", "BulkRunner"]

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from personio360.emulators.learning360.errors import StateError
from personio360.emulators.learning360.state import Learning360State

MAX_CONCURRENT = 3
MAX_ITEMS = 20_000
_UNFINISHED = frozenset({"pending", "queued", "running"})


@dataclass
class _Operation:
    id: str
    type: str
    created_at: str
    items: list[dict[str, str]]
    status: str = "pending"
    times: dict[str, str] = field(default_factory=dict)
    index: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)


class BulkRunner:
    """The company's bulk operations and the one worker thread that runs them."""

    def __init__(self, state: Learning360State, *, delay: float = 0.0,
                 max_concurrent: int = MAX_CONCURRENT) -> None:
        self.state = state
        self.delay = delay
        self.max_concurrent = max_concurrent
        self._ops: dict[str, _Operation] = {}
        self._queue: deque[str] = deque()
        self._cond = threading.Condition()
        self._paused = False
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None

    # --- API side -----------------------------------------------------------------------

    def submit(self, kind: str, items: list[dict[str, str]]) -> str:
        """Queue ``addUsersToGroups`` or ``removeUsersFromGroups``; returns the id."""
        with self._cond:
            unfinished = sum(op.status in _UNFINISHED for op in self._ops.values())
            if unfinished >= self.max_concurrent:
                raise StateError("bulkOperationsConcurrencyLimitReached")
            op = _Operation(id=self.state.new_id(), type=kind, created_at=self.state.now(),
                            items=items)
            self._ops[op.id] = op
            self._queue.append(op.id)
            self._ensure_worker()
            self._cond.notify_all()
            return op.id

    def operation(self, op_id: str) -> dict[str, Any]:
        """The operation as ``Pending/Queued/Running/Completed/ErroredOperationDTO``."""
        with self._cond:
            return _dto(self._get(op_id))

    def results(self, op_id: str) -> list[dict[str, Any]]:
        with self._cond:
            op = self._get(op_id)
            if op.status in _UNFINISHED:
                raise StateError("bulkOperationNotRun")
            return list(op.results)

    def operations(self) -> list[dict[str, Any]]:
        with self._cond:
            return [_dto(op) for op in sorted(self._ops.values(), key=lambda o: o.id)]

    # --- test controls ------------------------------------------------------------------

    def pause(self) -> None:
        """Hold every operation not yet started (they stay ``pending``)."""
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no operation is unfinished (or ``timeout``); True when idle."""
        with self._cond:
            return self._cond.wait_for(
                lambda: all(op.status not in _UNFINISHED for op in self._ops.values()),
                timeout=timeout)

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    # --- worker -------------------------------------------------------------------------

    def _get(self, op_id: str) -> _Operation:
        if op_id not in self._ops:
            raise StateError("bulkOperationNotFound")
        return self._ops[op_id]

    def _ensure_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, daemon=True,
                                            name="learning360-bulk")
            self._worker.start()

    def _work(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                self._cond.wait_for(lambda: (bool(self._queue) and not self._paused)
                                    or self._stop.is_set())
                if self._stop.is_set():
                    return
                op = self._ops[self._queue.popleft()]
                op.status, op.times["queuedAt"] = "queued", self.state.now()
                op.status, op.times["startedAt"] = "running", self.state.now()
            if self.delay > 0:
                self._stop.wait(self.delay)
            results = [self._apply(op.type, item) for item in op.items]
            with self._cond:
                op.results = results
                op.index = max(0, len(op.items) - 1)
                op.status, op.times["endedAt"] = "completed", self.state.now()
                self._cond.notify_all()

    def _apply(self, kind: str, item: dict[str, str]) -> dict[str, Any]:
        try:
            if kind == "addUsersToGroups":
                self.state.add_role(item["groupId"], item["userId"], item["role"])
            else:
                self.state.remove_role(item["groupId"], item["userId"], item["role"])
        except StateError as error:
            return {"input": item, "status": "error", "errorMessage": error.message}
        return {"input": item, "status": "success", "resourceId": item["userId"]}


def _dto(op: _Operation) -> dict[str, Any]:
    dto: dict[str, Any] = {"_id": op.id, "type": op.type, "createdAt": op.created_at,
                           "status": op.status}
    for name in ("queuedAt", "startedAt", "endedAt"):
        if name in op.times:
            dto[name] = op.times[name]
    if op.status in ("running", "completed", "error"):
        dto["progress"] = {"index": op.index,
                           "updatedAt": op.times.get("endedAt", op.times["startedAt"])}
    return dto
