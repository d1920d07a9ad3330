"""The cheaper image scan and ZIP check give exactly what they replaced.

The reference is the frozen copy in tests/frozen_scan (main at f73ae8a, before session 7). Over the
seed corpus the benchmarks use, the examples, generated WDL and Nextflow texts and generated hostile
ZIPs, every result must be identical: occurrences, problems, ZIP verdicts and their wording. Each
fast path has a case here that it would fail if it were wrong: the one-read ZIP check
(``read_sound``) on damaged and lying ZIPs, the scan reusing the check's bytes (limits and budget
shrunk so that members are kept, re-read or skipped), the keyword prefilters, the regex masking and
comment stripping, the tasks found only when a value needs one, and the backup not checking a
definition twice (a damaged one is still refused).
"""

from __future__ import annotations

import io
import json
import random
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from archiver import _zipsafe
from archiver.cli import main
from archiver.images import _scan, check_and_scan, scan_definition
from archiver.images._nextflow import _strip_comments, scan_nextflow
from archiver.images._wdl import _close, _mask, scan_wdl
from archiver.testing import Emulator, EmulatorConfig
from archiver.testing._definition import deterministic_zip, zip_files
from bench.seed import write_corpus

from .frozen_scan import nextflow_v1, scan_v1, wdl_v1, zipsafe_v1

SEED = Path(__file__).resolve().parent.parent / "examples" / "seed"
Result = tuple[str | None, list[Any], list[str]]


def outcome(call: Any, *args: Any) -> Any:
    """What ``call(*args)`` returns, or the type and text of what it raises (compared as results)."""
    try:
        return call(*args)
    except Exception as exc:
        return ("raised", type(exc).__name__, str(exc))


def old_result(definition: bytes | Path) -> Result:
    source = io.BytesIO(definition) if isinstance(definition, bytes) else definition
    scan = outcome(scan_v1.scan_definition, definition)
    occurrences, problems = (
        (scan.occurrences, scan.problems) if isinstance(scan, scan_v1.Scan) else (scan, [])
    )
    return zipsafe_v1.zip_problem(source), occurrences, problems


def assert_same(definition: bytes | Path) -> Result:
    """check_and_scan, zip_problem and scan_definition agree with the frozen pair; the old result.

    The old scan raised on a few hostile ZIPs (zipfile's NotImplementedError for an unknown ZIP
    version, as it opens the archive: the backup logged a "bug" with its traceback before refusing
    the bundle). The new one reports such a ZIP as unreadable instead: the same refusal, from the
    ZIP check's verdict, and a scan problem in place of the exception.
    """
    old = old_result(definition)
    source = io.BytesIO(definition) if isinstance(definition, bytes) else definition
    now = _zipsafe.zip_problem(source)
    if now is not None and "holds fewer than the" in now:
        # Stricter than the frozen code, on purpose: a member whose stream ends before its declared
        # size (its CRC made to match) is refused, as docs/format.md says; zipfile let it through.
        old = (now, *old[1:])
    checked = outcome(check_and_scan, definition)
    alone = outcome(scan_definition, definition)
    assert _zipsafe.zip_problem(source) == old[0]
    if old[1] and old[1][0] == "raised":
        _, kind, message = old[1]
        assert old[0] is not None and message in old[0]  # the ZIP check refused it already
        unreadable = [f"the definition is not a readable ZIP ({message})"]
        got = (checked.zip_problem, checked.scan.occurrences, checked.scan.problems)
        assert got == (old[0], [], unreadable)
        assert (alone.occurrences, alone.problems) == ([], unreadable), kind
    else:
        assert (checked.zip_problem, checked.scan.occurrences, checked.scan.problems) == old
        assert (alone.occurrences, alone.problems) == old[1:]
    return old


def definition_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("definition") if p.is_dir())


def test_seed_corpus_and_examples_check_and_scan_as_before(tmp_path: Path) -> None:
    write_corpus(tmp_path / "seed", workflows=8, versions=2)
    dirs = definition_dirs(tmp_path / "seed") + definition_dirs(SEED)
    assert len(dirs) > 30
    found = 0
    for directory in dirs:
        data = deterministic_zip(directory)
        found += len(assert_same(data)[1])
    path = tmp_path / "definition.zip"  # a large definition is checked and scanned from its file
    path.write_bytes(deterministic_zip(dirs[-1]))
    assert_same(path)
    assert found > 40  # the corpus names images: the comparison is not over empty results


# --- generated texts -------------------------------------------------------------------------

_WDL_PIECES = [
    "task t {", "task align{", "workflow w {", "runtime {", "runtime{", "requirements {", "input {",
    "}", "{", "\n", "\n", "\n", "  ", "docker: ", "container: ", "docker:docker", "container:image",
    '"quay.io/a:1"', "'ubuntu:22.04'", '"x/~{tag}:1"', '["a:1", "b:2"]', "[\n'a:1',\n'b:2'\n]",
    'String docker = "ecr/x:1"', "String? image = 'y:2'", "String tag", "docker: tag",
    "cpu: 2", "memory: \"4 GiB\"", "# runtime { docker: 'c:1' }", "#", '"', "'", "\\", '\\"',
    "command <<<", ">>>", "~{x}", "${y}", "(", ")", "[", "]", ",", "x.docker: 1", "mydocker: 2",
    "runtime_x {", "\tdocker\t:\t\"t:1\"", "é", "docker: \"a\" cpu: 1",
]  # fmt: skip
_NF_PIECES = [
    "process A {", "}", "\n", "\n", "    ", "container 'quay.io/s:1'", 'container "${params.r}/p:3"',
    'container("docker.io/p:3")', "container params.image", "container = 'c:1'",
    "process.container = \"d:2\"", "withName: 'X' {", "// container 'no:1'", "/*", "*/", "/* x */",
    "'", '"', "\\", "\\'", "//", "/", "*", "container", "containerOptions '--x'",
    "container workflow.containerEngine == 'singularity' ? 'a' : 'b'", "$x", "script:", "é",
]  # fmt: skip


def generated(pieces: list[str], rng: random.Random) -> str:
    return "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 60)))


def test_generated_wdl_texts_scan_as_before() -> None:
    rng = random.Random(11)
    found = resolved_by_default = 0
    for _ in range(600):
        text = generated(_WDL_PIECES, rng)
        assert _mask(text) == wdl_v1._mask(text), repr(text)
        new = scan_wdl("main.wdl", text)
        assert new == wdl_v1.scan_wdl("main.wdl", text), repr(text)
        found += len(new)
        resolved_by_default += sum(1 for o in new if o.note and "default" in o.note)
        for brace in range(min(len(text), 400)):
            if text[brace] == "{":
                masked = _mask(text)
                assert _close(masked, brace) == wdl_v1._close(masked, brace)
    assert found > 300 and resolved_by_default > 10  # the generator reaches sections and defaults


def test_generated_nextflow_texts_scan_as_before() -> None:
    rng = random.Random(12)
    found = 0
    for _ in range(600):
        text = generated(_NF_PIECES, rng)
        assert _strip_comments(text) == nextflow_v1._strip_comments(text), repr(text)
        for path in ("main.nf", "nextflow.config"):
            new = scan_nextflow(path, text)
            assert new == nextflow_v1.scan_nextflow(path, text), (path, text)
            found += len(new)
    assert found > 300


def test_the_prefilters_skip_only_texts_that_cannot_name_an_image() -> None:
    # Each fast "no" needs both words; each of these has one missing (found by the old scan: none)...
    for text in ["task t { runtime { cpu: 2 } }", "task t { meta { docker: 'a:1' } }", "version 1.0\n"]:
        assert scan_wdl("a.wdl", text) == wdl_v1.scan_wdl("a.wdl", text) == []
    assert scan_nextflow("a.nf", "process A { conda 'x' }") == []
    # ...and with both, in either spelling, the scan runs (a prefilter too strict fails here).
    for section in ("runtime", "requirements"):
        for key in ("docker", "container"):
            text = f'task t {{\n  {section} {{\n    {key}: "a:1"\n  }}\n}}\n'
            assert [o.image for o in scan_wdl("a.wdl", text)] == ["a:1"]
    assert [o.image for o in scan_nextflow("n.config", "process.container = 'b:2'")] == ["b:2"]


# --- hostile ZIPs ------------------------------------------------------------------------------

_WDL = b'version 1.0\ntask t {\n  runtime {\n    docker: "quay.io/a:1"\n  }\n}\n'
_NF = b"process A {\n    container 'quay.io/b:2'\n}\n"
_CWL = b"class: CommandLineTool\nrequirements:\n  - class: DockerRequirement\n    dockerPull: c:3\n"


def sound_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("wf/"), b"")
        archive.writestr(zipfile.ZipInfo("wf/main.wdl"), _WDL, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(zipfile.ZipInfo("wf/main.nf"), _NF, compress_type=zipfile.ZIP_STORED)
        archive.writestr(zipfile.ZipInfo("wf/tool.cwl"), _CWL, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(zipfile.ZipInfo("README.md"), b"# hello\n" * 50, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def patched(data: bytes, name: bytes, *, local: dict[int, bytes], central: dict[int, bytes]) -> bytes:
    """``data`` with fields of ``name``'s local header and central-directory entry overwritten."""
    out = bytearray(data)
    at = 0
    while True:
        at = out.index(b"PK\x03\x04", at)
        size = int.from_bytes(out[at + 26 : at + 28], "little")
        if out[at + 30 : at + 30 + size] == name:
            break
        at += 4
    for offset, value in local.items():
        out[at + offset : at + offset + len(value)] = value
    at = 0
    while True:
        at = out.index(b"PK\x01\x02", at)
        size = int.from_bytes(out[at + 28 : at + 30], "little")
        if out[at + 46 : at + 46 + size] == name:
            break
        at += 4
    for offset, value in central.items():
        out[at + offset : at + offset + len(value)] = value
    return bytes(out)


def u32(value: int) -> bytes:
    return value.to_bytes(4, "little")


def lying_zip(declared: int, inflated: int, crc_over: int | None = None) -> bytes:
    """A ZIP whose one member main.nf declares ``declared`` bytes and deflates to ``inflated``,
    with the CRC of its first ``crc_over`` bytes (default: the declared ones, or all there are)."""
    body = _NF * (inflated // len(_NF)) + b"x" * (inflated % len(_NF))
    data = zip_files([("main.nf", body)])
    crc = u32(zlib.crc32(body[: min(declared, inflated) if crc_over is None else crc_over]))
    sizes = {22: u32(declared), 14: crc}
    return patched(data, b"main.nf", local=sizes, central={24: u32(declared), 16: crc})


def hostile_zips() -> dict[str, bytes]:
    good = sound_zip()
    name = b"wf/main.wdl"
    bomb = zip_files([("huge.wdl", b"\n" * (9 << 20)), ("small.wdl", _WDL)])
    return {
        "sound": good,
        "empty": b"",
        "not a zip": b"hello, world" * 10,
        "truncated": good[: len(good) // 2],
        "no end record": good[:-22],
        "bad crc": patched(good, name, local={14: b"\0\0\0\0"}, central={16: b"\0\0\0\0"}),
        "bad crc in the directory only": patched(good, name, local={}, central={16: b"\1\2\3\4"}),
        "longer than declared": lying_zip(30, 5000),
        "longer by one byte": lying_zip(len(_NF) * 3 - 1, len(_NF) * 3),
        "shorter than declared": lying_zip(9000, 5000),
        # the one-read check sees a good CRC over one byte more than declared: only the full check's
        # first read (to the declared size) finds the CRC bad
        "longer, with the CRC of one byte more": lying_zip(100, 200, crc_over=101),
        "stored, compressed size over the data": patched(
            good, b"wf/main.nf", local={}, central={20: u32(len(_NF) + 7)}
        ),
        "encrypted": patched(good, name, local={6: b"\x01\x00"}, central={8: b"\x01\x00"}),
        "unknown method": patched(good, name, local={8: b"\x63\x00"}, central={10: b"\x63\x00"}),
        "name differs in the local header": patched(good, name, local={30: b"x"}, central={}),
        "an honest 9 MiB member past the file limit": bomb,
        "duplicate names": _duplicates(),
        "not utf-8 and not yaml": zip_files([("a.wdl", b"\xff\xfe runtime"), ("b.cwl", b"a: [")]),
    }


def _duplicates() -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.simplefilter("ignore")  # zipfile warns of a duplicate name: that is the point
        archive.writestr("a.wdl", _WDL)
        archive.writestr("a.wdl", _WDL.replace(b"quay.io/a:1", b"other:2"))
    return buffer.getvalue()


def test_hostile_zips_get_the_same_verdict_and_scan(tmp_path: Path) -> None:
    verdicts = {}
    for case, data in hostile_zips().items():
        verdicts[case] = assert_same(data)[0]
        path = tmp_path / "definition.zip"
        path.write_bytes(data)
        assert assert_same(path)[0] == verdicts[case], case
    assert verdicts["sound"] is None and verdicts["an honest 9 MiB member past the file limit"] is None
    wrong = {c for c, v in verdicts.items() if v is not None}
    assert {"bad crc", "longer than declared", "longer by one byte", "truncated", "encrypted"} <= wrong
    # zipfile takes a member whose data ends early, with a CRC over what is there, as it is; the
    # check did too until session 7, and now refuses it (docs/format.md: real size = declared)
    assert "holds fewer than the" in str(verdicts["shorter than declared"])
    assert "holds more than" in str(verdicts["longer by one byte"])
    assert "bad CRC" in str(verdicts["bad crc"])
    assert "bad CRC" in str(verdicts["longer, with the CRC of one byte more"])


def test_randomly_damaged_zips_get_the_same_verdict_and_scan() -> None:
    good = sound_zip()
    rng = random.Random(5)
    outcomes: dict[bool, int] = {True: 0, False: 0}
    for _ in range(400):
        data = bytearray(good)
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        outcomes[assert_same(bytes(data))[0] is None] += 1
    assert outcomes[True] > 20 and outcomes[False] > 100  # both verdicts were reached


def test_scan_limits_keep_reread_and_skip_members_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    files = [(f"w{i}.wdl", _WDL * (i + 1)) for i in range(6)] + [("n.nf", _NF), ("x.txt", b"x" * 900)]
    data = zip_files(files)
    for file_bytes, total, members in [(200, 10_000, 10_000), (10_000, 700, 10_000), (10_000, 10_000, 3)]:
        for module in (_scan, scan_v1):
            monkeypatch.setattr(module, "MAX_FILE_BYTES", file_bytes)
            monkeypatch.setattr(module, "MAX_TOTAL_BYTES", total)
            monkeypatch.setattr(module, "MAX_MEMBERS", members)
        problems = assert_same(data)[2]
        assert problems  # each setting leaves some files unscanned
    for module in (_zipsafe, zipsafe_v1):  # the ZIP check's own bounds
        monkeypatch.setattr(module, "MAX_MEMBERS", 5)
    assert "more than the 5 allowed" in str(assert_same(data)[0])
    monkeypatch.setattr(_zipsafe, "MAX_MEMBERS", 100_000)
    monkeypatch.setattr(zipsafe_v1, "MAX_MEMBERS", 100_000)
    for module in (_zipsafe, zipsafe_v1):
        monkeypatch.setattr(module, "MAX_UNZIPPED", 1000)
    assert "declare" in str(assert_same(data)[0])


def test_kept_bytes_over_the_scan_limit_are_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    data = zip_files([(f"w{i}.wdl", _WDL * (i + 1)) for i in range(4)])
    sound = _zipsafe.read_sound(io.BytesIO(data), lambda index, info: True)  # keeps every member
    assert sound is not None and len(sound.kept) == 4
    for module in (_scan, scan_v1):
        monkeypatch.setattr(module, "MAX_FILE_BYTES", 150)
        monkeypatch.setattr(module, "MAX_TOTAL_BYTES", 250)
    result = _scan.Scan()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        _scan._scan_members(lambda: archive, sound.infos, sound.kept, result)
    old = scan_v1.scan_definition(data)
    assert (result.occurrences, result.problems) == (old.occurrences, old.problems)
    assert len(old.problems) == 2 and len(old.occurrences) == 3  # w0, w1 scanned; w2 over the budget


def test_read_sound_keeps_exactly_what_was_asked_and_leaves_the_infos_as_they_were() -> None:
    data = sound_zip()
    sound = _zipsafe.read_sound(io.BytesIO(data), lambda index, info: info.filename.endswith(".wdl"))
    assert sound is not None
    assert [i.filename for i in sound.infos] == [
        "wf/",
        "wf/main.wdl",
        "wf/main.nf",
        "wf/tool.cwl",
        "README.md",
    ]
    assert sound.kept == {1: _WDL}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert [i.file_size for i in sound.infos] == [i.file_size for i in archive.infolist()]
    assert _zipsafe.read_sound(io.BytesIO(lying_zip(len(_NF) * 3 - 1, len(_NF) * 3))) is None


# --- ZIPs in memory: members read without zipfile's per-member machinery where plainly sound -----


def unterminated_zip() -> bytes:
    """main.wdl deflated without the stream's final block: right size and CRC, no end."""
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = comp.compress(_WDL) + comp.flush(zlib.Z_SYNC_FLUSH)  # every byte out, but no final block
    good = zip_files([("main.wdl", _WDL)])
    old_size = int.from_bytes(good[18:22], "little")
    name = b"main.wdl"
    local = bytearray(good[: 30 + len(name)])
    local[18:22] = u32(len(body))
    central_at = good.index(b"PK\x01\x02")
    central = bytearray(good[central_at : good.index(b"PK\x05\x06")])
    central[20:24] = u32(len(body))
    end = bytearray(good[good.index(b"PK\x05\x06") :])
    end[16:20] = u32(len(local) + len(body))
    assert old_size != len(body)
    return bytes(local) + body + bytes(central) + bytes(end)


def shared_header_zip() -> bytes:
    """Two directory entries for the one local header (zipfile 3.12+: "Overlapped entries")."""
    good = zip_files([("a.wdl", _WDL)])
    central_at, end_at = good.index(b"PK\x01\x02"), good.index(b"PK\x05\x06")
    central = good[central_at:end_at]
    end = bytearray(good[end_at:])
    end[8:10] = end[10:12] = (2).to_bytes(2, "little")
    end[12:16] = u32(2 * len(central))
    return good[:central_at] + central + central + bytes(end)


def plain_cases() -> dict[str, bytes]:
    good = zip_files([("a.wdl", _WDL), ("b.nf", _NF)])
    return {
        "local CRC differs": patched(good, b"a.wdl", local={14: b"\0\0\0\0"}, central={}),
        "local size differs": patched(good, b"a.wdl", local={22: u32(len(_WDL) + 1)}, central={}),
        "local method differs": patched(good, b"a.wdl", local={8: b"\0\0"}, central={}),
        "data descriptor flag": patched(good, b"a.wdl", local={6: b"\x08\0"}, central={8: b"\x08\0"}),
        "data into the next header": patched(
            good, b"a.wdl", local={18: u32(len(good))}, central={20: u32(len(good))}
        ),
        "deflate stream without its end": unterminated_zip(),
        "two entries, one header": shared_header_zip(),
    }


def test_zips_in_memory_skip_zipfiles_member_reads_only_when_plainly_sound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    read_past = _zipsafe._read_past_declared

    def counted(archive: zipfile.ZipFile, info: zipfile.ZipInfo, keep: bool) -> bytes | None:
        calls.append(info.filename)
        return read_past(archive, info, keep)

    monkeypatch.setattr(_zipsafe, "_read_past_declared", counted)
    write_corpus(tmp_path, workflows=3, versions=1)
    plain = [deterministic_zip(d) for d in definition_dirs(tmp_path) + definition_dirs(SEED)]
    utf8 = zip_files([("déjà/main.wdl", _WDL), ("b.nf", _NF)])
    prefixed = b"#!/bin/sh\nexit 0\n" + zip_files([("a.wdl", _WDL)])  # zipfile allows data before
    for data in [*plain, sound_zip(), utf8, prefixed]:
        assert assert_same(data)[0] is None
    assert calls == []  # every member of these was read the plain way
    for case, data in plain_cases().items():
        calls.clear()
        assert_same(data)
        assert calls, case  # zipfile read (at least) that member: the plain way was not sure
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            limits = _zipsafe._end_limits(archive, infos, len(data))
            assert (
                limits is None
                or _zipsafe._plain_member(data, infos[0], limits[infos[0].header_offset]) is None
            )


# --- the backup checks a definition once, and still refuses a damaged one ----------------------


def test_a_damaged_definition_is_still_refused_by_the_backup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pipeline skips write_bundle's ZIP check only when check_and_scan found the ZIP sound."""
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        world = emu._core.world
        version = world.region("us-east-1").account("123456789012").workflows["1048576"].versions["1.1.0"]
        assert version.definition is not None
        damaged = bytearray(version.definition)
        damaged[60] ^= 0xFF  # inside the first member's data: a broken deflate stream
        version.definition = bytes(damaged)
        why = _zipsafe.zip_problem(io.BytesIO(version.definition))
        assert why is not None
        code = main(
            [
                "backup",
                "--store",
                str(tmp_path / "archive"),
                "--endpoint-url",
                emu.url,
                "--log-format",
                "json",
            ]
        )
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert code != 0
    [failed] = [e for e in events if e.get("event") == "failed"]
    assert failed["versionName"] == "1.1.0" and "at bundle: the definition of " in failed["message"]
    assert failed["message"].endswith(why)
    archived = [e["message"] for e in events if e.get("event") == "bundle"]
    assert len(archived) == 4 + 8 - 1 and not any(m.endswith("(fastq-qc) version 1.1.0") for m in archived)


def _negative_offset_zip() -> bytes:
    """A directory that claims to start past where it does: zipfile's 'concat' fix-up gives the
    member a negative header offset, and its local header hides in the end record's comment."""
    import struct

    name, data = b"main.wdl", b'task t { runtime { docker: "evil.example/img:1" } }\n'
    crc = zlib.crc32(data)
    local = struct.pack(
        "<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0
    )
    comment = local + name + data + b"\0"
    central = struct.pack(
        "<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 0, 20, 0, 0, 0, 0, 0, crc, len(data), len(data), len(name),
        0, 0, 0, 0, 0, 0,
    ) + name  # fmt: skip
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(comment), len(comment))
    return central + end + comment


def _empty_name_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a", b"data")
    blob = bytearray(buffer.getvalue())
    central = blob.find(b"PK\x01\x02")
    blob[central + 28 : central + 30] = b"\0\0"  # the directory's name length 0 (the local header keeps "a")
    del blob[central + 46 : central + 47]
    end = blob.find(b"PK\x05\x06")
    size = int.from_bytes(blob[end + 12 : end + 16], "little") - 1
    blob[end + 12 : end + 16] = size.to_bytes(4, "little")
    return bytes(blob)


def test_a_lying_directory_offset_is_refused_by_the_fast_path_too(tmp_path: Path) -> None:
    """The in-memory shortcut once read a negative offset from the end of the buffer: sound."""
    from archiver._bundle import BundleError

    from .test_bundle import write

    blob = _negative_offset_zip()
    why = _zipsafe.full_zip_problem(io.BytesIO(blob))
    assert why is not None and "negative seek" in why
    assert _zipsafe.zip_problem(io.BytesIO(blob)) == why
    assert _zipsafe.read_sound(io.BytesIO(blob)) is None
    with pytest.raises(BundleError):
        write(tmp_path / "b.tar.zst", blob)


def test_a_member_without_a_name_gets_a_verdict_not_an_index_error() -> None:
    blob = _empty_name_zip()
    why = _zipsafe.zip_problem(io.BytesIO(blob))
    assert why is not None and "empty name" in why
    assert _zipsafe.full_zip_problem(io.BytesIO(blob)) == why
