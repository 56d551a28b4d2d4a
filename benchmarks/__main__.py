"""``make bench``: a rate-limit-bound sync of 1,000 and 10,000 employees, measured (issue 5).

Runs the emulators with the published limits and ``--latency`` seconds of network latency on
every call: the 10,000-employee initial sync with every limit, the client's pacing included,
multiplied by ``--factor`` (at x1 it would take an hour); its no-change and churn syncs at
the published limits (x1, about six minutes each: at x10 they would measure how fast this
machine serves 500 calls a second more than the connector, issue 13). It prints ONE table:
per scenario, the wall time, the calls by kind, the floor those calls need at those limits
(``benchmarks/budget.py``), wall/floor, and the peak memory; then the calls per endpoint.
Planning alone for ``--plan-size`` employees is timed in CPU seconds (``benchmarks/planning.py``).
The figures go to ``benchmarks/results.json``.

The 1,000-employee initial sync runs at the real limits (10 writes/s: about six minutes), in
the background while the rest runs: it uses a few percent of a core (``--sequential`` runs
it alone first).

Then R17 (issue 13, ``benchmarks/changes.py``), on the large company as the churn sync left
it, at the published limits: latency from an HR edit to 360Learning through webhooks and
through polling, an idle poll's calls, and the calls of a changes run per changed employee.
``--only full`` skips it; ``--only r17`` runs only the large initial sync and R17.

Last, R18 (issue 16, ``benchmarks/writeback.py``, in a child process): write-back for
``--size`` employees with ``--completions`` new completions, in calls (the 360Learning reads
follow the pages of new completions, not the users; one Personio write per changed value).
``--only r18`` runs only that.

Then many companies (issue 15, ``benchmarks/companies.py``, in a child process): 20 companies of
500 employees, each with its own emulators at the published limits, first syncs run side by
side by two ``personio360 worker`` processes over the machine's PostgreSQL: wall time against
the slowest company's own floor, each worker's peak memory, 429s, and a second sync of each
that makes no write. Skipped, and said so, without a PostgreSQL. ``--only companies`` runs
only that.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import changes
from benchmarks.budget import no_change_reads
from benchmarks.scenarios import REPO, Bench, Run, churn

RESULTS = Path(__file__).with_name("results.json")
#: Targets (SPEC §6, issues 5 and 13).
MAX_RATIO = 1.1
MAX_PLAN_CPU_S = 1.0
MAX_PLAN_MB = 300.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per call (default 0.02)")
    parser.add_argument("--factor", type=float, default=10.0,
                        help="limit factor of the large scenarios (default 10)")
    parser.add_argument("--small", type=int, default=1000, help="employees of the real-limit run")
    parser.add_argument("--size", type=int, default=10_000, help="employees of the large runs")
    parser.add_argument("--plan-size", type=int, default=100_000, help="employees to plan")
    parser.add_argument("--churn", type=float, default=0.02, help="share of employees changed")
    parser.add_argument("--sequential", action="store_true", help="run the small sync alone")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--only", choices=("all", "full", "r17", "r18", "companies"), default="all",
                        help="full: the syncs and planning; r17: the large initial sync, then R17; "
                        "r18: the write-back alone; companies: many companies on two workers alone")
    parser.add_argument("--edits", type=int, default=100, help="R17: edits timed per way (default 100)")
    parser.add_argument("--poll", type=float, default=10.0, help="R17: poll_every in seconds (default 10)")
    parser.add_argument("--completions", type=int, default=2000,
                        help="R18: new completions to write back (default 2000)")
    parser.add_argument("--companies", type=int, default=20,
                        help="issue 15: companies synced side by side (default 20)")
    parser.add_argument("--company-size", type=int, default=500,
                        help="issue 15: employees of each company (default 500)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    load_before = os.getloadavg()
    runs: list[Run] = []
    notes: dict[str, Any] = {}

    print(f"benchmark: latency {args.latency * 1000:g} ms a call; {args.small} employees at the "
          f"published limits, {args.size} at limits x{args.factor:g} (follow-ups at x1)", flush=True)
    planning: dict[str, Any] = {"employees": 0, "plans": {}}
    if args.only == "r17":
        with Bench(args.size, factor=args.factor, latency=args.latency) as large:
            runs.append(large.sync(f"initial sync {args.size}"))
            _progress(runs[-1], started)
            notes["r17"] = _r17(large, args, started)
    elif args.only not in ("r18", "companies"):
        planning = _full(args, runs, notes, started)
    if args.only in ("all", "r18"):
        notes["r18"] = _r18(args, started)
    if args.only in ("all", "companies"):
        notes["companies"] = _companies(args, started)
    results = {
        "settings": {"latency_s": args.latency, "large_limit_factor": args.factor,
                     "python": platform.python_version(), "machine": platform.machine(),
                     "cpus": os.cpu_count(), "load_average": _load(load_before),
                     "total_s": round(time.monotonic() - started, 1)},
        "runs": [_verdict(run.to_dict()) for run in runs],
        "planning": _plan_verdict(planning),
        "churn": notes.get("churn", {}),
        "r17": notes.get("r17", {}),
        "r18": notes.get("r18", {}),
        "companies": notes.get("companies", {}),
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print()
    print(render(results))
    print(f"\nfigures written to {args.out} ({results['settings']['total_s']:.0f} s in all)")
    missed = [r["scenario"] for r in [*results["runs"], *results["planning"], *results["r17"].values(),
                                      *([results["r18"]] if results["r18"] else []),
                                      *([results["companies"]] if results["companies"] else [])]
              if r.get("target_met") is False]
    if missed:
        print(f"targets missed: {', '.join(missed)}")
    return 1 if missed and args.strict else 0


def _full(args: argparse.Namespace, runs: list[Run], notes: dict[str, Any], started: float) -> dict[str, Any]:
    """The full syncs (issue 5) and planning; then R17 on the large company unless ``--only full``."""
    with Bench(args.small, factor=1.0, latency=args.latency) as small:
        background = small.start_sync()
        if args.sequential:
            runs.append(small.finish_sync(f"initial sync {args.small}", background))
            _progress(runs[-1], started)
        planning = _plan(args.plan_size)
        print(f"  planning {args.plan_size}: done ({time.monotonic() - started:.0f} s)", flush=True)
        with Bench(args.size, factor=args.factor, latency=args.latency) as large:
            first = large.sync(f"initial sync {args.size}")
            _progress(first, started)
            if not args.sequential:
                runs.append(small.finish_sync(f"initial sync {args.small}", background))
                _progress(runs[-1], started)
            runs.append(first)
            followed = first.child["applied"].get("create_user", 0) + first.child["applied"].get(
                "adopt_user", 0)
            budget = no_change_reads(large.counts(followed))
            quiet = large.sync_published(f"no-change sync {args.size}")
            quiet.budget = budget
            runs.append(quiet)
            _progress(quiet, started)
            notes["churn"] = churn(large, share=args.churn)
            runs.append(large.sync_published(f"{args.churn:.0%} churn sync {args.size}"))
            _progress(runs[-1], started)
            if args.only == "all":
                notes["r17"] = _r17(large, args, started)
    return planning


def _r17(large: Bench, args: argparse.Namespace, started: float) -> dict[str, Any]:
    """R17's figures on the large company (``benchmarks/changes.py``)."""
    figures = changes.measure(large, edits=args.edits, poll=args.poll)
    for row in figures.values():
        print(f"  R17 {row.get('scenario', 'idle')}: {'met' if row['target_met'] else 'MISSED'} "
              f"({time.monotonic() - started:.0f} s)", flush=True)
    return figures


def _r18(args: argparse.Namespace, started: float) -> dict[str, Any]:
    """R18's calls (``benchmarks/writeback.py``), in a child process: its emulators hold
    ``--size`` employees and users of their own."""
    command = [sys.executable, "-m", "benchmarks.writeback", str(args.size), str(args.completions)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"write-back benchmark failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout)
    expected = figures["expected"]
    row = {"scenario": f"R18 write-back {figures['employees']:,}", **figures,
           "target": f"360 reads = {expected['learning360_reads']} (pages of new completions), Personio "
                     f"writes = {expected['personio_writes']} (changed values), then 0",
           "target_met": bool(figures["ok"])}
    print(f"  {row['scenario']}: {'met' if row['target_met'] else 'MISSED'} "
          f"({time.monotonic() - started:.0f} s)", flush=True)
    return row


def _companies(args: argparse.Namespace, started: float) -> dict[str, Any]:
    """Many companies on two workers (``benchmarks/companies.py``), in a child process: it hosts
    the companies' emulators, and the workers are processes of their own."""
    command = [sys.executable, "-m", "benchmarks.companies", "--companies", str(args.companies),
               "--size", str(args.company_size), "--latency", str(args.latency)]
    done = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"the companies benchmark failed ({done.returncode})")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if "skipped" in figures:
        print(f"  many companies: SKIPPED, {figures['skipped']}", flush=True)
        return figures
    figures["scenario"] = (f"{figures['companies']} companies x {figures['size']} on "
                           f"{figures['workers']} workers")
    print(f"  {figures['scenario']}: {'met' if figures['target_met'] else 'MISSED'} "
          f"({time.monotonic() - started:.0f} s)", flush=True)
    return figures


def _plan(size: int) -> dict[str, Any]:
    """Planning alone, in a child process so that its peak memory is its own."""
    done = subprocess.run([sys.executable, "-m", "benchmarks.planning", str(size)], cwd=REPO,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"planning {size} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _load(before: tuple[float, float, float]) -> str:
    """The 1-minute load average before and after: other work on the machine slows every run."""
    now = os.getloadavg()
    return f"{before[0]:.1f} at the start, {now[0]:.1f} at the end (15-minute average {now[2]:.1f})"


def _verdict(run: dict[str, Any]) -> dict[str, Any]:
    """Each run against its target: wall within 1.2x the floor; a no-change run within budget."""
    name = run["scenario"]
    if name.startswith("no-change"):
        reads = run["calls"]["360 reads"] + run["calls"]["Personio list"]
        run["budget_reads"] = sum(run["budget"].values())
        run["target"] = f"0 writes, reads <= {run['budget_reads']}"
        run["target_met"] = (run["calls"]["360 writes"] + run["calls"]["360 bulk"] == 0
                             and reads <= run["budget_reads"])
    else:
        run["target"] = f"wall <= {MAX_RATIO}x floor"
        run["target_met"] = run["ratio"] is not None and run["ratio"] <= MAX_RATIO
    return run


def _plan_verdict(planning: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, figures in planning["plans"].items():
        memory = figures["snapshot_mb"] + figures["plan_peak_mb"]
        out.append({
            "scenario": f"plan {name} {planning['employees']}", "employees": planning["employees"],
            **figures, "memory_mb": round(memory, 1), "peak_rss_mb": planning["peak_rss_mb"],
            "target": f"< {MAX_PLAN_CPU_S:g} s CPU, < {MAX_PLAN_MB:g} MB",
            "target_met": figures["cpu_s"] < MAX_PLAN_CPU_S and memory < MAX_PLAN_MB,
        })
    return out


def render(results: dict[str, Any]) -> str:
    """The one table (then the calls per endpoint) as plain text; R18 or the companies alone
    (``--only r18``, ``--only companies``): their rows only."""
    if not results["runs"] and not results["planning"]:
        alone = [*(render_r18(results["r18"]) if results.get("r18") else []),
                 *(render_companies(results["companies"]) if results.get("companies") else [])]
        return "\n".join(alone)
    head = ("scenario", "employees", "factor", "wall s", "360 reads", "360 writes", "bulk",
            "Personio", "429s", "floor s", "wall/floor", "seq floor s", "peak MB", "target")
    rows = [head]
    for run in results["runs"]:
        calls = run["calls"]
        rows.append((run["scenario"], f"{run['employees']:,}", f"x{run['limit_factor']:g}",
                     f"{run['wall_s']:.1f}", f"{calls['360 reads']:,}", f"{calls['360 writes']:,}",
                     f"{calls['360 bulk']}", f"{calls['Personio list']}", f"{calls['429s']}",
                     f"{run['floor_s']:.1f}", f"{run['ratio']:.2f}" if run["ratio"] else "-",
                     f"{run['floor_sequential_s']:.1f}", f"{run['peak_rss_mb']:.0f}", _mark(run)))
    for plan in results["planning"]:
        rows.append((plan["scenario"], f"{plan['employees']:,}", "-", f"cpu {plan['cpu_s']:.2f}",
                     "-", "-", "-", "-", "-", "-", "-", "-", f"{plan['memory_mb']:.0f}", _mark(plan)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("floor: the time the published limits need for those calls (360Learning 50 reads/s and "
                 "10 writes/s, Personio 300 list calls/min, bursts of 15/s), times the factor;")
    lines.append("the binding limit is the slowest of them. seq floor: the floor if every read must come "
                 "before the first write (run_sync writes while it reads, so it can beat it).")
    lines.append("Planning: CPU seconds of plan() (best of 3); memory = the snapshot it plans from + "
                 "plan()'s own peak (tracemalloc); peak MB of the sync runs: the child's max RSS.")
    for plan in results["planning"]:
        lines.append(f"  {plan['scenario']}: {plan['cpu_s']:.2f} s CPU ({plan['cpu_gc_frozen_s']:.2f} s "
                     f"with the snapshot gc.freeze()d), snapshot {plan['snapshot_mb']:.0f} MB + plan "
                     f"{plan['plan_peak_mb']:.0f} MB, {plan['operations']:,} operations")
    lines.append(f"load average of the machine: {results['settings']['load_average']}")
    if results["runs"]:
        lines += ["", *_per_endpoint(results["runs"])]
    if results.get("r17"):
        lines += ["", *render_r17(results["r17"])]
    if results.get("r18"):
        lines += ["", *render_r18(results["r18"])]
    if results.get("companies"):
        lines += ["", *render_companies(results["companies"])]
    return "\n".join(lines)


def _per_endpoint(runs: list[dict[str, Any]]) -> list[str]:
    """The calls of each run by endpoint, one column a run."""
    lines = ["calls per endpoint:"]
    names = [run["scenario"] for run in runs]
    endpoints = sorted({e for run in runs for e in run["endpoints"]}, key=lambda e: (e.split(" ", 1)[1], e))
    width = max(len(e) for e in endpoints)
    lines.append(" " * (width + 2) + "  ".join(n.rjust(max(len(n), 7)) for n in names))
    for endpoint in endpoints:
        cells = [f"{run['endpoints'].get(endpoint, 0):,}".rjust(max(len(n), 7))
                 for run, n in zip(runs, names, strict=True)]
        lines.append(endpoint.ljust(width + 2) + "  ".join(cells))
    return lines


def render_r18(r18: dict[str, Any]) -> list[str]:
    """R18's row (issue 16): the write-back's calls, first pass and second."""
    first, second = r18["first"], r18["second"]
    return [
        f"R18 write-back, {r18['employees']:,} employees: {r18['new_path_completions']:,} new path "
        f"completions ({r18['already_held']} already in Personio), {r18['old_path_completions']:,} older "
        f"ones, {r18['new_course_attempts']:,} course attempts",
        f"  first pass: 360Learning reads {first['learning360_reads']}, Personio writes "
        f"{first['personio_writes']} ({first['errors']} errors), {first['seconds']:g} s",
        f"  second pass: 360Learning reads {second['learning360_reads']}, Personio writes "
        f"{second['personio_writes']}",
        f"  {_mark(r18)}",
    ]


def render_companies(many: dict[str, Any]) -> list[str]:
    """Many companies on one deployment (issue 15): wall against the slowest floor, memory, 429s."""
    if "skipped" in many:
        return [f"many companies (issue 15): skipped: {many['skipped']}; start PostgreSQL (or set "
                "PERSONIO360_BENCH_POSTGRES) and run python -m benchmarks --only companies"]
    targets, calls, runs = many["targets"], many["calls"], many["run_s"]
    return [
        f"many companies (issue 15): {many['scenario']} (--concurrency {many['concurrency']}), first syncs "
        "at the published limits, each company's own emulators",
        f"  wall {many['wall_s']:.1f} s (deferred to last finished; runs span {many['runs_span_s']:.1f} s), "
        f"slowest company's floor {many['slowest_floor_s']:.1f} s ({many['binding']}): "
        f"{many['ratio']:.2f}x; each run {runs['min']:.1f} / {runs['median']:.1f} / {runs['max']:.1f} s "
        "(min / median / max)",
        f"  calls: 360 reads {calls['360 reads']:,}, 360 writes {calls['360 writes']:,}, Personio "
        f"{many['personio_calls']} (one deployment budget); 429s {many['429s']}",
        f"  workers' peak RSS {' / '.join(str(m) for m in many['peak_rss_mb'])} MB (after the first syncs "
        f"{' / '.join(str(m) for m in many['rss_after_first_mb'])}, after the second "
        f"{' / '.join(str(m) for m in many['rss_after_second_mb'])}); CPU s: workers "
        f"{' / '.join(str(c) for c in many['worker_cpu_s'])}, emulators {many['emulators_cpu_s']}",
        f"  second sync of each: {many['second_writes']} writes, {many['converged']} of "
        f"{many['companies']} converged, {many['second_wall_s']:.1f} s",
        *(f"  {'met' if t['met'] else 'MISSED'}: {t['target']}" for t in targets.values()),
    ]


def render_r17(r17: dict[str, Any]) -> list[str]:
    """R17's rows (issue 13): latency, the idle poll, the calls of a changes run."""
    hooks, polls, idle, batch = r17["webhooks"], r17["polling"], r17["idle"], r17["batch"]
    rows = [("R17, at the published limits", "figure", "target")]
    for way in (hooks, polls):
        rows.append((f"{way['scenario']} ({way['measured']} edits, ~{way['gap_s']:g} s apart)",
                     f"p50 {way['p50_s']:.2f} s, p95 {way['p95_s']:.2f} s, max {way['max_s']:.2f} s; "
                     f"{way['changes_runs']} changes runs, {way['covered_per_run']:g} covered each, "
                     f"{way['run_s']:.2f} s each; 429s {way['calls']['429s']}", _mark(way)))
    rows.append((f"idle: {idle['seconds']:g} s, {idle['polls']} polls",
                 f"Personio {idle['Personio calls']} ({idle['per_poll']:g} a poll), 360Learning "
                 f"{idle['360 reads'] + idle['360 writes']}", _mark(idle)))
    calls = batch["calls"]
    rows.append((batch["scenario"],
                 f"Personio {calls['Personio calls']} ({batch['personio_per_employee']:g} an employee); "
                 f"360 reads {batch['fixed_reads']} fixed + {batch['per_person_reads']} "
                 f"({batch['reads_per_employee']:g} an employee); writes {calls['360 writes']} "
                 f"(needed {batch['writes_needed']}); {batch['wall_s']:.1f} s, "
                 f"floor {batch['floor_s']:.1f} s; "
                 f"429s {calls['429s']}", _mark(batch)))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("latency: from the edit in Personio's state to the user's job in 360Learning's state; the "
                 "idle polls stand for idle minutes at the default poll_every (1m).")
    lines.append("calls of the changes run by endpoint: " + ", ".join(
        f"{e} {n}" for e, n in sorted({**calls["Personio"], **calls["360"]}.items())))
    return lines


def _mark(row: dict[str, Any]) -> str:
    return f"{'met' if row['target_met'] else 'MISSED'}: {row['target']}"


def _progress(run: Run, started: float) -> None:
    data = run.to_dict()
    print(f"  {data['scenario']}: {data['wall_s']:.1f} s, floor {data['floor_s']:.1f} s "
          f"({data['binding_limit']}), {data['outcome']} ({time.monotonic() - started:.0f} s)",
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
