"""Many companies on one deployment (issue 15): 20 x 500 employees, first syncs, on 2 workers.

Each company has its own emulators (``scenarios.Bench``: both, at the **published** limits,
x1, with the same 20 ms a call as the other benchmarks), all served from this process: 40
uvicorn servers, one thread each, mostly waiting (a company's limits allow 60 calls a second).
The companies are registered in a fresh database of the machine's PostgreSQL, as
``companies add`` registers them, and two ``personio360 worker --concurrency 10`` processes
run their full syncs, deferred at once (``tasks.defer``, what ``companies sync`` calls).

Measured:

* **wall**: from the first job deferred to the last one finished, against the slowest
  company's **own floor** (``budget.floor`` over the calls its emulators answered, at its
  limits): side by side, the deployment should take little more than its slowest company
  alone (target 1.3x). Each run's own time (its store's ``runs``) is shown too.
* **memory**: each worker's peak RSS (``VmHWM``), after the first syncs and after the second
  (target 300 MB, and no growth from one to the other).
* **429s** answered by all the emulators, and the Personio calls, which all count against
  the deployment's one Personio budget (``service/limits.py``).
* **convergence**: a second full sync of every company, on the same workers, makes no write
  (its plan is empty: R14) and completes.

``python -m benchmarks.companies`` prints the figures as one JSON line (last on stdout);
without a PostgreSQL at ``$PERSONIO360_BENCH_POSTGRES`` (default ``127.0.0.1:5432/test``) it
prints ``{"skipped": why}`` and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.scenarios import Bench, Run
from personio360.service.companies import Registry
from personio360.service.database import Database, company_state_url, database_url
from personio360.service.sealing import SECRET_KEY_ENV, Sealer, new_key
from personio360.service.tasks import defer, jobs_of, opened
from personio360.store import open_store

ADMIN_URL = os.environ.get("PERSONIO360_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
#: targets (issue 15)
MAX_RATIO = 1.3
MAX_RSS_MB = 300.0
_DONE = ("succeeded", "failed", "cancelled", "aborted")
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def postgres_missing(url: str = ADMIN_URL) -> str | None:
    """Why no PostgreSQL can be used (None: one answered)."""
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"no PostgreSQL answered at {url} ({str(exc).strip().splitlines()[0]})"
    return None


@contextlib.contextmanager
def fresh_database(admin: str = ADMIN_URL) -> Iterator[str]:
    """A new database on the machine's PostgreSQL for one run, dropped after it."""
    name = f"p360_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin.rsplit('/', 1)[0]}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Workers:
    """``count`` ``personio360 worker`` processes; ``stop()`` ends them (SIGTERM, then SIGKILL)."""

    def __init__(self, env: dict[str, str], count: int, concurrency: int, logs: Path) -> None:
        self._logs = [(logs / f"worker-{n}.log").open("wb") for n in range(count)]
        self.procs = [subprocess.Popen([sys.executable, "-m", "personio360", "worker", "--concurrency",
                                        str(concurrency)], env=env, stdout=log, stderr=log)
                      for log in self._logs]

    def status(self, field: str) -> list[float]:
        """A ``/proc/PID/status`` figure of each worker, in MB (``VmHWM``: peak RSS; ``VmRSS``)."""
        out = []
        for proc in self.procs:
            line = next(x for x in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                        if x.startswith(f"{field}:"))
            out.append(int(line.split()[1]) / 1024)
        return out

    def cpu_s(self) -> list[float]:
        """CPU seconds (user + system) of each worker so far."""
        fields = [Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split() for p in self.procs]
        return [(int(f[11]) + int(f[12])) / _CLK_TCK for f in fields]

    def alive(self) -> bool:
        return all(proc.poll() is None for proc in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self._logs:
            log.close()


def _company_files(bench: Bench, name: str, directory: Path) -> tuple[Path, Path]:
    """The company's config without ``[state]`` and its secrets file (``companies add``'s input)."""
    head, _, tail = bench.sb.config_path.read_text(encoding="utf-8").partition("[state]")
    config = directory / f"{name}.toml"
    config.write_text(head + "\n".join(tail.splitlines()[2:]), encoding="utf-8")
    secrets_file = directory / f"{name}.env"
    secrets_file.write_text("".join(f"{k}={v}\n" for k, v in bench.sb.environ.items()), encoding="utf-8")
    return config, secrets_file


def _wait_for_workers(db: Database, count: int, workers: Workers, timeout: float = 120) -> None:
    """Until ``count`` workers have registered with the queue (so that none starts late)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(db.libpq_url) as conn:
        while True:
            row = conn.execute("SELECT count(*) FROM personio360.procrastinate_workers").fetchone()
            conn.commit()
            if row is not None and row[0] >= count:
                return
            if not workers.alive() or time.monotonic() > deadline:
                raise RuntimeError("the workers did not start (see their logs)")
            time.sleep(0.2)


def _round(app: Any, benches: dict[str, Bench], db: Database, timeout: float) -> dict[str, Any]:
    """One full sync of every company, deferred at once; the figures once every job has ended."""
    for bench in benches.values():
        bench.sb.lms.stats.reset()
        bench.sb.personio.stats.reset()
    started = time.monotonic()
    ids = {name: defer(app, name, "full")[0] for name in benches}
    while True:
        status = {row["id"]: row["status"] for row in jobs_of(app, None)}
        if all(status.get(i) in _DONE for i in ids.values()):
            break
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"the syncs did not end within {timeout:g} s: {status}")
        time.sleep(0.2)
    wall = time.monotonic() - started
    companies = {name: _company(name, bench, db, status[ids[name]]) for name, bench in benches.items()}
    return {"wall_s": round(wall, 2), "companies": companies}


def _company(name: str, bench: Bench, db: Database, job_status: str) -> dict[str, Any]:
    """One company's calls, floor and run (from its own store)."""
    run = Run(name, bench.size, 1.0, {}, bench.sb.lms.stats.snapshot(), bench.sb.personio.stats.snapshot())
    floor_s, binding = run.floor
    store = open_store(company_state_url(db.url, name))
    try:
        last = store.runs.recent(1)[0]
    finally:
        store.close()
    personio = sum(run.personio["by_endpoint"].values())
    return {"job": job_status, "calls": run.calls, "personio_calls": personio,
            "floor_s": round(floor_s, 2), "binding": binding,
            "run_s": round(last.duration or 0.0, 2), "outcome": last.outcome,
            "started_at": last.started_at.timestamp(),
            "ended_at": last.ended_at.timestamp() if last.ended_at else None}


def measure(*, companies: int = 20, size: int = 500, workers: int = 2, concurrency: int = 10,
            latency: float = 0.02, timeout: float = 1200) -> dict[str, Any]:
    """Register, sync twice, measure; every process and database is gone on return."""
    missing = postgres_missing()
    if missing:
        return {"skipped": missing}
    key = new_key()
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_database())
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-companies-")))
        db = Database(database_url(url))
        stack.callback(db.close)
        registry = Registry(db)
        sealer = Sealer.from_environ({SECRET_KEY_ENV: key})
        benches: dict[str, Bench] = {}
        for n in range(companies):
            name = f"company_{n:02d}"
            benches[name] = stack.enter_context(Bench(size, factor=1.0, latency=latency, seed=100 + n))
            config, secrets_file = _company_files(benches[name], name, tmp)
            registry.add(config, secrets_file, sealer, name=name)
        _log(f"{companies} companies of {size} registered, {2 * companies} emulators up")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PERSONIO", "LEARNING360"))}
        env.update({"PERSONIO360_DATABASE_URL": url, SECRET_KEY_ENV: key})
        pool = Workers(env, workers, concurrency, tmp)
        stack.callback(pool.stop)
        app = stack.enter_context(opened(db))
        _wait_for_workers(db, workers, pool)
        cpu_before, here_before = pool.cpu_s(), time.process_time()
        first = _round(app, benches, db, timeout)
        first["worker_cpu_s"] = [round(b - a, 1) for a, b in zip(cpu_before, pool.cpu_s(), strict=True)]
        first["emulators_cpu_s"] = round(time.process_time() - here_before, 1)
        first["worker_rss_mb"] = [round(x) for x in pool.status("VmRSS")]
        _log(f"first syncs: {first['wall_s']:.1f} s")
        second = _round(app, benches, db, timeout)
        second["worker_rss_mb"] = [round(x) for x in pool.status("VmRSS")]
        _log(f"second syncs: {second['wall_s']:.1f} s")
        peak = [round(x) for x in pool.status("VmHWM")]
        logs = [(tmp / f"worker-{n}.log").read_text(errors="replace")[-2000:] for n in range(workers)]
        return _figures(first, second, peak, companies=companies, size=size, workers=workers,
                        concurrency=concurrency, latency=latency, logs=logs)
    raise AssertionError("unreachable")  # pragma: no cover (ExitStack does not swallow)


def _figures(first: dict[str, Any], second: dict[str, Any], peak: Sequence[int], *, logs: list[str],
             **settings: Any) -> dict[str, Any]:
    """The figures and the verdicts."""
    rows = first["companies"]
    slowest = max(rows, key=lambda name: rows[name]["floor_s"])
    floor_s = rows[slowest]["floor_s"]
    ratio = first["wall_s"] / floor_s if floor_s else None
    kinds = next(iter(rows.values()))["calls"]
    calls = {kind: sum(r["calls"][kind] for r in rows.values()) for kind in kinds}
    converged = {name: r["calls"]["360 writes"] + r["calls"]["360 bulk"] == 0
                 and r["outcome"] in ("completed", "completed with errors") and r["job"] == "succeeded"
                 for name, r in second["companies"].items()}
    failed = sorted(name for name, r in rows.items() if r["job"] != "succeeded"
                    or r["outcome"] not in ("completed", "completed with errors"))
    span = max(r["ended_at"] or 0 for r in rows.values()) - min(r["started_at"] for r in rows.values())
    runs = sorted(r["run_s"] for r in rows.values())
    out = {
        **settings, "wall_s": first["wall_s"], "runs_span_s": round(span, 2),
        "slowest_floor_s": floor_s, "slowest_company": slowest, "binding": rows[slowest]["binding"],
        "ratio": round(ratio, 3) if ratio else None,
        "run_s": {"min": runs[0], "median": runs[len(runs) // 2], "max": runs[-1]},
        "calls": calls, "personio_calls": sum(r["personio_calls"] for r in rows.values()),
        "429s": calls["429s"] + sum(r["calls"]["429s"] for r in second["companies"].values()),
        "peak_rss_mb": list(peak), "rss_after_first_mb": first["worker_rss_mb"],
        "rss_after_second_mb": second["worker_rss_mb"], "worker_cpu_s": first["worker_cpu_s"],
        "emulators_cpu_s": first["emulators_cpu_s"], "second_wall_s": second["wall_s"],
        "second_writes": sum(r["calls"]["360 writes"] + r["calls"]["360 bulk"]
                             for r in second["companies"].values()),
        "converged": sum(converged.values()), "failed": failed, "companies_detail": rows,
    }
    out["targets"] = {
        "wall": {"target": f"wall <= {MAX_RATIO}x the slowest company's floor",
                 "met": ratio is not None and ratio <= MAX_RATIO},
        "memory": {"target": f"each worker's peak RSS <= {MAX_RSS_MB:g} MB",
                   "met": max(peak) <= MAX_RSS_MB},
        "converged": {"target": "every company synced: a second sync makes no write",
                      "met": not failed and all(converged.values())},
    }
    out["target_met"] = all(t["met"] for t in out["targets"].values())
    if not out["target_met"]:
        out["worker_log_tails"] = logs
    return out


def _log(message: str) -> None:
    print(f"  companies: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.companies",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--companies", type=int, default=20)
    parser.add_argument("--size", type=int, default=500, help="employees of each company")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=10, help="jobs each worker runs at once")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per call (default 0.02)")
    args = parser.parse_args(argv)
    figures = measure(companies=args.companies, size=args.size, workers=args.workers,
                      concurrency=args.concurrency, latency=args.latency)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
