"""Browsing a year-old archive, and every read command's peak RSS at two archive sizes (issue 11, 3-4).

The archives are generated in the store format (``bench/archive.py``): the large one is 4,000
items (2,000 workflows x 1 version) x 365 nightly snapshots with 20 items changing a night
(~11,300 bundles, ~1 GB of snapshots); the small one a tenth of the items and of the nights.
Each command runs as a CLI subprocess against a file store, with a cache directory of its own:
the first ``list`` builds the snapshot index (reported as "cold"), the measured runs use it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ..archive import write_archive
from ..measure import section

if TYPE_CHECKING:
    from ..suite import Suite

MB = 1_000_000
RSS_TARGET = "<= 150"


def _sizes(quick: bool) -> dict[str, dict[str, int]]:
    if quick:
        return {
            "small": {"workflows": 20, "versions": 1, "nights": 10, "changes_per_night": 2},
            "large": {"workflows": 200, "versions": 1, "nights": 36, "changes_per_night": 2},
        }
    return {
        "small": {"workflows": 200, "versions": 1, "nights": 36, "changes_per_night": 2},
        "large": {"workflows": 2000, "versions": 1, "nights": 365, "changes_per_night": 20},
    }


@section("browse", order=50)
def browse(suite: Suite) -> None:
    """list, snapshots, show, verify and prune on generated archives of two sizes"""
    from .._proc import CLI, run

    sizes = _sizes(suite.sizes.quick)
    for label, size in sizes.items():
        store = suite.work / f"archive-{label}"
        got = write_archive(store, **size)
        items = got.items
        what = f"{label}: {items} items x {got.nights} snapshots, {got.bundles} bundles"
        suite.say(f"generated {what} ({got.snapshot_bytes / MB:.0f} MB of snapshots)")
        suite.details.setdefault("archives", {})[label] = got.__dict__
        cache = suite.work / f"cache-{label}"
        large = label == "large"

        def cli(
            name: str, *args: str, cache_dir: Path | None = cache, store: Path = store, label: str = label
        ) -> tuple[float, float, str]:
            extra = ["--cache-dir", str(cache_dir)] if cache_dir is not None else ["--no-cache"]
            cmd = [*CLI, *args, "--store", str(store), *extra]
            done = run(cmd, log_dir=suite.logs, name=suite._name(f"{label}-{name}"), timeout=1800)
            if done.returncode not in (0,):
                raise RuntimeError(
                    f"{' '.join(args)} ({label}) exited {done.returncode}:\n{done.stderr_tail}"
                )
            suite.record(f"{label}-{name}", done)
            suite.say(f"{label} {name}: {done.seconds:.2f} s, peak RSS {done.maxrss_kib * 1024 / MB:.0f} MB")
            return done.seconds, done.maxrss_kib * 1024 / MB, done.stdout

        s, rss, _ = cli("list-cold", "list", "--json")
        suite.measure(f"browse.{label}.list_cold_s", f"list, {what}: first run (builds the index)", s, "s")
        suite.measure(f"browse.{label}.list_cold_mb", f"list, {what}: first run peak RSS", rss, "MB")
        for command in ("list", "snapshots"):
            for _ in range(suite.sizes.repeat):
                s, rss, out = cli(command, command, "--json")
                suite.measure(
                    f"browse.{label}.{command}_s",
                    f"{command}, {what}: wall time",
                    s,
                    "s",
                    target="<= 5" if large else None,
                )
                suite.measure(
                    f"browse.{label}.{command}_mb",
                    f"{command}, {what}: peak RSS",
                    rss,
                    "MB",
                    target=RSS_TARGET,
                    quick_target=RSS_TARGET,
                )
        workflow = json.loads(out if command == "list" else cli("list", "list", "--json")[2])
        first = (
            (workflow.get("workflows") or workflow.get("rows") or [{}])[0]
            if isinstance(workflow, dict)
            else workflow[0]
        )
        s, rss, _ = cli("show", "show", str(first.get("uuid") or first.get("workflowId")), "--json")
        suite.measure(f"browse.{label}.show_s", f"show, {what}: wall time", s, "s")
        suite.measure(
            f"browse.{label}.show_mb",
            f"show, {what}: peak RSS",
            rss,
            "MB",
            target=RSS_TARGET,
            quick_target=RSS_TARGET,
        )
        s, rss, _ = cli("verify", "verify", "--json", cache_dir=None)
        suite.measure(f"browse.{label}.verify_mb", f"verify (structure), {what}: peak RSS", rss, "MB")
        suite.measure(f"browse.{label}.verify_s", f"verify (structure), {what}: wall time", s, "s")
        policy = ["--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "12"]
        s, rss, _ = cli("prune", "prune", *policy, "--json")
        suite.measure(
            f"browse.{label}.prune_s",
            f"prune {' '.join(policy)}, {what}: wall time",
            s,
            "s",
            target="<= 60" if large else None,
        )
        suite.measure(
            f"browse.{label}.prune_mb",
            f"prune, {what}: peak RSS",
            rss,
            "MB",
            target=RSS_TARGET,
            quick_target=RSS_TARGET,
        )
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)


@section("verify", order=55)
def verify_memory(suite: Suite) -> None:
    """peak RSS of verify (structure) over 1,000 and 10,000 bundles: flat, under 150 MB"""
    from .._proc import CLI, run

    counts = (100, 1000) if suite.sizes.quick else (1000, 10000)
    rss_at: dict[int, float] = {}
    for bundles in counts:
        store = suite.work / f"verify-{bundles}"
        # two nights of bundles/2 workflows with one version each; 10 items change on the second
        got = write_archive(store, workflows=bundles // 2 - 5, versions=1, nights=2, changes_per_night=10)
        done = run(
            [*CLI, "verify", "--store", str(store), "--json"],
            log_dir=suite.logs,
            name=suite._name(f"verify-{bundles}"),
            timeout=1800,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"verify of {got.bundles} bundles exited {done.returncode}:\n{done.stderr_tail}"
            )
        rss = rss_at[bundles] = done.maxrss_kib * 1024 / MB
        suite.record(f"verify-{bundles}", done)
        suite.say(f"verify {got.bundles} bundles: {done.seconds:.1f} s, peak RSS {rss:.0f} MB")
        suite.measure(
            f"verify.{bundles}.rss_mb",
            f"verify (structure), {got.bundles} bundles: peak RSS",
            rss,
            "MB",
            target=RSS_TARGET,
            quick_target=RSS_TARGET,
        )
        suite.measure(
            f"verify.{bundles}.seconds",
            f"verify (structure), {got.bundles} bundles: wall time",
            done.seconds,
            "s",
        )
        shutil.rmtree(store, ignore_errors=True)
    small, large = counts
    suite.measure(
        "verify.growth_kb",
        f"verify: RSS growth per bundle from {small} to {large} bundles",
        (rss_at[large] - rss_at[small]) * 1000 / (large - small),
        "KB",
        note="snapshot entries and the per-bundle report: the documented index; it was ~46 KB a bundle",
    )
