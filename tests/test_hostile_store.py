"""Hostile or damaged store content is refused, bounded, and named (issue 10, point 9), via the CLI.

Each case damages one object of a real archive (built by the real backup against the emulator) and
runs the readers on it. Every refusal is a clear error naming the key (exit 1, no traceback) while
the other bundles and snapshots are still checked. The memory and disk cases run the CLI in a child
process, whose peak RSS (``VmHWM``) is measured and whose file size limit (``RLIMIT_FSIZE``) is
what a bomb would have to write past.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig

from .test_catalog_support import SEED, Archive, copy_archive, fake_aws_env, run_cli

_CHILD = """
import resource, sys
from archiver.cli import main
limit = int(sys.argv[1])
if limit:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
code = main(sys.argv[2:])
# VmHWM, not ru_maxrss: the latter keeps the forking parent's size across exec
hwm = next(x for x in open("/proc/self/status") if x.startswith("VmHWM:")).split()[1]
sys.stderr.write("\\nPEAK_RSS_KIB=%s\\n" % hwm)
sys.exit(code)
"""
_FSIZE = 64 << 20


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Archive, str]]:
    """One real file archive (one backup of the seed) and the emulator it came from."""
    tmp = tmp_path_factory.mktemp("hostile")
    with fake_aws_env(tmp), Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        archive = Archive("file", str(tmp / "archive"), (), root=tmp / "archive")
        code, out = run_cli(
            archive.cli("backup", "--endpoint-url", emu.url, "--json", "--log-level", "ERROR")
        )
        assert code == 0, out
        yield archive, emu.url


@pytest.fixture
def archive(pristine: tuple[Archive, str], tmp_path: Path) -> Archive:
    return copy_archive(pristine[0], tmp_path)


def child(argv: list[str], *, fsize: int = _FSIZE) -> tuple[int, str, int]:
    """Run the CLI in a child process: (exit code, stdout and stderr, peak RSS in MiB)."""
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(fsize), *argv], capture_output=True, text=True, timeout=300
    )
    peak = -1
    if "PEAK_RSS_KIB=" in proc.stderr:
        peak = int(proc.stderr.rsplit("PEAK_RSS_KIB=", 1)[1].split()[0]) // 1024
    print(argv[0], "exit", proc.returncode, "peak RSS MiB", peak)  # shown with pytest -s: the figures
    return proc.returncode, proc.stdout + proc.stderr, peak


def snapshot_key(archive: Archive) -> str:
    return archive.list_keys("snapshots/")[0]


def definition_bundle(archive: Archive, workflow_id: str = "1048576") -> str:
    snap = json.loads(archive.read(snapshot_key(archive)))
    return next(
        b["key"] for b in snap["bundles"] if b["workflowId"] == workflow_id and b["kind"] == "workflow"
    )


def members(raw: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw), read_across_frames=True).read()
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for info in tar.getmembers():
            fh = tar.extractfile(info)
            assert fh is not None
            out.append((info, fh.read()))
    return out


def tar_bytes(parts: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in parts:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def record(archive: Archive, key: str, raw: bytes) -> None:
    """Write ``raw`` as bundle ``key`` and make the snapshot agree (as a consistent attacker would)."""
    archive.write(key, raw)
    snap_key = snapshot_key(archive)
    snap = json.loads(archive.read(snap_key))
    for entry in snap["bundles"]:
        if entry["key"] == key:
            entry["size"], entry["sha256"] = len(raw), hashlib.sha256(raw).hexdigest()
    archive.write(snap_key, json.dumps(snap).encode())


def zstd_bomb(archive: Archive, key: str, inflated: int) -> bytes:
    """The bundle with definition.zip's tar header claiming ``inflated`` zero bytes; manifest unchanged."""
    parts = members(archive.read(key))
    head = b""
    for info, data in parts[:-1]:
        info.size = len(data)
        head += info.tobuf(tarfile.PAX_FORMAT) + data + bytes(-len(data) % 512)
    info = parts[-1][0]
    info.size = inflated
    header = info.tobuf(tarfile.PAX_FORMAT)
    out = io.BytesIO()
    with zstandard.ZstdCompressor(level=3).stream_writer(out, closefd=False) as zw:
        zw.write(head + header)
        zero = bytes(1 << 20)
        for _ in range(inflated >> 20):
            zw.write(zero)
    return out.getvalue()


def lying_zip(inflated: int) -> bytes:
    """A ZIP whose member main.nf says it is 30 bytes but deflates to ``inflated`` bytes."""
    honest = io.BytesIO()
    text = b"version 1.0\nworkflow main { }\n"
    with zipfile.ZipFile(honest, "w") as z:
        z.writestr(zipfile.ZipInfo("main.nf", date_time=(2026, 1, 1, 0, 0, 0)), text)
    raw = honest.getvalue()
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = (
        comp.compress(text)
        + b"".join(comp.compress(bytes(1 << 20)) for _ in range(inflated >> 20))
        + comp.flush()
    )
    # local header (30 + name) + data, then the central directory and end record, sizes patched
    name = b"main.nf"
    local = bytearray(raw[: 30 + len(name)])
    local[8:10] = (8).to_bytes(2, "little")  # deflated
    local[18:22] = len(body).to_bytes(4, "little")
    central_at = raw.index(b"PK\x01\x02")
    central = bytearray(raw[central_at : raw.index(b"PK\x05\x06")])
    central[10:12] = (8).to_bytes(2, "little")
    central[20:24] = len(body).to_bytes(4, "little")
    central[42:46] = (0).to_bytes(4, "little")
    end = bytearray(raw[raw.index(b"PK\x05\x06") :])
    offset = len(local) + len(body)
    end[16:20] = offset.to_bytes(4, "little")
    return bytes(local) + body + bytes(central) + bytes(end)


def with_definition(archive: Archive, key: str, definition: bytes) -> bytes:
    """The bundle ``key`` with another definition.zip, its manifest updated to match."""
    parts = members(archive.read(key))
    manifest = json.loads(parts[0][1])
    for m in manifest["members"]:
        if m["name"] == "definition.zip":
            m["size"], m["sha256"] = len(definition), hashlib.sha256(definition).hexdigest()
    parts[0] = (parts[0][0], (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    parts[-1] = (parts[-1][0], definition)
    return zstandard.ZstdCompressor(level=3).compress(tar_bytes(parts))


# -- the cases ------------------------------------------------------------------------------------


def test_zstd_bomb_is_refused_at_the_declared_size_by_every_reader(
    archive: Archive, pristine: tuple[Archive, str], tmp_path: Path
) -> None:
    key = definition_bundle(archive)
    other = definition_bundle(archive, "2097152")
    bomb = zstd_bomb(archive, key, 160 << 20)
    assert len(bomb) < 1 << 20  # a small object...
    record(archive, key, bomb)  # ...that inflates to 160 MiB where the manifest declares a few KiB
    work = ["--work-dir", str(tmp_path)]
    for argv in (
        ["verify", "--read-data", "--json", *work],
        ["show", key, "--no-cache", *work],
        ["diff", other, key, "--no-cache", *work],
        [
            "restore",
            "--workflow-id",
            "1048576",
            "--name-prefix",
            "r-",
            "--dry-run",
            "--endpoint-url",
            pristine[1],
            "--region",
            "us-east-1",
            *work,
        ],
    ):
        code, err, peak = child([*argv, "--store", archive.url])
        assert code in (1, 3) and "Traceback" not in err, (argv[0], err[-2000:])
        assert peak < 300, (argv[0], peak)
        assert key in err and "manifest says" in err, (argv[0], err[-2000:])
    # a bomb after an honest tar: the whole stream is capped by what the manifest accounts for
    trailing = definition_bundle(archive, "3145728")
    honest = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(archive.read(trailing))).read()
    stream = io.BytesIO()
    with zstandard.ZstdCompressor(level=3).stream_writer(stream, closefd=False) as zw:
        zw.write(honest)
        for _ in range(160):
            zw.write(bytes(1 << 20))
    record(archive, trailing, stream.getvalue())
    code, out, peak = child(["verify", "--read-data", "--json", *work, "--store", archive.url])
    report = json.loads(out[: out.rindex("}") + 1])
    assert code == 1 and peak < 300
    problems = {p["key"]: p["problem"] for p in report["problems"] if "SHA-256" not in p["problem"]}
    assert set(problems) == {key, trailing}  # and the other bundles were still checked
    assert "more than the" in problems[trailing] and "manifest" in problems[trailing]
    assert report["bundlesRead"] == report["bundles"]


def test_a_zip_member_that_lies_about_its_size(
    archive: Archive, pristine: tuple[Archive, str], tmp_path: Path
) -> None:
    key = definition_bundle(archive)
    other = definition_bundle(archive, "2097152")
    record(archive, key, with_definition(archive, key, lying_zip(320 << 20)))
    work = ["--work-dir", str(tmp_path)]
    for argv in (
        [
            "restore",
            "--workflow-id",
            "1048576",
            "--name-prefix",
            "r-",
            "--dry-run",
            "--json",
            "--endpoint-url",
            pristine[1],
            "--region",
            "us-east-1",
            *work,
        ],
        ["diff", other, key, "--no-cache", *work],
        ["verify", "--read-data", *work],
    ):
        code, err, peak = child([*argv, "--store", archive.url])
        assert code == 1 and "Traceback" not in err, (argv[0], err[-2000:])
        assert peak < 300, (argv[0], peak)


def test_bad_crc_inside_a_definition_zip_is_reported_by_diff(
    archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    key = definition_bundle(archive)
    other = definition_bundle(archive, "2097152")
    parts = members(archive.read(key))
    zipped = bytearray(parts[-1][1])
    crc_at = zipped.index(b"PK\x01\x02") + 16  # the central directory's CRC of the first member
    zipped[crc_at] ^= 0xFF
    local_crc = 14
    zipped[local_crc] ^= 0xFF
    record(archive, key, with_definition(archive, key, bytes(zipped)))
    assert main(["diff", other, key, "--store", archive.url, "--no-cache"]) == 1
    err = capsys.readouterr().err
    assert key in err and "CRC" in err


def test_huge_and_deeply_nested_snapshots_are_refused_and_the_rest_is_checked(
    archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    good = snapshot_key(archive)
    deep = good.replace(good.rsplit("/", 1)[1], "20300101T000000000000Z-0000dee9.json")
    huge = good.replace(good.rsplit("/", 1)[1], "20300101T000000000000Z-0000b166.json")
    archive.write(deep, b'{"a":' * 100_000 + b"1" + b"}" * 100_000)
    (archive.root / huge).write_bytes(b"")  # type: ignore[operator]
    with open(archive.root / huge, "wb") as fh:  # type: ignore[operator]
        fh.truncate(487 << 20)  # sparse: 487 MB on paper, nothing on disk
    code = main(["verify", "--json", "--store", archive.url])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    problems = {p["key"]: p["problem"] for p in report["problems"]}
    assert set(problems) == {deep, huge}
    assert "nested too deeply" in problems[deep] and "more than" in problems[huge]
    assert report["snapshots"] == 1  # the good one was still read
    for argv in (["snapshots", "--no-cache"], ["list", "--no-cache"]):
        assert main([*argv, "--store", archive.url]) == 0
        err = capsys.readouterr().err
        assert deep in err and huge in err and "Traceback" not in err
    code, err, peak = child(["snapshots", "--no-cache", "--store", archive.url])
    assert code == 0 and peak < 300
