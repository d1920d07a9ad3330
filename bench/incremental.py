"""Incremental nightly runs against their quota-bound minimum (issue 11, point 1).

For each corpus (``200 x 2`` and ``20 x 200`` by default) one emulator with the default quotas and
50 ms of added latency serves, per repeat, a first run into a fresh store and then unchanged runs
into the same store (``--full-every 7``, the default, so the sweep is included). Every run's calls
come from the emulator's statistics; its quota-bound minimum from :func:`bench.suite.quota_bound_minimum`.

    .venv/bin/python -m bench.incremental                  # both corpora (~10 minutes)
    .venv/bin/python -m bench.incremental --corpus 200x2 --repeat 3 --out /tmp/incr.json

Targets: unchanged run <= 1.15 x its bound and <= 0.55 x the first run (200 x 2); the unchanged
20 x 200 run at least 10 x faster than a full one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from archiver.testing import DEFAULT_QUOTAS

from . import seed as seeds
from ._proc import CLI, Emulator, compile_code, run
from .suite import quota_bound_minimum

LATENCY_MS = 50.0
_TIMEOUT = 1800.0


def _backup(url: str, store: Path, logs: Path, name: str, *extra: str) -> tuple[float, dict[str, Any]]:
    cmd = [*CLI, "backup", "--store", str(store), "--endpoint-url", url, "--json", *extra]
    done = run(cmd, log_dir=logs, name=name, timeout=_TIMEOUT)
    report: dict[str, Any] = json.loads(done.stdout)
    if done.returncode != 0:
        raise RuntimeError(f"backup {name} exited {done.returncode}:\n{done.stderr_tail}")
    return done.seconds, report


def _calls(emu: Emulator) -> dict[str, int]:
    stats = emu.stats()
    return {op: n - stats["throttled"].get(op, 0) for op, n in stats["calls"].items()}


def measure(work: Path, workflows: int, versions: int, *, repeat: int, nights: int) -> dict[str, Any]:
    """First run, then ``nights`` unchanged runs, ``repeat`` times; every figure of every run."""
    label = f"{workflows}x{versions}"
    seed = work / f"seed-{label}"
    seeds.write_corpus(seed, workflows=workflows, versions=versions)
    runs: list[dict[str, Any]] = []
    with Emulator(seed, latency_ms=LATENCY_MS, log=work / f"emulator-{label}.log") as emu:
        for r in range(repeat):
            store = work / f"store-{label}-{r}"
            for night in range(nights + 1):
                time.sleep(2.0)  # every token bucket refills
                emu.reset_stats()
                seconds, report = _backup(emu.url, store, work / "logs", f"{label}-{r}-{night}")
                calls = _calls(emu)
                bound, op = quota_bound_minimum(calls, DEFAULT_QUOTAS, LATENCY_MS / 1000)
                inside = datetime.fromisoformat(report["finishedAt"]) - datetime.fromisoformat(
                    report["startedAt"]
                )
                entry = {
                    "night": night,
                    "seconds": round(seconds, 3),
                    "in_process_s": round(inside.total_seconds(), 3),
                    "load1": round(os.getloadavg()[0], 1),
                    "bound": round(bound, 3),
                    "boundBy": op,
                    "ratio": round(seconds / bound, 3),
                    "calls": calls,
                    "totalCalls": sum(calls.values()),
                    "confirmedByListing": report["stats"].get("confirmedByListing", 0),
                    "items": len(report["bundles"]),
                }
                runs.append(entry)
                print(f"[incremental] {label} repeat {r} night {night}: {json.dumps(entry)}", flush=True)
    first = [e["seconds"] for e in runs if e["night"] == 0]
    later = [e for e in runs if e["night"] > 0]
    return {
        "corpus": label,
        "runs": runs,
        "first_s": statistics.median(first),
        "unchanged_s": statistics.median(e["seconds"] for e in later),
        "unchanged_bound_s": statistics.median(e["bound"] for e in later),
        "unchanged_ratio_to_bound": statistics.median(e["ratio"] for e in later),
        "unchanged_to_first": statistics.median(e["seconds"] for e in later) / statistics.median(first),
        "unchanged_calls": statistics.median(e["totalCalls"] for e in later),
        "unchanged_in_process_s": statistics.median(e["in_process_s"] for e in later),
        "load1": statistics.median(e["load1"] for e in runs),
        "first_calls": statistics.median(e["totalCalls"] for e in runs if e["night"] == 0),
    }


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| corpus | first run | its calls | unchanged run | its calls | its bound "
        "| unchanged/bound | unchanged/first | unchanged, inside the process | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['corpus']} | {r['first_s']:.2f} s | {r['first_calls']:.0f} | {r['unchanged_s']:.2f} s "
            f"| {r['unchanged_calls']:.0f} | {r['unchanged_bound_s']:.2f} s "
            f"| {r['unchanged_ratio_to_bound']:.3f} (<= 1.15) | {r['unchanged_to_first']:.3f} (<= 0.55) "
            f"| {r['unchanged_in_process_s']:.2f} s | {r['load1']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.incremental", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--corpus", action="append", help="WxV, e.g. 200x2 (repeatable; default 200x2, 20x200)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="first runs per corpus (default 1)")
    parser.add_argument(
        "--nights", type=int, default=3, help="unchanged runs after each first run (default 3)"
    )
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    compile_code()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-incremental-") as tmp:
        for corpus in args.corpus or ["200x2", "20x200"]:
            w, v = (int(x) for x in corpus.split("x"))
            results.append(measure(Path(tmp), w, v, repeat=args.repeat, nights=args.nights))
    print(table(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
