"""Bundles: round trips, determinism, the standard tools, damage detection, bounded memory."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pytest
import zstandard

from archiver import BundleError
from archiver._bundle import (
    BundleSource,
    read_bundle,
    read_bundle_from,
    read_manifest,
    read_manifest_from,
    verify_bundle,
    write_bundle,
)
from archiver._layout import readme_sha256, sanitize_metadata, state_id
from archiver._schema import check

from .test_schema import version_response, workflow_response

README = "# Germline\n\nCalls variants. Ünïcode is fine.\n".encode()
Member = tuple[str, bytes]


def make_zip(path: Path, size: int = 2000, *, stored: bool = False) -> Path:
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        zf.writestr("main.wdl", "version 1.0\nworkflow germline {}\n")
        zf.writestr("data/blob.bin", os.urandom(size))
    return path


def source_for(meta: dict[str, Any], *, name: str = "germline") -> BundleSource:
    version = "versionName" in meta
    return BundleSource(
        kind="workflow-version" if version else "workflow",
        partition="aws",
        account="123456789012",
        region="us-east-1",
        arn=meta["arn"],
        workflow_id=meta["workflowId"] if version else meta["id"],
        workflow_uuid="0b4d2c4e-7d1f-4c1e-9a51-5f0c3b2a1d00",
        version_name=meta.get("versionName"),
        uuid=meta["uuid"],
        digest=meta["digest"],
        creation_time=datetime.fromisoformat(meta["creationTime"]),
        status=meta["status"],
        name=name,
    )


def write(
    dest: Path | BinaryIO,
    definition: Path | bytes,
    *,
    response: dict[str, Any] | None = None,
    readme: bytes | None = README,
    **kwargs: Any,
) -> tuple[dict[str, Any], Any]:
    meta = sanitize_metadata(response if response is not None else workflow_response())
    sid = state_id(meta, readme_sha256(readme))
    info = write_bundle(
        dest,
        source=source_for(meta),
        state_id=sid,
        metadata=meta,
        definition=definition,
        readme=readme,
        **kwargs,
    )
    return meta, info


@pytest.fixture
def definition(tmp_path: Path) -> Path:
    return make_zip(tmp_path / "definition.zip")


@pytest.fixture
def bundle(tmp_path: Path, definition: Path) -> Path:
    path = tmp_path / "b.tar.zst"
    write(path, definition)
    return path


def members_of(path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(path.read_bytes()), read_across_frames=True)
    out = []
    with tarfile.open(fileobj=data, mode="r|") as tar:
        for info in tar:
            handle = tar.extractfile(info)
            assert handle is not None
            out.append((info, handle.read()))
    return out


def repack(src: Path, dst: Path, edit: Callable[[list[Member]], list[Member]]) -> Path:
    """Rewrite a bundle with edited members (and a fresh, valid zstd frame around them)."""
    members = edit([(info.name, data) for info, data in members_of(src)])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            tar.addfile(_info(name, len(data)), io.BytesIO(data))
    dst.write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(buf.getvalue()))
    return dst


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    return info


def edit_manifest(change: Callable[[dict[str, Any]], None]) -> Callable[[list[Member]], list[Member]]:
    def edit(members: list[Member]) -> list[Member]:
        manifest = json.loads(members[0][1])
        change(manifest)
        return [("manifest.json", json.dumps(manifest).encode()), *members[1:]]

    return edit


def test_round_trip(tmp_path: Path, definition: Path) -> None:
    response = workflow_response()
    response["aFieldFromTheFuture"] = {"kept": True}
    path = tmp_path / "b.tar.zst"
    meta, info = write(path, definition, response=response)
    assert info.size == path.stat().st_size
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    check("manifest", info.manifest)
    out = tmp_path / "restored.zip"
    contents = read_bundle(path, definition_to=out)
    assert contents.manifest == info.manifest == read_manifest(path)
    assert contents.metadata == meta and contents.metadata["aFieldFromTheFuture"] == {"kept": True}
    assert "definition" not in contents.metadata and "readme" not in contents.metadata
    assert contents.parameter_template == meta["parameterTemplate"]
    assert contents.readme == README
    assert out.read_bytes() == definition.read_bytes()
    assert [m["name"] for m in info.manifest["members"]] == [
        "metadata.json",
        "parameter-template.json",
        "README.md",
        "definition.zip",
    ]
    assert info.manifest["source"]["versionName"] is None
    assert info.manifest["stateId"] == state_id(meta, readme_sha256(README))
    assert verify_bundle(path) == []


@pytest.mark.parametrize("readme", [None, b""])
def test_version_without_readme_or_parameters(tmp_path: Path, definition: Path, readme: bytes | None) -> None:
    response = version_response()
    del response["parameterTemplate"]
    path = tmp_path / "v.tar.zst"
    _, info = write(path, definition, response=response, readme=readme)
    assert info.manifest["kind"] == "workflow-version"
    assert info.manifest["source"]["versionName"] == "v2"
    assert [m["name"] for m in info.manifest["members"]] == [
        "metadata.json",
        "parameter-template.json",
        "definition.zip",
    ]
    contents = read_bundle(path)
    assert contents.readme is None and contents.parameter_template == {}
    assert verify_bundle(path) == []


def test_same_inputs_give_byte_identical_bundles(tmp_path: Path, definition: Path) -> None:
    _, one = write(tmp_path / "one.tar.zst", definition)
    _, two = write(
        tmp_path / "two.tar.zst", definition, response=dict(reversed(list(workflow_response().items())))
    )
    assert (tmp_path / "one.tar.zst").read_bytes() == (tmp_path / "two.tar.zst").read_bytes()
    assert one == two


def test_tar_headers_are_deterministic(bundle: Path) -> None:
    members = members_of(bundle)
    created = int(datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC).timestamp())
    for info, _ in members:
        assert (info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode) == (
            created,
            0,
            0,
            "",
            "",
            0o644,
        )
        assert info.isreg() and info.pax_headers == {}
    names = [info.name for info, _ in members]
    assert names == [
        "manifest.json",
        "metadata.json",
        "parameter-template.json",
        "README.md",
        "definition.zip",
    ]
    for info, data in members[:3]:
        doc = json.loads(data)
        assert data == (json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode(), (
            info.name
        )
    stored = json.loads(members[1][1])
    assert "definition" not in stored and "readme" not in stored and b"X-Amz" not in members[1][1]


@pytest.mark.skipif(shutil.which("zstd") is None or shutil.which("tar") is None, reason="needs zstd and tar")
def test_readable_with_the_standard_tools(tmp_path: Path, bundle: Path, definition: Path) -> None:
    subprocess.run(["zstd", "-q", "-t", str(bundle)], check=True)
    out = tmp_path / "x"
    out.mkdir()
    listing = subprocess.run(
        f"zstd -dc {bundle} | tar -xvf -", shell=True, cwd=out, check=True, capture_output=True, text=True
    )
    assert listing.stdout.split() == [
        "manifest.json",
        "metadata.json",
        "parameter-template.json",
        "README.md",
        "definition.zip",
    ]
    contents = read_bundle(bundle)
    assert (out / "definition.zip").read_bytes() == definition.read_bytes()
    assert (out / "README.md").read_bytes() == README
    assert json.loads((out / "metadata.json").read_bytes()) == contents.metadata
    assert json.loads((out / "manifest.json").read_bytes()) == contents.manifest
    for member in contents.manifest["members"]:
        data = (out / member["name"]).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (member["size"], member["sha256"])


class _Counting(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self.inner, self.consumed = io.BytesIO(data), 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.consumed += len(data)
        return data


def test_read_manifest_reads_only_the_first_member(tmp_path: Path) -> None:
    path = tmp_path / "big.tar.zst"
    write(path, make_zip(tmp_path / "big.zip", 4 << 20, stored=True), level=3)
    data = path.read_bytes()
    stream = _Counting(data)
    manifest = read_manifest_from(stream)
    assert manifest["members"][-1]["size"] > 4 << 20
    assert stream.consumed < 1 << 20 < len(data)
    assert (
        read_manifest_from(io.BytesIO(data[: 512 << 10])) == manifest
    )  # a truncated copy still names itself


def test_a_flipped_byte_is_found(tmp_path: Path) -> None:
    path = tmp_path / "b.tar.zst"
    write(path, make_zip(tmp_path / "d.zip", 256 << 10, stored=True))
    data = path.read_bytes()
    for position in (6, 200, len(data) // 2, len(data) - 3):
        damaged = bytearray(data)
        damaged[position] ^= 0x10
        bad = tmp_path / f"flip-{position}.tar.zst"
        bad.write_bytes(bytes(damaged))
        assert verify_bundle(bad), f"flip at {position} went unnoticed"
        with pytest.raises(BundleError):
            read_bundle(bad)


@pytest.mark.parametrize("cut", [1, 4, 100, "half"])
def test_a_truncated_file_is_found(tmp_path: Path, cut: int | str) -> None:
    path = tmp_path / "b.tar.zst"
    write(path, make_zip(tmp_path / "d.zip", 256 << 10, stored=True))
    data = path.read_bytes()
    keep = len(data) // 2 if cut == "half" else len(data) - int(cut)
    bad = tmp_path / "cut.tar.zst"
    bad.write_bytes(data[:keep])
    found = verify_bundle(bad)
    assert any("truncated" in p for p in found), found
    with pytest.raises(BundleError, match="truncated"):
        read_bundle(bad, definition_to=tmp_path / "out.zip")
    assert not (tmp_path / "out.zip").exists(), "a partial definition must not be left behind"


def test_a_tampered_member_is_named(tmp_path: Path, bundle: Path) -> None:
    def tamper(members: list[Member]) -> list[Member]:
        return [(n, d.replace(b"germline", b"GERMLINE") if n == "metadata.json" else d) for n, d in members]

    bad = repack(bundle, tmp_path / "bad.tar.zst", tamper)
    found = verify_bundle(bad)
    assert any(p.startswith("member metadata.json is damaged: the manifest says") for p in found), found
    with pytest.raises(BundleError, match=r"member metadata\.json is damaged"):
        read_bundle(bad)


def test_repacked_but_intact_bundle_verifies(tmp_path: Path, bundle: Path) -> None:
    assert verify_bundle(repack(bundle, tmp_path / "same.tar.zst", lambda m: m)) == []


def test_missing_extra_and_reordered_members(tmp_path: Path, bundle: Path) -> None:
    gone = repack(bundle, tmp_path / "gone.tar.zst", lambda m: [x for x in m if x[0] != "README.md"])
    assert verify_bundle(gone) == ["member README.md is listed in the manifest but missing from the bundle"]
    extra = repack(bundle, tmp_path / "extra.tar.zst", lambda m: [*m, ("evil.sh", b"rm -rf /\n")])
    assert verify_bundle(extra) == ["unexpected member evil.sh (not in the manifest)"]
    swapped = repack(bundle, tmp_path / "swap.tar.zst", lambda m: [m[0], m[2], m[1], *m[3:]])
    assert any("not in the manifest's order" in p for p in verify_bundle(swapped))
    no_manifest = repack(bundle, tmp_path / "nomanifest.tar.zst", lambda m: m[1:])
    with pytest.raises(BundleError, match=r"first member is metadata\.json, not manifest\.json"):
        read_manifest(no_manifest)


def test_several_frames_are_read_and_trailing_data_is_found(tmp_path: Path, bundle: Path) -> None:
    tar = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(bundle.read_bytes())).read()
    zstd, half = zstandard.ZstdCompressor(write_checksum=True), len(tar) // 2
    skippable = struct.pack("<II", 0x184D2A5A, 5) + b"hello"
    split = tmp_path / "split.tar.zst"
    split.write_bytes(zstd.compress(tar[:half]) + skippable + zstd.compress(tar[half:]))
    assert verify_bundle(split) == [] and read_bundle(split).readme == README
    padded = tmp_path / "padded.tar.zst"
    padded.write_bytes(bundle.read_bytes() + zstd.compress(bytes(10240)))
    assert verify_bundle(padded) == []
    junk = tmp_path / "junk.tar.zst"
    junk.write_bytes(bundle.read_bytes() + zstd.compress(b"junk"))
    assert verify_bundle(junk) == ["there is data after the end of the tar archive"]
    garbage = tmp_path / "garbage.tar.zst"
    garbage.write_bytes(bundle.read_bytes() + b"garbage!")
    assert any("no zstd frame starts at byte" in p for p in verify_bundle(garbage))


def test_format_1_bundles_still_read(tmp_path: Path, bundle: Path) -> None:
    assert read_manifest(bundle)["formatVersion"] == 2 and read_manifest(bundle)["images"] is None

    def to_v1(manifest: dict[str, Any]) -> None:
        manifest["formatVersion"] = 1
        del manifest["images"]

    older = repack(bundle, tmp_path / "v1.tar.zst", edit_manifest(to_v1))
    assert read_manifest(older)["formatVersion"] == 1 and "images" not in read_manifest(older)
    assert read_bundle(older).readme == README and verify_bundle(older) == []
    mixed = repack(bundle, tmp_path / "mixed.tar.zst", edit_manifest(lambda m: m.update(formatVersion=1)))
    assert any("does not match its schema" in p for p in verify_bundle(mixed))  # images belong to format 2


def test_newer_format_version_is_refused(tmp_path: Path, bundle: Path) -> None:
    newer = repack(
        bundle, tmp_path / "v3.tar.zst", edit_manifest(lambda m: m.update(formatVersion=3, more="x"))
    )
    message = "bundle format version 3 is newer than this tool supports (2)"
    with pytest.raises(BundleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_manifest(newer)
    assert verify_bundle(newer) == [message]


def test_manifest_schema_and_consistency_problems(tmp_path: Path, bundle: Path) -> None:
    broken = repack(
        bundle, tmp_path / "s.tar.zst", edit_manifest(lambda m: m["members"][0].update(sha256="XX"))
    )
    with pytest.raises(BundleError, match=r"at \$\.members\[0\]\.sha256"):
        read_manifest(broken)
    other_state = repack(
        bundle, tmp_path / "sid.tar.zst", edit_manifest(lambda m: m.update(stateId="0" * 32))
    )
    assert any("state id" in p for p in verify_bundle(other_state))


@pytest.mark.parametrize(
    "content", [b"", b"not a bundle at all", zstandard.ZstdCompressor().compress(b"x" * 5000)]
)
def test_things_that_are_not_bundles(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk"
    path.write_bytes(content)
    assert verify_bundle(path)
    with pytest.raises(BundleError):
        read_manifest(path)
    assert verify_bundle(tmp_path / "missing")[0].startswith("cannot read")


def test_definition_must_be_a_sound_zip(tmp_path: Path) -> None:
    not_zip = tmp_path / "def.zip"
    not_zip.write_bytes(b"PK\x03\x04 but not really a zip" * 10)
    with pytest.raises(BundleError, match="is not a ZIP file"):
        write(tmp_path / "b.tar.zst", not_zip)
    assert not (tmp_path / "b.tar.zst").exists()
    damaged = make_zip(tmp_path / "damaged.zip", 4096, stored=True)
    raw = bytearray(damaged.read_bytes())
    raw[raw.index(b"data/blob.bin") + 100] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    with pytest.raises(BundleError, match="bad CRC"):
        write(tmp_path / "b.tar.zst", damaged)


def test_verify_checks_the_zip_inside(tmp_path: Path, bundle: Path) -> None:
    garbage = b"not a zip" * 100

    def swap(members: list[Member]) -> list[Member]:
        manifest = json.loads(members[0][1])
        manifest["members"][-1].update(size=len(garbage), sha256=hashlib.sha256(garbage).hexdigest())
        return [("manifest.json", json.dumps(manifest).encode()), *members[1:-1], ("definition.zip", garbage)]

    bad = repack(bundle, tmp_path / "bad.tar.zst", swap)
    assert verify_bundle(bad) == ["member definition.zip is not a ZIP file"]
    read_bundle(bad)  # readers trust the hashes; only verify opens the ZIP


def test_inconsistent_inputs_are_a_caller_bug(tmp_path: Path, definition: Path) -> None:
    meta = sanitize_metadata(workflow_response())
    sid = state_id(meta, None)
    with pytest.raises(ValueError, match="state id"):
        write_bundle(
            tmp_path / "b",
            source=source_for(meta),
            state_id=sid,
            metadata=meta,
            definition=definition,
            readme=README,
        )
    wrong = source_for({**meta, "uuid": "7e1a9c3b-2f4d-4e6a-8b1c-0d2e3f4a5b6c"})
    with pytest.raises(ValueError, match="uuid"):
        write_bundle(
            tmp_path / "b", source=wrong, state_id=sid, metadata=meta, definition=definition, readme=None
        )
    presigned = (
        "https://x/y?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAX/20260101/us-east-1/s3/aws4_request"
        "&X-Amz-Date=20260101T000000Z&X-Amz-Signature=" + "ab" * 32
    )
    leaky = {**meta, "description": presigned}
    with pytest.raises(ValueError, match="presigned"):
        write_bundle(
            tmp_path / "b",
            source=source_for(meta),
            state_id=sid,
            metadata=leaky,
            definition=definition,
            readme=None,
        )


def test_raw_response_is_sanitized_on_the_way_in(tmp_path: Path, definition: Path) -> None:
    response = workflow_response()
    meta = sanitize_metadata(response)
    sid = state_id(response, None)
    path = tmp_path / "b.tar.zst"
    write_bundle(
        path, source=source_for(meta), state_id=sid, metadata=response, definition=definition, readme=None
    )
    assert b"X-Amz" not in zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes())
    with path.open("rb") as fh:
        assert read_bundle_from(fh).metadata == meta


_BIG = textwrap.dedent(
    """
    import json, os, resource, sys, time, zipfile
    from pathlib import Path
    from archiver._bundle import read_bundle, verify_bundle, write_bundle
    from archiver._layout import sanitize_metadata, state_id
    from tests.test_bundle import source_for
    from tests.test_schema import workflow_response

    tmp = Path(sys.argv[1])
    big = tmp / "big.zip"
    with zipfile.ZipFile(big, "w", compression=zipfile.ZIP_STORED) as zf:
        with zf.open("data.bin", "w", force_zip64=True) as fh:
            for _ in range(100):
                fh.write(os.urandom(1 << 20))
    meta = sanitize_metadata(workflow_response())
    sid = state_id(meta, None)
    source = source_for(meta)
    result = {}

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10

    def write(threads, name):
        t0 = time.monotonic()
        info = write_bundle(tmp / name, source=source, state_id=sid, metadata=meta, definition=big,
                            readme=None, threads=threads)
        result[f"write{threads}"] = time.monotonic() - t0
        return info

    # ru_maxrss only grows, so measure from the smallest expected footprint to the largest.
    base = peak()
    info = write(0, "b.tar.zst")
    t0 = time.monotonic()
    read_bundle(tmp / "b.tar.zst", definition_to=tmp / "out.zip")
    result["read"] = time.monotonic() - t0
    t0 = time.monotonic()
    result["problems"] = verify_bundle(tmp / "b.tar.zst")
    result["verify"] = time.monotonic() - t0
    result["single_thread_mib"] = peak() - base
    write(1, "b1.tar.zst")
    result["one_worker_mib"] = peak() - base
    write(-1, "b2.tar.zst")
    result["all_cores_mib"] = peak() - base
    result["cores"] = os.cpu_count()
    result["same"] = (tmp / "out.zip").read_bytes() == big.read_bytes()
    result["size"] = info.size
    print(json.dumps(result))
    """
)


@pytest.mark.slow
def test_a_100_mb_definition_streams_in_bounded_memory(tmp_path: Path) -> None:
    """Memory does not grow with the definition. Single-threaded and with one zstd worker a bundle
    costs under 50 MiB; every further worker (threads=-1: one per core) adds its match tables and
    jobs, about 30 MiB at level 10."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", _BIG, str(tmp_path)], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["problems"] == [] and result["same"]
    assert result["size"] > 100 << 20
    assert result["single_thread_mib"] < 50, result
    assert result["one_worker_mib"] < 50, result
    assert result["all_cores_mib"] < 20 + 30 * result["cores"], result
    assert result["write0"] + result["read"] + result["verify"] < 10, result


def test_definition_in_memory_gives_the_same_members(tmp_path: Path, definition: Path) -> None:
    """The pipeline bundles small definitions from memory into memory: same members, standard tools."""
    from_file = tmp_path / "from-file.tar.zst"
    write(from_file, definition)
    buffer = io.BytesIO()
    _, info = write(buffer, definition.read_bytes())
    from_memory = tmp_path / "from-memory.tar.zst"
    from_memory.write_bytes(buffer.getvalue())
    assert info.size == len(buffer.getvalue())
    assert info.sha256 == hashlib.sha256(buffer.getvalue()).hexdigest()
    assert [(i.get_info(), d) for i, d in members_of(from_memory)] == [
        (i.get_info(), d) for i, d in members_of(from_file)
    ]
    assert verify_bundle(from_memory) == []
    subprocess.run(["zstd", "-q", "-t", str(from_memory)], check=True)
    frame = zstandard.get_frame_parameters(buffer.getvalue())
    assert frame.content_size == len(b"".join(_tar_of(from_file)))  # one-shot: size in the header
    assert frame.has_checksum
    assert frame.window_size <= 1 << 17  # sized to the input, not level 10's 8 MiB window


def test_a_damaged_definition_in_memory_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with pytest.raises(BundleError, match="is not a ZIP file"):
        write(buffer, b"PK\x03\x04 not really")


def _tar_of(bundle: Path) -> list[bytes]:
    return [zstandard.ZstdDecompressor().decompressobj().decompress(bundle.read_bytes())]


def test_reading_leaves_no_walk_for_the_garbage_collector(bundle: Path, tmp_path: Path) -> None:
    """Every read frees its decompressor at once (issue 11, 4): no reference cycle waits for a GC.

    Before, the TarFile pointed back at its walk, so each zstd reader lived until a full collection
    and ``verify`` grew ~46 KB a bundle. With the collector off, no walk may be left behind.
    """
    import gc

    from archiver._bundle import _Walk

    damaged = tmp_path / "damaged.tar.zst"
    damaged.write_bytes(bundle.read_bytes()[:-40])
    head = bundle.read_bytes()[:4096]
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            read_manifest(bundle)
            read_manifest_from(io.BytesIO(head))
            read_bundle(bundle)
            assert verify_bundle(bundle) == []
            assert verify_bundle(damaged) != []
            with pytest.raises(BundleError):
                read_bundle(damaged)
        left = [o for o in gc.get_objects() if isinstance(o, _Walk)]
    finally:
        gc.enable()
    assert left == []
