"""The connector in production for the R17 benchmark: ``serve``'s app and its Timetable, in its own process.

``python -m benchmarks.serve_child CONFIG`` builds what ``personio360 serve`` builds in
production with changes on: the admin services (``Admin``), the app with the webhook
receivers (``create_app``) on 127.0.0.1, and the ``Timetable`` of ``Admin.schedule()`` in a
thread (changes runs every ``[changes] poll_every`` and within ``coalesce`` of a delivery).
The client paces at the published limits (factor 1), as in production.

One departure, said aloud: a Timetable starts with a full sync, which at the published limits
takes six minutes for 10,000 employees; the benchmark has just made that full sync (its churn
sync, into the same state store), so the Timetable's first one is that one: ``run_full`` is
replaced by a function that returns at once. The next full sync is 24 h away.

It prints ``{"url": ...}`` once serving, runs until its stdin closes, then prints a summary
of the runs the Timetable made (one JSON line each time).
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import sys
import threading
import time
from typing import Any

from personio360.config import load_config
from personio360.emulators.server import serve_in_thread
from personio360.scheduler import Timetable
from personio360.sync.report import Outcome, RunReport
from personio360.web.admin import Admin
from personio360.web.app import create_app
from personio360.wiring import open_context

PASSWORD = "benchmark password 360"


def _already_synced() -> RunReport:
    """The Timetable's first full sync: the benchmark's own, made just before (see above)."""
    now = dt.datetime.now(dt.UTC)
    return RunReport(run_id=None, outcome=Outcome.COMPLETED, started_at=now, ended_at=now,
                     message="the benchmark's full sync, made just before")


def main(config: str) -> int:
    settings = load_config(config)
    reports: list[dict[str, Any]] = []
    problems: list[str] = []
    with open_context(settings) as ctx:
        admin = Admin(settings, ctx)
        timetable = admin.schedule()
        assert isinstance(timetable, Timetable), "the R17 benchmark needs [changes] or [webhooks]"
        timetable.run_full = _already_synced
        timetable.on_report = lambda report: reports.append(_summary(report))
        timetable.on_problem = problems.append
        server = serve_in_thread(create_app(admin, PASSWORD))
        runner = threading.Thread(target=timetable.run_forever, name="timetable", daemon=True)
        runner.start()
        print(json.dumps({"url": server.url}), flush=True)
        try:
            sys.stdin.read()  # the benchmark closes it to stop us
        finally:
            admin.close()  # halts the Timetable; a run in progress finishes
            runner.join(timeout=60)
            server.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"reports": reports, "problems": problems,
                      "cpu_s": usage.ru_utime + usage.ru_stime}), flush=True)
    return 0


def _summary(report: RunReport) -> dict[str, Any]:
    return {"at": time.monotonic(), "kind": report.kind, "run_id": report.run_id,
            "outcome": report.outcome.value, "covered": report.covered,
            "duration_s": round(report.duration, 3), "applied": report.applied}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
