"""The backup's CPU savings change nothing a reader or the service sees (issue 11, point 5): the
cached User-Agent is byte for byte botocore's, the inlined schemas judge as the schemas do, a file
store builds and writes a bundle in one hop and never over an existing key, and a deferred
directory sync makes every new entry durable before the run goes on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from archiver import _schema
from archiver._aws import AwsSettings, _cache_user_agent, open_omics_api
from archiver._layout import sanitize_metadata
from archiver.store import FileStore
from archiver.store import _file as file_module
from archiver.store._hotpath import deferred_dir_sync, put_built
from archiver.testing import Emulator, EmulatorConfig

from .test_schema import version_response, workflow_response


def _agents(client: Any) -> list[str]:
    seen: list[str] = []
    client.meta.events.register_last(
        "before-send.omics", lambda request, **_: seen.append(request.headers["User-Agent"])
    )
    return seen


async def test_the_cached_user_agent_is_the_one_botocore_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "123456789012")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    with Emulator(EmulatorConfig(quotas=None)) as emu:
        settings = AwsSettings(region="us-east-1", endpoint_url=emu.url)
        async with open_omics_api(settings) as api:
            api._lean = None  # botocore sends every call here (tests/test_leanreads.py: the lean path's)
            cached = _agents(api._client)
            for _ in range(3):
                await api.call("ListWorkflows", type="PRIVATE")
            await api.call("ListShares", resourceOwner="OTHER")
            cached = list(cached)
            # the same client without the cache: what botocore itself sends
            creator = api._client._user_agent_creator
            del creator.to_string
            plain = _agents(api._client)
            for _ in range(3):
                await api.call("ListWorkflows", type="PRIVATE")
            await api.call("ListShares", resourceOwner="OTHER")
            _cache_user_agent(api._client)
    assert cached == plain and b"omics-archiver" in cached[0]


@pytest.mark.parametrize(
    ("name", "build"), [("workflow", workflow_response), ("workflow-version", version_response)]
)
def test_the_inlined_schema_judges_as_the_schema_does(name: _schema.SchemaName, build: Any) -> None:
    fast, slow = _schema._fast_validator(name), _schema._validator(name)
    good = sanitize_metadata(build())
    bad = [
        {**good, "status": "BROKEN"},
        {**good, "uuid": "not-a-uuid"},
        {**good, "creationTime": "yesterday"},
        {**good, "novel": 1},
        {k: v for k, v in good.items() if k != "arn"},
    ]
    for doc in [good, *bad]:
        assert fast.is_valid(doc) == slow.is_valid(doc), doc
    assert _schema.classify(name, good) == ([], [])
    assert _schema.classify(name, bad[3]) == ([], ["$.novel"])
    assert _schema.classify(name, bad[0])[0][0].path == "$.status"


async def test_put_built_writes_once_and_never_builds_over_an_existing_key(tmp_path: Path) -> None:
    store = await FileStore.open(tmp_path / "s")
    built: list[str] = []

    def build(text: str) -> Any:
        def run() -> tuple[bytes, str]:
            built.append(text)
            return text.encode(), text

        return run

    assert await put_built(store, "a/b/c", build("one")) == (True, "one")
    assert await put_built(store, "a/b/c", build("two")) == (False, None)
    assert built == ["one"] and (tmp_path / "s/a/b/c").read_bytes() == b"one"
    assert (tmp_path / "s/a/b/c").stat().st_mode & 0o777 == 0o600


async def test_deferred_directory_syncs_happen_before_the_block_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    real = file_module.fsync_dir
    monkeypatch.setattr(file_module, "fsync_dir", lambda p: (synced.append(Path(p)), real(p)))
    store = await FileStore.open(tmp_path / "s")
    root = store.root
    async with deferred_dir_sync(store) as sync:
        await store.put_bytes("bundles/x/y/one", b"1")
        await store.put_bytes("bundles/x/z/two", b"2")
        assert synced == [], "nothing is synced one by one while deferred"
        await sync(["bundles/x/y/one", "bundles/q/elsewhere"])
        wanted = {root / "bundles/x/y", root / "bundles/x/z", root / "bundles/x", root / "bundles", root}
        assert wanted <= set(synced)
        assert root / "bundles/q" in synced or not (root / "bundles/q").exists()
    synced.clear()
    await store.put_bytes("bundles/x/w/three", b"3")
    assert root / "bundles/x/w" in synced, "outside the block every write syncs at once again"


def test_a_backup_of_one_account_region_does_not_load_the_targets_machinery() -> None:
    code = (
        "import sys; from archiver.cli import build_parser; build_parser(['backup', '--help']); "
        "import archiver._backup, archiver._pipeline; "
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('archiver', 'yaml', 'jsonschema', 'rich')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(out.replace("'", '"')))
    assert "archiver.cli._backup_targets" in loaded  # its options are on the parser
    assert not {m for m in loaded if m.startswith(("archiver.targets", "archiver.drill", "archiver.restore"))}
    assert not {"yaml", "jsonschema"} & loaded  # targets files; schema explanations only on failure
    assert not {m for m in loaded if m.split(".")[0] == "rich"}  # only for a terminal's progress


def test_commands_that_read_a_file_store_import_no_aws_sdk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``list``, ``snapshots``, ``show`` and ``verify`` of a file store read the store alone: the AWS
    SDK (aiobotocore, botocore, aiohttp: ~0.4 s of CPU to import) is for the commands that call AWS
    and for S3 stores."""
    from archiver.cli import main

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "123456789012")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    store = tmp_path / "archive"
    seed = Path(__file__).resolve().parent.parent / "examples" / "seed"
    with Emulator(EmulatorConfig(quotas=None), seed_dir=seed) as emu:
        assert (
            main(["backup", "--store", str(store), "--endpoint-url", emu.url, "--region", "us-east-1"]) == 0
        )
    sdk = ("aiobotocore", "botocore", "boto3", "aiohttp", "jsonschema")
    commands = [
        ["list", "--store", str(store)],
        ["snapshots", "--store", str(store)],
        ["show", "--store", str(store), "1048576"],
        ["verify", "--store", str(store), "--read-data"],
    ]
    for argv in commands:
        code = (
            "import json, sys; from archiver.cli import main; code = main(sys.argv[1:]); "
            "print(json.dumps([code, sorted({m.split('.')[0] for m in sys.modules})]), file=sys.stderr)"
        )
        done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True)
        exit_code, roots = json.loads(done.stderr.strip().splitlines()[-1])
        assert exit_code == 0, (argv, done.stderr)
        assert not set(sdk) & set(roots), (argv[0], set(sdk) & set(roots))
