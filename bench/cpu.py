"""CPU per archived item, side by side with the 16-thread boto3 script (issue 11, point 5).

One emulator seeded with the corpus (200 x 2 by default), quotas lifted, 50 ms of added latency.
Each round runs, in turn: (c) ``bench/threaded.py`` (16 threads, export, download, write the ZIP
uncompressed) into a fresh directory, and (d) ``omics-archiver backup --no-rate-limit`` into a
fresh store, once with ``--processes 1`` and once with the default ``auto``. Wall time is from
just before the child starts to its exit; CPU time is the child's user + system (``rusage``, its
worker processes included); CPU per item divides it by the items exported (600 here).

    .venv/bin/python -m bench.cpu [--rounds 3] [--corpus 200x2] [--profile FILE] [--out FILE]

``--profile FILE`` additionally runs (d) with one process under cProfile and writes the stats.
Targets: CPU per item <= 3 ms; the pipeline >= 1.5 x faster in wall time than (c) and less CPU
per item.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import seed as seeds
from ._proc import CLI, Emulator, Finished, compile_code, export_revision, run, use_code

LATENCY_MS = 50.0
_THREADED = Path(__file__).resolve().parent / "threaded.py"  # standalone: runs with any --rev
_TIMEOUT = 900.0


def _check(done: Finished, what: str) -> None:
    if done.returncode != 0:
        raise RuntimeError(f"{what} exited {done.returncode}:\n{done.stderr_tail}")


def measure(
    work: Path, workflows: int, versions: int, *, rounds: int, profile: Path | None
) -> dict[str, Any]:
    seed = work / "seed"
    seeds.write_corpus(seed, workflows=workflows, versions=versions)
    items = workflows * (1 + versions)
    logs = work / "logs"
    figures: dict[str, list[dict[str, float]]] = {"threaded": [], "pipeline-1": [], "pipeline-auto": []}
    with Emulator(seed, latency_ms=LATENCY_MS, log=work / "emulator.log") as emu:
        emu.configure(quotas=None)
        for r in range(rounds):
            for name, cmd in (
                ("threaded", [sys.executable, str(_THREADED), "--endpoint-url", emu.url]),
                (
                    "pipeline-1",
                    [*CLI, "backup", "--endpoint-url", emu.url, "--no-rate-limit", "--processes", "1"],
                ),
                ("pipeline-auto", [*CLI, "backup", "--endpoint-url", emu.url, "--no-rate-limit"]),
            ):
                dest = work / f"{name}-{r}"
                flag = (
                    ["--out", str(dest)]
                    if name == "threaded"
                    else ["--store", str(dest), "--log-level", "ERROR"]
                )
                time.sleep(1.0)
                done = run([*cmd, *flag], log_dir=logs, name=f"{name}-{r}", timeout=_TIMEOUT)
                _check(done, name)
                entry = {
                    "load1": round(os.getloadavg()[0], 1),
                    "seconds": round(done.seconds, 3),
                    "cpu_s": round(done.cpu_seconds, 3),
                    "cpu_ms_per_item": round(1000 * done.cpu_seconds / items, 3),
                    "maxrss_mb": round(done.maxrss_kib * 1024 / 1e6, 1),
                }
                figures[name].append(entry)
                print(f"[cpu] round {r} {name}: {json.dumps(entry)}", flush=True)
        if profile is not None:
            cmd = [
                sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "archiver.cli", "backup",
                "--endpoint-url", emu.url, "--no-rate-limit", "--processes", "1",
                "--store", str(work / "profiled"), "--log-level", "ERROR",
            ]  # fmt: skip
            _check(run(cmd, log_dir=logs, name="profiled", timeout=_TIMEOUT), "profiled run")
    out: dict[str, Any] = {"corpus": f"{workflows}x{versions}", "items": items, "runs": figures}
    for name, runs in figures.items():
        out[name] = {k: statistics.median(e[k] for e in runs) for k in runs[0]}
    for name in ("pipeline-1", "pipeline-auto"):
        out[f"{name}-speedup"] = statistics.median(
            t["seconds"] / p["seconds"] for t, p in zip(figures["threaded"], figures[name], strict=True)
        )
    return out


def table(result: dict[str, Any]) -> str:
    lines = [
        "| run | wall time | CPU | CPU per item | peak RSS | wall-time speedup over the script |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("threaded", "pipeline-1", "pipeline-auto"):
        m = result[name]
        speed = f"{result[name + '-speedup']:.2f} x (>= 1.5)" if name != "threaded" else ""
        lines.append(
            f"| {name} | {m['seconds']:.2f} s | {m['cpu_s']:.2f} s | {m['cpu_ms_per_item']:.2f} ms "
            f"| {m['maxrss_mb']:.0f} MB | {speed} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="200x2", help="WxV (default 200x2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three runs (default 3)")
    parser.add_argument("--profile", type=Path, help="also write a cProfile of one pipeline run here")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--rev", help="measure this git revision (exported to a temp dir), not the tree")
    args = parser.parse_args(argv)
    w, v = (int(x) for x in args.corpus.split("x"))
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp:
        if args.rev:
            code = Path(tmp) / "code"
            print(f"[cpu] measuring {export_revision(args.rev, code)}", flush=True)
            use_code(code)
        compile_code()
        result = measure(Path(tmp), w, v, rounds=args.rounds, profile=args.profile)
    print(table(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
