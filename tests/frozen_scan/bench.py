"""CPU per definition of the ZIP check and image scan a backup does per bundle: frozen vs now.

``python -m tests.frozen_scan.bench`` writes the benchmark corpus (bench/seed.py: WDL workflows, each
definition distinct), zips each definition as the emulator serves it, and times, in alternating
rounds of process CPU time, the frozen pair (``zip_problem`` then ``scan_definition``, main at
f73ae8a) against ``check_and_scan``, and each half alone. Prints medians (and minimums).
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from archiver._zipsafe import zip_problem
from archiver.images import check_and_scan, scan_definition
from archiver.testing._definition import deterministic_zip
from bench.seed import write_corpus

from . import scan_v1, zipsafe_v1


def _corpus(workflows: int, versions: int) -> list[bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        write_corpus(Path(tmp), workflows=workflows, versions=versions)
        return [deterministic_zip(p) for p in sorted(Path(tmp).rglob("definition")) if p.is_dir()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=100)
    parser.add_argument("--versions", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    zips = _corpus(args.workflows, args.versions)
    runs: dict[str, Callable[[bytes], object]] = {
        "before: check + scan": lambda z: (
            zipsafe_v1.zip_problem(io.BytesIO(z)),
            scan_v1.scan_definition(z),
        ),
        "now: check_and_scan": check_and_scan,
        "before: check": lambda z: zipsafe_v1.zip_problem(io.BytesIO(z)),
        "now: check": lambda z: zip_problem(io.BytesIO(z)),
        "before: scan": scan_v1.scan_definition,
        "now: scan": scan_definition,
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            start = time.process_time()
            for data in zips:
                run(data)
            times[name].append((time.process_time() - start) / len(zips) * 1e6)
    print(f"{len(zips)} definitions, CPU us per definition: median (min) of {args.rounds} alternating rounds")
    for name, values in times.items():
        print(f"  {name:22s} {statistics.median(values):7.1f} ({min(values):.1f})")
    before, now = (statistics.median(times[n]) for n in ("before: check + scan", "now: check_and_scan"))
    print(f"  before / now: {before / now:.2f}x")


if __name__ == "__main__":
    main()
