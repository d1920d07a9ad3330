"""Browsing a year-old archive, and every read command's peak RSS at two archive sizes (issue 11, 3-4).

The archives are generated in the store format (``bench/archive.py``): the large one is 4,000
items (2,000 workflows x 1 version) x 365 nightly snapshots with 20 items changing a night
(~11,300 bundles, ~1.3 GB of snapshots); the small one a tenth of the items and of the nights.
Generating the large one takes minutes, so with ``BENCH_ARCHIVE_CACHE=DIR`` each archive is
generated once into ``DIR`` (outside the repository) and every run works on a hard-linked copy
(``prune`` deletes from the copy; the files themselves are never written).

Each command runs as a CLI subprocess against a file store, with a cache directory of its own:
the first ``list`` builds the snapshot index (reported as "cold"), the measured runs use it, and
``prune`` runs last. Wall time, CPU time (user + system, which the load of a shared machine
distorts less) and peak RSS are recorded for each.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ..archive import Generated, write_archive
from ..measure import section

if TYPE_CHECKING:
    from ..suite import Suite

MB = 1_000_000
RSS_TARGET = "<= 150"
_CACHE_ENV = "BENCH_ARCHIVE_CACHE"
_DONE = "GENERATED.json"
_SHOWN = {
    "list_cold": "list, index cold (reads, validates and indexes every snapshot)",
    "list": "list, index built",
    "snapshots": "snapshots, index built",
    "list_after_prune": "list after prune",
}
"""How each run is named in the table (the others by their command)."""


def _fingerprint() -> str:
    """Of the generator and the snapshot schema: a cached archive is used only if both are the same."""
    from archiver import _schema

    from .. import archive

    h = hashlib.sha256(Path(archive.__file__).read_bytes())
    h.update(json.dumps(_schema.schema("snapshot"), sort_keys=True).encode("utf-8"))
    return h.hexdigest()[:12]


def _sizes(quick: bool) -> dict[str, dict[str, int]]:
    if quick:
        return {
            "small": {"workflows": 20, "versions": 1, "nights": 10, "changes_per_night": 2},
            "large": {"workflows": 200, "versions": 1, "nights": 37, "changes_per_night": 2},
        }
    return {
        "small": {"workflows": 200, "versions": 1, "nights": 37, "changes_per_night": 2},
        "large": {"workflows": 2000, "versions": 1, "nights": 365, "changes_per_night": 20},
    }


def archive_copy(store: Path, size: dict[str, int]) -> Generated:
    """Write the archive of ``size`` at ``store``: generated there, or hard-linked from the cache."""
    cache = os.environ.get(_CACHE_ENV)
    if not cache:
        return write_archive(store, **size)
    name = "archive-{workflows}x{versions}x{nights}x{changes_per_night}-".format(**size) + _fingerprint()
    source = Path(cache) / name
    done = source / _DONE
    if not done.is_file():
        shutil.rmtree(source, ignore_errors=True)
        got = write_archive(source, **size)
        done.write_text(json.dumps(got.__dict__), encoding="utf-8")
    shutil.copytree(source, store, copy_function=os.link, ignore=shutil.ignore_patterns(_DONE))
    return Generated(**json.loads(done.read_text(encoding="utf-8")))


@section("browse", order=50)
def browse(suite: Suite) -> None:
    """list, snapshots, show, report, verify and prune on generated archives of two sizes"""
    from .._proc import CLI, run

    sizes = _sizes(suite.sizes.quick)
    for label, size in sizes.items():
        store = suite.work / f"archive-{label}"
        got = archive_copy(store, size)
        items = got.items
        what = f"{label}: {items} items x {got.nights} snapshots, {got.bundles} bundles"
        suite.say(f"archive {what} ({got.snapshot_bytes / MB:.0f} MB of snapshots)")
        suite.details.setdefault("archives", {})[label] = got.__dict__
        cache = suite.work / f"cache-{label}"
        large = label == "large"

        def cli(
            name: str,
            *args: str,
            cache_dir: Path | None = cache,
            store: Path = store,
            label: str = label,
            what: str = what,
            target: str | None = None,
            large: bool = large,
        ) -> str:
            extra = ["--cache-dir", str(cache_dir)] if cache_dir is not None else []  # verify: no cache
            cmd = [*CLI, *args, "--store", str(store), *extra]
            done = run(cmd, log_dir=suite.logs, name=suite._name(f"{label}-{name}"), timeout=3600)
            if done.returncode not in (0,):
                raise RuntimeError(
                    f"{' '.join(args)} ({label}) exited {done.returncode}:\n{done.stderr_tail}"
                )
            suite.record(f"{label}-{name}", done, cpuSeconds=round(done.cpu_seconds, 3))
            rss = done.maxrss_kib * 1024 / MB
            suite.say(
                f"{label} {name}: {done.seconds:.2f} s, CPU {done.cpu_seconds:.2f} s, peak RSS {rss:.0f} MB"
            )
            shown = _SHOWN.get(name, name)
            suite.measure(
                f"browse.{label}.{name}_s",
                f"{shown}, {what}: wall time",
                done.seconds,
                "s",
                target=target if large else None,
            )
            suite.measure(f"browse.{label}.{name}_cpu_s", f"{shown}, {what}: CPU time", done.cpu_seconds, "s")
            suite.measure(
                f"browse.{label}.{name}_mb",
                f"{shown}, {what}: peak RSS",
                rss,
                "MB",
                target=RSS_TARGET,
                quick_target=RSS_TARGET,
            )
            return done.stdout

        cli("list_cold", "list", "--json")  # builds the snapshot index
        out = ""
        for _ in range(suite.sizes.repeat):
            out = cli("list", "list", "--json", target="<= 5")
            cli("snapshots", "snapshots", "--json", target="<= 5")
        first = json.loads(out)["workflows"][0]
        cli("show", "show", str(first["uuid"]), "--json")
        cli("report", "report", "--json")
        cli("verify", "verify", "--json", cache_dir=None)
        policy = ["--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "12"]
        cli("prune", "prune", *policy, "--json", target="<= 60")
        cli("list_after_prune", "list", "--json")
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
        size = {"workflows": bundles // 2 - 5, "versions": 1, "nights": 2, "changes_per_night": 10}
        got = archive_copy(store, size)
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
