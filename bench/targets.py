"""``python -m bench.targets``: many account-regions in one process against one (issue 13).

Seeds the same corpus (N workflows x M versions, ``bench/seed.py``) into T account-regions of one
emulator (50 ms latency, 30 ms to the first byte of a download, the default quotas, which the
emulator applies per account, region and operation), then runs, side by side on fresh emulators
and stores, ``backup --targets`` of one account-region and of all T, through the same code path
(a role assumed in each account). The figure is the ratio of their wall times (target: <= 1.25
for 50 targets of 20 x 2), with the peak RSS and CPU time of each. Prints one JSON document;
``bench/README.md`` records the figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import seed as seeds
from ._proc import CLI, Emulator, Finished, run

LATENCY_MS = 50.0
# S3's time to first byte of a presigned GET, roughly: without it, one shared download bound of 8
# for 50 targets looked free (it was not: 32 s against 19 s).
DOWNLOAD_LATENCY_MS = 30.0
EMULATOR_EXTRA = ("--download-latency-ms", str(DOWNLOAD_LATENCY_MS))
ROLE = "OmicsArchiverReader"
REGIONS = ("us-east-1", "us-west-2")


def accounts_for(targets: int) -> list[tuple[str, str]]:
    """``targets`` account-regions: two regions per account, accounts 100000000000 upwards."""
    out = [(f"{100000000000 + i // 2:012d}", REGIONS[i % 2]) for i in range(targets)]
    return out


def write_seed(root: Path, *, targets: int, workflows: int, versions: int) -> Path:
    seed = root / "seed"
    seeds.write_corpus(seed, workflows=workflows, versions=versions)
    home = seed / "accounts" / seeds.ACCOUNT
    corpus = home / seeds.REGION / "workflows"
    for k, (account, region) in enumerate(accounts_for(targets)):
        # workflow ids are unique across the service: each copy gets its own
        workflows = seed / "accounts" / account / region / "workflows"
        shutil.copytree(corpus, workflows, symlinks=True)
        for spec_path in workflows.glob("*/workflow.json"):
            spec = json.loads(spec_path.read_text())
            spec["id"] = str(int(spec["id"]) + (k + 1) * 100_000)
            spec_path.write_text(json.dumps(spec, indent=1))
    shutil.rmtree(home)
    return seed


def write_targets(path: Path, pairs: list[tuple[str, str]]) -> Path:
    by_account: dict[str, list[str]] = {}
    for account, region in pairs:
        by_account.setdefault(account, []).append(region)
    doc = {"role_name": ROLE, "accounts": [{"id": a, "regions": r} for a, r in by_account.items()]}
    path.write_text(json.dumps(doc, indent=1))
    return path


def backup(
    url: str, store: Path, targets: Path, logs: Path, name: str, *extra: str
) -> tuple[Finished, dict[str, Any]]:
    cmd = [*CLI, "backup", "--store", str(store), "--endpoint-url", url, "--targets", str(targets), "--json"]
    done = run([*cmd, *extra], log_dir=logs, name=name, timeout=900)
    report: dict[str, Any] = json.loads(done.stdout)
    if done.returncode != 0:
        raise RuntimeError(f"{name} exited {done.returncode}:\n{done.stderr_tail}")
    return done, report


def measure(
    work: Path,
    *,
    targets: int,
    workflows: int,
    versions: int,
    repeat: int,
    shards: int = 0,
    say: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True),
) -> dict[str, Any]:
    """Run one and ``targets`` account-regions side by side ``repeat`` times; the figures."""
    seed = write_seed(work, targets=targets, workflows=workflows, versions=versions)
    pairs = accounts_for(targets)
    one = write_targets(work / "one.json", pairs[:1])
    many = write_targets(work / "many.json", pairs)
    runs: dict[str, list[dict[str, Any]]] = {"one": [], "many": [], "sharded": []}
    for i in range(repeat):
        if shards > 1:
            runs["sharded"].append(_sharded(seed, many, work, i, shards))
            say(f"targets sharded run {i}: {runs['sharded'][-1]}")
        for label, file in (("one", one), ("many", many)):
            log = work / "logs" / f"emulator-targets-{label}-{i}.err"
            with Emulator(seed, latency_ms=LATENCY_MS, log=log, extra=EMULATOR_EXTRA) as emu:
                time.sleep(1.5)  # let every token bucket fill
                cpu_before = emu.cpu_seconds()
                done, report = backup(
                    emu.url, work / f"store-{label}-{i}", file, work / "logs", f"t-{label}-{i}"
                )
                emulator_cpu = emu.cpu_seconds() - cpu_before
                calls = emu.stats()
            bad = [t for t in report["targets"] if t["outcome"] != "ok"]
            if bad:
                raise RuntimeError(f"targets {label}: {len(bad)} not ok: {bad[0]['error']}")
            runs[label].append(
                {
                    "seconds": round(done.seconds, 3),
                    "maxrssMB": round(done.maxrss_kib / 1024, 1),
                    "cpuSeconds": round(done.cpu_seconds, 2),
                    "emulatorCpuSeconds": round(emulator_cpu, 2),
                    "targets": len(report["targets"]),
                    "bundles": sum(t["archived"] for t in report["targets"]),
                    "throttled": sum(calls.get("throttled", {}).values()),
                }
            )
            say(f"targets {label} run {i}: {runs[label][-1]}")
    one_s = statistics.median(r["seconds"] for r in runs["one"])
    many_s = statistics.median(r["seconds"] for r in runs["many"])
    return {
        "targets": targets,
        "workflows": workflows,
        "versions": versions,
        "latencyMs": LATENCY_MS,
        "downloadLatencyMs": DOWNLOAD_LATENCY_MS,
        "oneSeconds": one_s,
        "manySeconds": many_s,
        "ratio": round(many_s / one_s, 3),
        "peakRssMB": {k: max(r["maxrssMB"] for r in v) for k, v in runs.items() if v},
        "shardedSeconds": statistics.median(r["seconds"] for r in runs["sharded"]) if shards > 1 else None,
        "runs": runs,
    }


def _sharded(seed: Path, many: Path, work: Path, i: int, shards: int) -> dict[str, Any]:
    """All targets split by ``--shard k/shards`` among that many processes at once (one emulator)."""
    log = work / "logs" / f"emulator-sharded-{i}.err"
    with Emulator(seed, latency_ms=LATENCY_MS, log=log, extra=EMULATOR_EXTRA) as emu:
        time.sleep(1.5)
        started = time.perf_counter()
        with ThreadPoolExecutor(shards) as pool:
            done = list(
                pool.map(
                    lambda k: backup(
                        emu.url,
                        work / f"store-sharded-{i}",
                        many,
                        work / "logs",
                        f"t-shard{k}-{i}",
                        "--shard",
                        f"{k}/{shards}",
                    ),
                    range(shards),
                )
            )
        seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 3),
        "shards": shards,
        "maxrssMB": round(max(d.maxrss_kib for d, _ in done) / 1024, 1),
        "cpuSeconds": round(sum(d.cpu_seconds for d, _ in done), 2),
        "targets": sum(len(r["targets"]) for _, r in done),
    }


def record(suite: Any) -> None:
    """``make bench``'s part: the figures as the suite's metrics (50 targets; 5 with --quick)."""
    quick = suite.sizes.quick
    suite.metric("targets.one_s", "many targets: one account-region, wall time (e)", "s")
    suite.metric("targets.many_s", f"many targets: {5 if quick else 50} account-regions, wall time (f)", "s")
    suite.metric(
        "targets.ratio",
        "many targets: ratio (f)/(e)",
        "x",
        target="<= 1.25",
    )
    suite.metric("targets.one_rss_mb", "many targets: peak RSS, one account-region", "MB")
    suite.metric("targets.many_rss_mb", "many targets: peak RSS, all account-regions", "MB")
    suite.metric("targets.many_cpu_s", "many targets: CPU time of the run with all", "s")
    result = measure(
        suite.work / "targets",
        targets=5 if quick else 50,
        workflows=20,
        versions=2,
        repeat=1 if quick else 2,
        say=suite.say,
    )
    for one, many in zip(result["runs"]["one"], result["runs"]["many"], strict=True):
        suite.add("targets.one_s", one["seconds"])
        suite.add("targets.many_s", many["seconds"])
        suite.add("targets.ratio", many["seconds"] / one["seconds"])
        suite.add("targets.one_rss_mb", one["maxrssMB"])
        suite.add("targets.many_rss_mb", many["maxrssMB"])
        suite.add("targets.many_cpu_s", many["cpuSeconds"])
    suite.details["targets"] = result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", type=int, default=50)
    parser.add_argument("--workflows", type=int, default=20)
    parser.add_argument("--versions", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--work", type=Path, help="keep seeds, stores and logs here")
    parser.add_argument("--shards", type=int, default=2, help="also run all targets split among N processes")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-targets-") as tmp:
        work = args.work or Path(tmp)
        result = measure(
            work,
            targets=args.targets,
            workflows=args.workflows,
            versions=args.versions,
            repeat=args.repeat,
            shards=args.shards,
        )
    print(json.dumps({**result, "target": "<= 1.25", "met": result["ratio"] <= 1.25}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
