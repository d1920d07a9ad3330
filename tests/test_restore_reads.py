"""What a restore's planning costs: each bundle read once, in place, in one thread hop.

Planning reads every selected bundle before anything is created (a plan with problems creates
nothing), so the whole restore waits for it: a file store's bundle is read where it lies (no copy
into the work directory), hashed, walked and its definition checked in a single worker-thread
hop, and the definition kept in memory within a budget (beyond it: the work directory, with the
same result). The images step takes the image inventories the plan read instead of re-reading
every bundle's head. A restore's creates start at full bucket, and the CLI imports only the
command it runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archiver._ratelimit import RateLimiter
from archiver.cli import main
from archiver.images import _readiness
from archiver.images._resolve import EcrSettings
from archiver.restore import RestoreConfig, WorkflowPlan, plan_restore, resolve_view
from archiver.restore import _plan as plan_module
from archiver.store import open_archive
from archiver.testing import Emulator, EmulatorConfig
from tests.emulator_helpers import KNOWN_KEYS

SEED = Path(__file__).resolve().parent.parent / "examples" / "seed"
ITEMS = 4 + 8  # examples/seed: 4 workflows, 8 versions


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "archive"
    with Emulator(EmulatorConfig(quotas=None, credentials=KNOWN_KEYS), seed_dir=SEED) as emu:
        code = main(["backup", "--store", str(path), "--endpoint-url", emu.url, "--no-rate-limit", "--json"])
    assert code == 0
    return path


class _Counting(concurrent.futures.ThreadPoolExecutor):
    submitted = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        type(self).submitted += 1
        return super().submit(fn, *args, **kwargs)


async def _plan(store: Path, work: Path, **config: Any) -> tuple[list[WorkflowPlan], list[str], int]:
    """The plan of ``--all`` into B / us-west-2, and the worker-thread hops planning took."""
    async with open_archive(str(store), create=False) as opened:
        cfg = RestoreConfig(select_all=True, **config)
        view = await resolve_view(opened, cfg)
        executor = _Counting(max_workers=4)
        asyncio.get_running_loop().set_default_executor(executor)
        _Counting.submitted = 0
        plans, problems = await plan_restore(
            opened, cfg, view, work=work, target_account="444455556666", target_region="us-west-2"
        )
        return plans, problems, _Counting.submitted


def test_each_bundle_is_read_once_in_one_hop_and_its_definition_kept_in_memory(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    plans, problems, hops = asyncio.run(_plan(store, work))
    assert problems == []
    items = [i for p in plans for i in p.items()]
    assert len(items) == ITEMS
    assert hops == ITEMS  # one hop a bundle: no copy, no separate hashing, reading or ZIP check
    assert list(work.iterdir()) == []  # nothing copied or written: the definitions are in memory
    for item in items:
        assert item.definition is None and item.definition_data is not None
        assert len(item.definition_data) == item.definition_size > 0
        assert item.images is not None  # the manifest's image inventory, for the images step

    # over the memory budget, definitions wait in the work directory: the same plan otherwise
    monkeypatch.setattr(plan_module, "DEFINITIONS_IN_MEMORY", 0)
    spilled, problems, hops = asyncio.run(_plan(store, work))
    assert problems == [] and hops == ITEMS
    on_disk = [i for p in spilled for i in p.items()]
    assert sorted(work.iterdir()) == sorted(i.definition for i in on_disk if i.definition is not None)
    assert len(list(work.iterdir())) == ITEMS
    for kept, written in zip(items, on_disk, strict=True):
        assert written.definition_data is None and written.definition is not None
        assert written.definition.read_bytes() == kept.definition_data
        assert (written.request_id, written.definition_sha256) == (kept.request_id, kept.definition_sha256)


def test_a_damaged_bundle_is_a_problem_and_leaves_nothing_behind(store: Path, tmp_path: Path) -> None:
    copy = store
    bundle = sorted(copy.glob("bundles/**/*.tar.zst"))[0]
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bundle.chmod(0o600)
    bundle.write_bytes(bytes(data))
    work = tmp_path / "work"
    work.mkdir()
    _, problems, _ = asyncio.run(_plan(copy, work, rewrite_images=True))
    assert len(problems) == 1 and "does not match the SHA-256 its snapshot records" in problems[0], problems
    # every other definition (rewritten: on disk) is there, the damaged one's is not
    assert len(list(work.iterdir())) == ITEMS - 1


def test_the_images_step_uses_the_inventories_the_plan_read() -> None:
    class NoReads:
        async def get_bytes(self, key: str) -> bytes:
            raise AssertionError(f"read {key}")

        def open_read(self, key: str, *, chunk_size: int = 1 << 20) -> Any:
            raise AssertionError(f"read {key}")

    entry = {"key": "bundles/x/workflow/sha256-0/0.tar.zst"}
    readiness = asyncio.run(
        _readiness.check_readiness(
            NoReads(),  # type: ignore[arg-type]
            [("workflow 1 (x)", entry)],
            lambda uri: uri,
            EcrSettings(region="us-west-2"),
            {entry["key"]: {"entries": []}},
        )
    )
    assert readiness.images == [] and readiness.unreadable == []


async def test_a_burst_starts_at_full_bucket_less_one_and_a_throttle_ends_it() -> None:
    limiter = RateLimiter({"CreateWorkflow": 20.0})
    limiter.allow_burst(["CreateWorkflow", "Unlimited"])
    for _ in range(19):  # the service's bucket holds 20 (one second); the client uses one less
        await limiter.acquire("CreateWorkflow")
    assert limiter.statistics().waited_seconds == {}
    await limiter.acquire("CreateWorkflow")
    assert limiter.statistics().waited_seconds["CreateWorkflow"] > 0
    limiter.throttled("CreateWorkflow")  # the bucket was not full after all: spaced from now on
    await asyncio.sleep(2.0)  # long idle: a bucket would be full again
    waited = limiter.statistics().waited_seconds["CreateWorkflow"]
    await limiter.acquire("CreateWorkflow")
    await limiter.acquire("CreateWorkflow")
    assert limiter.statistics().waited_seconds["CreateWorkflow"] > waited


def test_a_command_imports_only_its_own_module() -> None:
    code = (
        "import sys; from archiver.cli import build_parser; build_parser(['restore', '--help']); "
        "print(sorted(m for m in sys.modules if m.startswith('archiver.cli.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out.replace("'", '"'))
    assert "archiver.cli._restore" in loaded
    # nor what only a run across destinations needs (the targets file, the drill, the mapping file)
    assert not {"archiver.cli._backup", "archiver.cli._archive", "archiver.cli._emulator"} & set(loaded)
    assert "archiver.cli._restore_targets" not in loaded


def test_the_bundles_are_read_while_the_target_account_is_asked(
    store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from archiver.restore import _read, _run

    reads: list[str] = []
    real_read, real_account = _read.read_for_plan, _run._target_account

    async def read_for_plan(opened: Any, key: str, **kwargs: Any) -> Any:
        reads.append(key)
        return await real_read(opened, key, **kwargs)

    async def target_account(api: Any, config: Any) -> str:
        for _ in range(500):  # the account is known only once every bundle has been read
            if len(reads) == ITEMS:
                return await real_account(api, config)
            await asyncio.sleep(0.01)
        raise AssertionError(f"{len(reads)} bundles read while the account was asked")

    monkeypatch.setattr(_read, "read_for_plan", read_for_plan)
    monkeypatch.setattr(_run, "_target_account", target_account)
    with Emulator(EmulatorConfig(quotas=None, credentials=KNOWN_KEYS), seed_dir=SEED) as emu:
        where = ["--store", str(store), "--endpoint-url", emu.url, "--region", "us-west-2"]
        code = main(["restore", "--all", *where, "--no-rate-limit", "--allow-missing-images", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["problems"]
    assert report["stats"]["workflowsCreated"] + report["stats"]["versionsCreated"] == ITEMS
    assert sorted(reads) == sorted(set(reads))  # each once
