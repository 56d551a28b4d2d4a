"""One benchmarked sync in its own process: the engine's ``run_sync`` as the CLI runs it, timed.

The emulators run in the parent process, so the connector and the servers each have a core
and their CPU does not mix, and ``ru_maxrss`` of this process is the sync's own peak memory.
The client's pacing is scaled by the same factor as the emulators' limits (argument 2).
"""

from __future__ import annotations

import json
import resource
import sys
import time

from personio360.config import load_config
from personio360.sync.run import run_sync
from personio360.wiring import open_context


def main(config: str, factor: float) -> int:
    """Run one sync; print its figures as one JSON line on stdout."""
    settings = load_config(config)
    started = time.perf_counter()
    with open_context(settings, rate_limit_factor=factor) as ctx:
        report = run_sync(settings, ctx.personio, ctx.lms, ctx.store)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024, "outcome": report.outcome.value,
        "applied": report.applied, "failed": report.failed, "errors": len(report.errors),
        "planned": report.planned, "message": report.message,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2])))
