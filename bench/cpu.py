"""CPU per archived item, side by side with the 16-thread boto3 script (issue 11, point 5).

One emulator seeded with the corpus (200 x 2 by default), quotas lifted, 50 ms of added latency.
Each round runs, in turn: (c) ``bench/threaded.py`` (16 threads, export, download, write the ZIP
uncompressed) into a fresh directory, and (d) ``omics-archiver backup --no-rate-limit`` into a
fresh store, once with ``--processes 1`` and once with the default ``auto``. Wall time is from
just before the child starts to its exit; CPU time is the child's user + system (``rusage``, its
worker processes included); CPU per item divides it by the items exported (600 here). Then (c) and
(d) with one process run again over twice the corpus (400 x 2, a fresh emulator): the CPU they
added, over the 600 items they added, is the CPU per item once the process has started (imports,
clients and the snapshot are paid once a run, whatever its size).

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
    # The same two commands over a corpus twice as large, in a fresh emulator: the difference of
    # CPU between the two sizes, over the difference of items, is the CPU an item costs once the
    # process has started (imports, clients, the snapshot) -- what decides how many account-regions
    # one process keeps busy. The figures above include the start, spread over 600 items.
    big_seed = work / "seed-2x"
    seeds.write_corpus(big_seed, workflows=2 * workflows, versions=versions)
    big: dict[str, list[float]] = {"threaded": [], "pipeline-1": []}
    with Emulator(big_seed, latency_ms=LATENCY_MS, log=work / "emulator-2x.log") as emu:
        emu.configure(quotas=None)
        for r in range(rounds):
            for name in big:
                dest = work / f"{name}-2x-{r}"
                cmd = (
                    [sys.executable, str(_THREADED), "--endpoint-url", emu.url, "--out", str(dest)]
                    if name == "threaded"
                    else [
                        *CLI, "backup", "--endpoint-url", emu.url, "--no-rate-limit", "--processes", "1",
                        "--store", str(dest), "--log-level", "ERROR",
                    ]
                )  # fmt: skip
                time.sleep(1.0)
                done = run(cmd, log_dir=logs, name=f"{name}-2x-{r}", timeout=_TIMEOUT)
                _check(done, f"{name} (2x corpus)")
                big[name].append(done.cpu_seconds)
                print(f"[cpu] round {r} {name} 2x corpus: {done.cpu_seconds:.3f} s CPU", flush=True)
    if profile is not None:
        with Emulator(seed, latency_ms=LATENCY_MS, log=work / "emulator-profile.log") as emu:
            emu.configure(quotas=None)
            cmd = [
                sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "archiver.cli", "backup",
                "--endpoint-url", emu.url, "--no-rate-limit", "--processes", "1",
                "--store", str(work / "profiled"), "--log-level", "ERROR",
            ]  # fmt: skip
            _check(run(cmd, log_dir=logs, name="profiled", timeout=_TIMEOUT), "profiled run")
    out: dict[str, Any] = {"corpus": f"{workflows}x{versions}", "items": items, "runs": figures}
    for name, runs in figures.items():
        out[name] = {k: statistics.median(e[k] for e in runs) for k in runs[0]}
    for name, cpus in big.items():
        # rounds pair up: each 2x run with the same round's run at the smaller size
        slopes = [1000 * (c2 - e["cpu_s"]) / items for c2, e in zip(cpus, figures[name], strict=True)]
        out[f"{name}-marginal-ms"] = statistics.median(slopes)
        out[f"{name}-marginal-runs"] = [round(x, 3) for x in slopes]
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
    lines.append("")
    lines.append(
        f"CPU per item past the start (twice the corpus, the difference over the {result['items']} "
        f"more items): script {result['threaded-marginal-ms']:.2f} ms, pipeline --processes 1 "
        f"{result['pipeline-1-marginal-ms']:.2f} ms"
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
