"""``python -m bench``: the omics-archiver benchmark suite (see ``bench/README.md``).

One invocation measures, side by side against the local HealthOmics emulator:

1. quota-bound: our pipeline (the CLI, fresh store) with 50 ms latency and the default quotas,
   against the quota-bound minimum computed from the calls it made;
2. unchanged: a second run against the same store (time, definition bytes downloaded);
3. quotas lifted: the plain sequential boto3 script (``bench/sequential.py``) against our pipeline
   with ``--no-rate-limit``;
4. memory: peak RSS of our backup of one workflow with a 100 MB definition;
5. many targets: 50 account-regions against one in one process (``bench/targets.py``);
6. restore (``bench/restore.py``): a first restore and its rerun against their quota bounds;

and then every section registered in ``bench/sections/`` (browsing, verify memory, and what other
work adds: see ``bench/measure.py`` for how a section records a figure against its target).
``--only NAME`` runs some sections; ``--list`` names them. Speed and memory are measured here
against named targets, never asserted in timed tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archiver.testing import DEFAULT_QUOTAS

from . import seed as seeds
from . import targets as targets_bench
from ._proc import CLI, ROOT, Emulator, Finished, compile_code, export_revision, run, use_code
from .measure import SECTIONS, Metric, Section, Target, section
from .restore import restore_benchmarks

RESULTS = Path(__file__).resolve().parent / "results"
LATENCY_MS = 50.0
MB = 1_000_000

# Time limits per child process (seconds): generous, but every loop and child is bounded.
_RUN_TIMEOUT = 600.0


@dataclass(frozen=True)
class Sizes:
    workflows: int
    versions: int
    big_bytes: int
    repeat: int  # short benchmarks: pipeline without rate limit, memory
    repeat_long: int  # quota-bound first run, unchanged run, sequential script
    quick: bool = False


def quota_bound_minimum(
    calls: Mapping[str, int], quotas: Mapping[str, float], latency: float
) -> tuple[float, str | None]:
    """The least time the calls can take under token-bucket quotas (burst = 1 s of rate).

    ``T_min = max over quota'd operations of max(0, (N_op - B_op) / r_op) + L``, with ``N_op`` the
    admitted calls of the operation, ``r_op`` its quota (requests/s), ``B_op = r_op * 1 s`` the
    bucket that starts full, and ``L`` the added latency of one call (the last call still has to
    come back). Returns the bound and the operation that sets it.
    """
    best, which = 0.0, None
    for op, n in calls.items():
        rate = quotas.get(op)
        if not rate or n <= 0:
            continue
        t = max(0.0, (n - rate * 1.0) / rate)
        if which is None or t > best:
            best, which = t, op
    return best + latency, which


class Suite:
    def __init__(self, sizes: Sizes, work: Path) -> None:
        self.sizes = sizes
        self.work = work
        self.logs = work / "logs"
        self.metrics: dict[str, Metric] = {}
        self.details: dict[str, Any] = {"runs": []}
        self._n = 0
        self.current_section = ""

    # -- bookkeeping --------------------------------------------------------------------------

    def metric(
        self,
        key: str,
        name: str,
        unit: str,
        *,
        target: str | None = None,
        quick_target: str | None = None,
        note: str = "",
    ) -> Metric:
        """Declare the metric ``key`` (once; later calls return it): see :mod:`bench.measure`.

        ``target`` applies to a full run; a ``--quick`` run compares ``quick_target`` if given,
        otherwise it shows the full-run target and does not compare it.
        """
        if key not in self.metrics:
            chosen = quick_target if self.sizes.quick else target
            shown = chosen if chosen is not None else target
            self.metrics[key] = Metric(
                name=name,
                unit=unit,
                target=Target.parse(shown) if shown is not None else None,
                compared=chosen is not None,
                note=note,
                section=self.current_section,
            )
        return self.metrics[key]

    def add(self, key: str, value: float) -> None:
        self.metrics[key].runs.append(round(value, 4))

    def measure(
        self,
        key: str,
        name: str,
        value: float,
        unit: str,
        *,
        target: str | None = None,
        quick_target: str | None = None,
        note: str = "",
    ) -> Metric:
        """Record one figure of ``key`` (declaring it on first use): the way sections report."""
        metric = self.metric(key, name, unit, target=target, quick_target=quick_target, note=note)
        if note:
            metric.note = note
        self.add(key, value)
        return metric

    @staticmethod
    def quota_bound(
        calls: Mapping[str, int],
        throttled: Mapping[str, int] | None = None,
        quotas: Mapping[str, float] = DEFAULT_QUOTAS,
    ) -> tuple[float, str | None]:
        """The quota-bound minimum of the admitted calls (``calls - throttled``): see the README."""
        throttled = throttled or {}
        admitted = {op: n - throttled.get(op, 0) for op, n in calls.items()}
        return quota_bound_minimum(admitted, quotas, LATENCY_MS / 1000)

    def _name(self, label: str) -> str:
        self._n += 1
        return f"{self._n:02d}-{label}"

    def say(self, text: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)

    # -- running ---------------------------------------------------------------------------------

    def backup(self, url: str, store: Path, label: str, *extra: str) -> tuple[Finished, dict[str, Any]]:
        cmd = [*CLI, "backup", "--store", str(store), "--endpoint-url", url, "--json", *extra]
        done = run(cmd, log_dir=self.logs, name=self._name(label), timeout=_RUN_TIMEOUT)
        try:
            report: dict[str, Any] = json.loads(done.stdout)
        except json.JSONDecodeError as exc:
            raise RuntimeError(
                f"backup ({label}) exited {done.returncode} without a JSON report:\n{done.stderr_tail}"
            ) from exc
        if done.returncode != 0 or report.get("failed"):
            raise RuntimeError(
                f"backup ({label}) exited {done.returncode} with {len(report.get('failed', []))} failures:\n"
                f"{json.dumps(report.get('failed', [])[:3], indent=1)}\n{done.stderr_tail}"
            )
        return done, report

    @staticmethod
    def in_process_seconds(report: Mapping[str, Any]) -> float:
        start = datetime.fromisoformat(str(report["startedAt"]))
        end = datetime.fromisoformat(str(report["finishedAt"]))
        return (end - start).total_seconds()

    def record(self, label: str, done: Finished, **more: Any) -> None:
        self.details["runs"].append(
            {"label": label, "seconds": round(done.seconds, 3), "maxrssKiB": done.maxrss_kib, **more}
        )

    @staticmethod
    def settle(emu: Emulator, seconds: float = 2.0) -> None:
        """Let every token bucket refill (they hold 1 s of rate), then zero the statistics."""
        time.sleep(seconds)
        emu.reset_stats()

    # -- the benchmarks --------------------------------------------------------------------------

    def corpus_benchmarks(self) -> None:
        s = self.sizes
        seed = self.work / "seed-corpus"
        seeds.write_corpus(seed, workflows=s.workflows, versions=s.versions)
        items = s.workflows * (1 + s.versions)
        self.say(f"seeded {s.workflows} workflows x {s.versions} versions ({items} items)")

        self.metric("quota.pipeline_s", "quota-bound run: pipeline wall time (a)", "s")
        self.metric("quota.minimum_s", "quota-bound minimum (b)", "s")
        self.metric(
            "quota.ratio",
            "quota-bound run: ratio (a)/(b)",
            "x",
            target="<= 1.15",
        )
        self.metric("quota.in_process_s", "quota-bound run: pipeline time inside the process", "s")
        self.metric(
            "quota.throttled",
            "quota-bound run: throttled responses",
            "count",
            target="== 0",
            quick_target="== 0",
        )
        self.metric("quota.rss_mb", "quota-bound run: peak RSS of the backup", "MB")
        self.metric("unchanged.seconds", "unchanged 2nd run: wall time", "s")
        self.metric(
            "unchanged.report_def_bytes",
            "unchanged 2nd run: definition bytes (report)",
            "bytes",
            target="== 0",
            quick_target="== 0",
        )
        self.metric(
            "unchanged.emulator_def_bytes",
            "unchanged 2nd run: definition bytes (emulator export_bytes)",
            "bytes",
            target="== 0",
            quick_target="== 0",
        )
        self.metric("unchanged.new_bundles", "unchanged 2nd run: new bundles written", "count")
        self.metric("lifted.sequential_s", "quotas lifted: sequential boto3 script (c)", "s")
        self.metric("lifted.pipeline_s", "quotas lifted: pipeline --no-rate-limit (d)", "s")
        self.metric(
            "lifted.ratio",
            "quotas lifted: ratio (c)/(d)",
            "x",
            target=">= 10",
        )
        self.metric("lifted.in_process_s", "quotas lifted: pipeline time inside the process", "s")

        self.metric("lifted.pipeline_cpu_s", "quotas lifted: pipeline CPU time (user+sys)", "s")
        self.metric("lifted.emulator_cpu_s", "quotas lifted: emulator CPU time during (d)", "s")
        self.metric("lifted.load1", "quotas lifted: 1-min load average before (d)", "")

        # A fresh emulator for every measured run (pair): the emulator keeps every export URL it
        # issued for an hour and scans them all on each new one, so it slows down run after run
        # (see README, "Findings"); fresh ones keep the runs comparable.
        for i in range(s.repeat_long):
            with self.emulator(seed, f"quota-{i}") as emu:
                self.quota_pair(emu, i, items)
        for i in range(max(s.repeat, s.repeat_long)):
            seq = fast = None
            if i < s.repeat_long:
                with self.emulator(seed, f"sequential-{i}") as emu:
                    emu.configure(quotas=None)  # POST /_emulator/config {"quotas": null}
                    seq = self.sequential(emu, i, s)
            if i < s.repeat:
                with self.emulator(seed, f"lifted-{i}") as emu:
                    emu.configure(quotas=None)
                    fast = self.lifted_pipeline(emu, i, items)
            if seq is not None and fast is not None:
                self.add("lifted.ratio", seq / fast)
        self.metrics["lifted.ratio"].note = "per pair: sequential run i / pipeline run i, run back to back"

    def emulator(self, seed: Path, label: str, *extra: str) -> Emulator:
        return Emulator(seed, latency_ms=LATENCY_MS, log=self.logs / f"emulator-{label}.err", extra=extra)

    def quota_pair(self, emu: Emulator, i: int, items: int) -> None:
        store = self.work / f"store-quota-{i}"
        self.settle(emu)
        done, report = self.backup(emu.url, store, f"quota-{i}")
        stats = emu.stats()
        calls: dict[str, int] = stats["calls"]
        throttled: dict[str, int] = stats["throttled"]
        admitted = {op: n - throttled.get(op, 0) for op, n in calls.items()}
        bound, op = quota_bound_minimum(admitted, DEFAULT_QUOTAS, LATENCY_MS / 1000)
        if len(report["bundles"]) != items:
            raise RuntimeError(f"quota run {i}: {len(report['bundles'])} bundles, expected {items}")
        self.add("quota.pipeline_s", done.seconds)
        self.add("quota.minimum_s", bound)
        self.add("quota.ratio", done.seconds / bound)
        self.add("quota.in_process_s", self.in_process_seconds(report))
        self.add("quota.throttled", sum(throttled.values()))
        self.add("quota.rss_mb", done.maxrss_kib * 1024 / MB)
        self.metrics["quota.minimum_s"].note = f"set by {op}"
        self.record(
            f"quota-{i}",
            done,
            calls=calls,
            throttled=throttled,
            errors=stats["errors"],
            boundSeconds=round(bound, 3),
            boundOperation=op,
            inProcessSeconds=self.in_process_seconds(report),
            stats=report["stats"],
        )
        self.say(
            f"quota run {i}: {done.seconds:.2f} s, minimum {bound:.2f} s ({op}), "
            f"ratio {done.seconds / bound:.3f}, throttled {sum(throttled.values())}"
        )

        self.settle(emu)
        done2, report2 = self.backup(emu.url, store, f"unchanged-{i}")
        stats2 = emu.stats()
        self.add("unchanged.seconds", done2.seconds)
        self.add("unchanged.report_def_bytes", report2["stats"]["definitionBytesDownloaded"])
        self.add("unchanged.emulator_def_bytes", stats2["export_bytes"]["definition"])
        self.add("unchanged.new_bundles", report2["stats"]["bundlesWritten"])
        self.record(
            f"unchanged-{i}",
            done2,
            calls=stats2["calls"],
            throttled=stats2["throttled"],
            exportBytes=stats2["export_bytes"],
            stats=report2["stats"],
        )
        self.say(
            f"unchanged run {i}: {done2.seconds:.2f} s, definition bytes "
            f"{report2['stats']['definitionBytesDownloaded']} (report) / "
            f"{stats2['export_bytes']['definition']} (emulator)"
        )

    def sequential(self, emu: Emulator, i: int, s: Sizes) -> float:
        out = self.work / f"sequential-{i}"
        emu.reset_stats()
        script = Path(__file__).resolve().parent / "sequential.py"
        cmd = [sys.executable, str(script), "--endpoint-url", emu.url, "--out", str(out)]
        done = run(cmd, log_dir=self.logs, name=self._name(f"sequential-{i}"), timeout=_RUN_TIMEOUT)
        if done.returncode != 0:
            raise RuntimeError(f"sequential script exited {done.returncode}:\n{done.stderr_tail}")
        counts = json.loads(done.stdout)
        if counts["workflows"] != s.workflows or counts["versions"] != s.workflows * s.versions:
            raise RuntimeError(f"sequential script exported {counts}")
        self.add("lifted.sequential_s", done.seconds)
        self.record(
            f"sequential-{i}",
            done,
            cpuSeconds=round(done.cpu_seconds, 3),
            calls=emu.stats()["calls"],
            counts=counts,
        )
        self.say(f"sequential script {i}: {done.seconds:.2f} s")
        return done.seconds

    def lifted_pipeline(self, emu: Emulator, i: int, items: int) -> float:
        emu.reset_stats()
        load1 = os.getloadavg()[0]
        cpu0 = emu.cpu_seconds()
        done, report = self.backup(emu.url, self.work / f"store-lifted-{i}", f"lifted-{i}", "--no-rate-limit")
        if len(report["bundles"]) != items:
            raise RuntimeError(f"lifted run {i}: {len(report['bundles'])} bundles, expected {items}")
        self.add("lifted.pipeline_s", done.seconds)
        emu_cpu = emu.cpu_seconds() - cpu0
        self.add("lifted.in_process_s", self.in_process_seconds(report))
        self.add("lifted.pipeline_cpu_s", done.cpu_seconds)
        self.add("lifted.emulator_cpu_s", emu_cpu)
        self.add("lifted.load1", load1)
        self.record(
            f"lifted-{i}",
            done,
            cpuSeconds=round(done.cpu_seconds, 3),
            emulatorCpuSeconds=round(emu_cpu, 3),
            load1=load1,
            calls=emu.stats()["calls"],
            inProcessSeconds=self.in_process_seconds(report),
            stats=report["stats"],
        )
        self.say(
            f"pipeline --no-rate-limit {i}: {done.seconds:.2f} s (CPU {done.cpu_seconds:.2f} s, "
            f"emulator CPU {emu_cpu:.2f} s, load {load1:.2f})"
        )
        return done.seconds

    def memory_benchmark(self) -> None:
        s = self.sizes
        seed = self.work / "seed-big"
        seeds.write_big(seed, size=s.big_bytes)
        self.say(f"seeded one workflow with a {s.big_bytes / MB:.0f} MB random definition file")
        self.metric(
            "memory.rss_mb",
            f"{s.big_bytes // MB} MB definition: peak RSS of the backup",
            "MB",
            target="< 200",
            quick_target="< 200",
        )
        self.metric("memory.seconds", f"{s.big_bytes // MB} MB definition: wall time", "s")
        self.metric("memory.bundle_mb", f"{s.big_bytes // MB} MB definition: bundle size", "MB")
        self.metric("memory.definition_mb", f"{s.big_bytes // MB} MB definition: definition ZIP size", "MB")
        with self.emulator(seed, "big") as emu:
            self.say(f"emulator at {emu.url}")
            for i in range(s.repeat):
                emu.reset_stats()
                done, report = self.backup(emu.url, self.work / f"store-big-{i}", f"memory-{i}")
                self.add("memory.rss_mb", done.maxrss_kib * 1024 / MB)
                self.add("memory.seconds", done.seconds)
                self.add("memory.bundle_mb", report["stats"]["bytesWritten"] / MB)
                self.add("memory.definition_mb", report["stats"]["definitionBytesDownloaded"] / MB)
                self.record(f"memory-{i}", done, stats=report["stats"])
                self.say(
                    f"memory run {i}: peak RSS {done.maxrss_kib / 1024:.1f} MiB, {done.seconds:.2f} s, "
                    f"bundle {report['stats']['bytesWritten'] / MB:.1f} MB"
                )

    def startup(self) -> None:
        """Interpreter start and imports of the CLI: a fixed cost in every wall time above."""
        self.metric("cli.startup_s", "CLI start-up (backup --help)", "s")
        for i in range(self.sizes.repeat):
            done = run(
                [*CLI, "backup", "--help"], log_dir=self.logs, name=self._name(f"help-{i}"), timeout=60
            )
            self.add("cli.startup_s", done.seconds)


# -- the built-in sections ----------------------------------------------------------------------


@section("startup", order=10)
def _startup(suite: Suite) -> None:
    """interpreter start and imports of the CLI"""
    suite.startup()


@section("backup", order=20)
def _backup(suite: Suite) -> None:
    """quota-bound first run, unchanged run, quotas lifted against the sequential script"""
    suite.corpus_benchmarks()


@section("restore", order=25)
def _restore(suite: Suite) -> None:
    """first restore into an empty region and its rerun, against their quota bounds (bench/restore.py)"""
    restore_benchmarks(suite)


@section("targets", order=40)
def _targets(suite: Suite) -> None:
    """one backup of many account-regions against one of one (bench/targets.py)"""
    targets_bench.record(suite)


@section("memory", order=30)
def _memory(suite: Suite) -> None:
    """peak RSS of a backup of one workflow with a large definition"""
    suite.memory_benchmark()


def run_sections(
    suite: Suite, chosen: Sequence[Section]
) -> tuple[list[str], dict[str, str], dict[str, float]]:
    """Run ``chosen`` in order: the sections run, those that failed (name -> error), their seconds.

    A section that fails (a child that exits badly, a figure that cannot be read) is reported and
    the next one runs: one run of ``make bench`` measures every target it can, side by side.
    """
    ran: list[str] = []
    failed: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for sec in chosen:
        suite.current_section = sec.name
        suite.say(f"section {sec.name}")
        ran.append(sec.name)
        clock = time.monotonic()
        try:
            sec.run(suite)
        except Exception as exc:  # any failure of one section is reported, and the rest run
            failed[sec.name] = f"{type(exc).__name__}: {exc}"
            suite.say(f"ERROR in section {sec.name}: {failed[sec.name]}")
            suite.logs.mkdir(parents=True, exist_ok=True)
            with open(suite.logs / f"section-{sec.name}.traceback", "w", encoding="utf-8") as fh:
                traceback.print_exc(file=fh)
        seconds[sec.name] = round(time.monotonic() - clock, 1)
        suite.say(f"section {sec.name} took {seconds[sec.name]:.0f} s")
    return ran, failed, seconds


def section_summary(ran: Sequence[str], seconds: Mapping[str, float], failed: Mapping[str, str]) -> str:
    """One line per section run: its duration, and its error if it failed."""
    lines = ["section       seconds  result"]
    for name in ran:
        got = seconds.get(name)
        shown = f"{got:7.0f}" if got is not None else "      -"
        lines.append(f"{name:12}  {shown}  {('FAILED: ' + failed[name]) if name in failed else 'ran'}")
    lines.append(f"{'total':12}  {sum(seconds.values()):7.0f}")
    return "\n".join(lines)


def load_sections() -> None:
    """Import every module of ``bench/sections/``: each registers its sections with ``@section``."""
    import importlib
    import pkgutil

    from . import sections

    for mod in pkgutil.iter_modules(sections.__path__):
        importlib.import_module(f"{sections.__name__}.{mod.name}")


# -- output -------------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == int(value):
        return f"{int(value)}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.3f}"


def table(metrics: Sequence[Metric]) -> str:
    rows = [("metric", "median", "unit", "runs", "target", "result")]
    for m in metrics:
        runs = ", ".join(_fmt(r) for r in m.runs)
        rows.append((m.name, _fmt(m.median), m.unit, runs, m.target_text, m.result))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.machine(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        info["memTotalKiB"] = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return info


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_dirty() -> bool | None:
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--", "archiver", "schemas"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke version: 20 workflows, 10 MB, 1 repeat")
    parser.add_argument("--repeat", type=int, default=None, help="runs of the short benchmarks (default 3)")
    parser.add_argument(
        "--repeat-long",
        type=int,
        default=None,
        help="runs of the ~40 s benchmarks: quota-bound, unchanged, sequential script (default 2)",
    )
    parser.add_argument("--out", type=Path, help="write the JSON results here (instead of bench/results/)")
    parser.add_argument(
        "--rev",
        metavar="REV",
        help="benchmark the archiver of this git revision (exported to a temp dir), not the working tree",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (stores, logs)")
    parser.add_argument(
        "--only",
        metavar="SECTION",
        action="append",
        help="run only this section (repeatable); --list shows them",
    )
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    args = parser.parse_args(argv)
    load_sections()
    ordered = sorted(SECTIONS.values(), key=lambda x: (x.order, x.name))
    if args.list:
        for sec in ordered:
            print(f"{sec.name:12} {sec.help}")
        return 0
    unknown = sorted(set(args.only or ()) - set(SECTIONS))
    if unknown:
        parser.error(f"no section {', '.join(unknown)}; there are: {', '.join(s.name for s in ordered)}")
    chosen = [sec for sec in ordered if not args.only or sec.name in args.only]
    ran: list[str] = []
    failed_sections: dict[str, str] = {}
    durations: dict[str, float] = {}

    quick = args.quick
    sizes = Sizes(
        workflows=20 if quick else 200,
        versions=2,
        big_bytes=(10 if quick else 100) * MB,
        repeat=max(1, args.repeat if args.repeat is not None else (1 if quick else 3)),
        repeat_long=max(1, args.repeat_long if args.repeat_long is not None else (1 if quick else 2)),
        quick=quick,
    )
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    tmp = tempfile.mkdtemp(prefix="omics-bench-")
    work = Path(tmp)
    suite = Suite(sizes, work)
    suite.say(f"work directory {work}; sizes {sizes}")
    error: str | None = None
    code: dict[str, Any] = {"tree": str(ROOT), "commit": git_commit(), "dirty": git_dirty()}
    try:
        if args.rev:
            code = {"rev": args.rev, "commit": export_revision(args.rev, work / "code"), "dirty": False}
            use_code(work / "code")
            suite.say(f"benchmarking revision {code['commit']}")
        compile_code()
        ran, failed_sections, durations = run_sections(suite, chosen)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        error = str(exc)
        suite.say(f"ERROR: {exc}")
    finally:
        if not args.keep and error is None and not failed_sections:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    finished = datetime.now(UTC)

    metrics = list(suite.metrics.values())
    print()
    print(table(metrics))
    print()
    print(section_summary(ran, durations, failed_sections))
    if quick:
        print(
            "\n--quick: targets in parentheses are set for the full corpus and are not compared here "
            "(small corpora are dominated by fixed start-up costs); the others are quick targets."
        )
    doc = {
        "startedAt": started.isoformat(),
        "finishedAt": finished.isoformat(),
        "quick": quick,
        "notComparedInQuick": [k for k, m in suite.metrics.items() if m.target and not m.compared],
        "sections": ran,
        "sectionSeconds": durations,
        "sectionErrors": failed_sections,
        "code": code,
        "machine": machine(),
        "loadAverage": {"before": load_before, "after": os.getloadavg()},
        "config": {
            "workflows": sizes.workflows,
            "versionsPerWorkflow": sizes.versions,
            "bigDefinitionBytes": sizes.big_bytes,
            "latencyMs": LATENCY_MS,
            "repeat": sizes.repeat,
            "repeatLong": sizes.repeat_long,
            "quotas": dict(DEFAULT_QUOTAS),
        },
        "metrics": {key: m.as_dict() for key, m in suite.metrics.items()},
        "runs": suite.details["runs"],
        "error": error,
    }
    text = json.dumps(doc, indent=2) + "\n"
    if args.out:
        paths = [args.out]
    else:
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        paths = [RESULTS / f"{'quick-' if quick else ''}{stamp}.json"]
        if not quick and not args.only:
            paths.append(RESULTS / "latest.json")
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"\nresults: {', '.join(str(p) for p in paths)}")
    if error or failed_sections:
        if failed_sections:
            print(f"sections that failed: {', '.join(failed_sections)}", file=sys.stderr)
        print(f"logs kept in {work}", file=sys.stderr)
        return 1
    failed = [m.name for m in metrics if m.passed is False]
    if failed:
        print(f"targets missed: {', '.join(failed)}", file=sys.stderr)
    return 0
