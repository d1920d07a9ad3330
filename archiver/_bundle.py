"""Bundles: one workflow or version state as a file that outlives this tool.

A bundle is a POSIX tar compressed as a zstd stream, so that in ten years ``zstd -dc B | tar -x`` is
all it takes to read one. Its members, in this order::

    manifest.json             what this is and the size and SHA-256 of every other member
    metadata.json             the sanitized GetWorkflow / GetWorkflowVersion response
    parameter-template.json   the metadata's parameterTemplate ({} when absent), for people
    README.md                 only when the README is not empty
    definition.zip            the exported definition, byte for byte

The manifest comes first so that a reader can learn what a bundle is from its first few kilobytes
(:func:`read_manifest` decompresses no further), and every later member is checked against it while
it streams past. Bundles are deterministic: fixed member order, mtime = the object's creationTime,
owner 0/0 with empty names, mode 0644, canonical JSON, and no time of writing anywhere, so the same
state always produces the same bytes. The format is specified in ``docs/format.md``.

Memory stays bounded whatever the definition's size: the ZIP is hashed in a first pass and streamed
in a second, and readers stream it out again. Small members (JSON, README) are held in memory and are
refused above :data:`SMALL_MEMBER_LIMIT`. Compression memory does not grow with the definition but
with the number of zstd workers: about 25 MiB single-threaded at level 10, and about 25 MiB of
match tables plus two 4 MiB jobs per worker with ``threads`` > 0 (``-1`` = one worker per core).
Decompression needs under 10 MiB.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, Protocol, cast

import zstandard

from . import _schema
from ._errors import BundleError
from ._jsonutil import load_json_object, parse_rfc3339, pretty_json, rfc3339
from ._layout import readme_sha256, sanitize_metadata, state_id
from ._version import __version__

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_FORMAT_VERSION",
    "MEMBER_ORDER",
    "SMALL_MEMBER_LIMIT",
    "BundleContents",
    "BundleInfo",
    "BundleSource",
    "read_bundle",
    "read_bundle_from",
    "read_manifest",
    "read_manifest_from",
    "verify_bundle",
    "verify_bundle_from",
    "write_bundle",
]

BUNDLE_FORMAT = "omics-archiver-bundle"
BUNDLE_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
METADATA = "metadata.json"
PARAMETER_TEMPLATE = "parameter-template.json"
README = "README.md"
DEFINITION = "definition.zip"
MEMBER_ORDER = (MANIFEST, METADATA, PARAMETER_TEMPLATE, README, DEFINITION)
_REQUIRED = (METADATA, PARAMETER_TEMPLATE, DEFINITION)
SMALL_MEMBER_LIMIT = 16 << 20
_CHUNK = 1 << 20
_TAR_BUFSIZE = 1 << 16
# With worker threads zstd buffers whole jobs; its default job (4 windows, 16 MiB at level 10) per
# worker is most of the memory a bundle costs. 4 MiB keeps that small at a negligible ratio loss.
_JOB_SIZE = 4 << 20


@dataclass(frozen=True, kw_only=True)
class BundleSource:
    """Where a bundle's state came from; becomes the manifest's ``source``."""

    kind: Literal["workflow", "workflow-version"]
    partition: str
    account: str
    region: str
    arn: str
    workflow_id: str
    workflow_uuid: str
    version_name: str | None
    uuid: str
    digest: str
    creation_time: datetime
    status: str
    name: str

    def as_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "account": self.account,
            "region": self.region,
            "arn": self.arn,
            "workflowId": self.workflow_id,
            "workflowUuid": self.workflow_uuid,
            "versionName": self.version_name,
            "uuid": self.uuid,
            "digest": self.digest,
            "creationTime": rfc3339(self.creation_time),
            "status": self.status,
            "name": self.name,
        }


@dataclass(frozen=True)
class BundleInfo:
    """What :func:`write_bundle` wrote: size and SHA-256 of the compressed file, and its manifest."""

    size: int
    sha256: str
    manifest: dict[str, Any]


@dataclass(frozen=True)
class BundleContents:
    """A bundle's small members; the definition goes to a file (see :func:`read_bundle`)."""

    manifest: dict[str, Any]
    metadata: dict[str, Any]
    parameter_template: dict[str, Any]
    readme: bytes | None


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _HashingWriter:
    """Counts and hashes the compressed bytes on their way to the file."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.size, self.hash = raw, 0, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.raw.write(data)
        self.size += len(data)
        self.hash.update(data)
        return len(data)

    def flush(self) -> None:
        self.raw.flush()


class _HashingReader:
    """Hashes what tarfile copies out of the definition (it may change between the two passes)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.size, self.hash = raw, 0, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.size += len(data)
        self.hash.update(data)
        return data


def _tarinfo(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.type = size, mtime, 0o644, tarfile.REGTYPE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _check_zip(path: Path) -> str | None:
    """``None`` if ``path`` is a ZIP whose every member reads back with a good CRC, else why not."""
    try:
        if not zipfile.is_zipfile(path):
            return "is not a ZIP file"
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (OSError, EOFError, RuntimeError, NotImplementedError, ValueError, zlib.error) as exc:
        return f"is not a readable ZIP file ({exc})"
    except zipfile.BadZipFile as exc:
        return f"is a damaged ZIP file ({exc})"
    return f"is a damaged ZIP file (bad CRC in {bad!r})" if bad is not None else None


def _check_source(source: BundleSource, meta: Mapping[str, Any], sid: str, readme: bytes | None) -> None:
    """The manifest repeats facts from the metadata; refuse to write a bundle where they disagree."""
    own_id = meta.get("id") if source.kind == "workflow" else meta.get("workflowId")
    pairs: list[tuple[str, object, object]] = [
        ("uuid", meta.get("uuid"), source.uuid),
        ("digest", meta.get("digest"), source.digest),
        ("arn", meta.get("arn"), source.arn),
        ("workflow id", own_id, source.workflow_id),
    ]
    if source.kind == "workflow":
        pairs += [
            ("workflow uuid", source.uuid, source.workflow_uuid),
            ("version name", None, source.version_name),
        ]
    else:
        pairs.append(("version name", meta.get("versionName"), source.version_name))
    for what, expected, got in pairs:
        if expected != got:
            raise ValueError(f"bundle source {what} {got!r} does not match the metadata's {expected!r}")
    created = meta.get("creationTime")
    if not isinstance(created, str) or parse_rfc3339(created) != _aware(source.creation_time):
        raise ValueError("bundle source creation_time does not match the metadata's creationTime")
    if state_id(meta, readme_sha256(readme)) != sid:
        raise ValueError("state id does not match the metadata and README (compute it with _layout.state_id)")


def write_bundle(
    dest: Path,
    *,
    source: BundleSource,
    state_id: str,
    metadata: Mapping[str, Any],
    definition: Path,
    readme: bytes | None,
    level: int = 10,
    threads: int = -1,
) -> BundleInfo:
    """Write one bundle to ``dest`` (a temporary path of the caller's; overwritten if present).

    ``metadata`` is sanitized again (idempotent) and must agree with ``source`` and ``state_id``
    (``ValueError`` otherwise: that is a bug in the caller). The definition must be a sound ZIP
    (:class:`BundleError` otherwise) and is read twice, never whole. ``threads=-1`` uses every core.
    """
    meta = sanitize_metadata(metadata)
    _check_source(source, meta, state_id, readme)
    why = _check_zip(definition)
    if why:
        raise BundleError(f"the definition of {source.arn} {why}")
    digest, def_size = hashlib.sha256(), 0
    with open(definition, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            def_size += len(chunk)
    small = [
        (METADATA, pretty_json(meta)),
        (PARAMETER_TEMPLATE, pretty_json(meta.get("parameterTemplate") or {})),
    ]
    if readme:
        small.append((README, bytes(readme)))
    members = [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in small]
    members.append({"name": DEFINITION, "size": def_size, "sha256": digest.hexdigest()})
    manifest = {
        "format": BUNDLE_FORMAT,
        "formatVersion": BUNDLE_FORMAT_VERSION,
        "toolVersion": __version__,
        "kind": source.kind,
        "stateId": state_id,
        "source": source.as_json(),
        "members": members,
    }
    _schema.check("manifest", manifest)
    mtime = max(0, int(_aware(source.creation_time).timestamp()))
    try:
        out = _compress(
            dest, manifest, small, definition, def_size, digest.hexdigest(), mtime, level, threads
        )
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return BundleInfo(size=out.size, sha256=out.hash.hexdigest(), manifest=manifest)


def _compress(
    dest: Path,
    manifest: dict[str, Any],
    small: list[tuple[str, bytes]],
    definition: Path,
    def_size: int,
    def_sha256: str,
    mtime: int,
    level: int,
    threads: int,
) -> _HashingWriter:
    params = zstandard.ZstdCompressionParameters.from_level(
        level, threads=threads, job_size=_JOB_SIZE if threads else 0, write_checksum=True
    )
    cctx = zstandard.ZstdCompressor(compression_params=params)
    arn = manifest["source"]["arn"]
    with open(dest, "wb") as raw:
        out = _HashingWriter(raw)
        with cctx.stream_writer(cast(IO[bytes], out), closefd=False) as zw:
            with tarfile.open(fileobj=zw, mode="w|", format=tarfile.PAX_FORMAT, bufsize=_TAR_BUFSIZE) as tar:
                for name, data in [(MANIFEST, pretty_json(manifest)), *small]:
                    tar.addfile(_tarinfo(name, len(data), mtime), io.BytesIO(data))
                with open(definition, "rb") as fh:
                    copied = _HashingReader(fh)
                    try:
                        tar.addfile(_tarinfo(DEFINITION, def_size, mtime), copied)
                    except OSError as exc:
                        raise BundleError(f"the definition of {arn} shrank while bundling") from exc
            if copied.hash.hexdigest() != def_sha256:
                raise BundleError(f"the definition of {arn} changed while bundling")
    return out


class _FrameTracker:
    """Follows the zstd frame structure (RFC 8878) of the compressed bytes as they are read.

    The decompressor happily stops at the end of its input, even inside a frame; this notices a
    stream cut short (or with garbage where a frame should start) without holding any data.
    """

    _ZSTD_MAGIC = 0xFD2FB528

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.offset, self.frames = raw, 0, 0
        self.problem: str | None = None
        self._state, self._need, self._skip = "magic", 4, 0
        self._acc = bytearray()
        self._checksum = False

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        if self.problem is None:
            self._feed(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass

    def end_problem(self) -> str | None:
        if self.problem:
            return self.problem
        if self._state != "magic" or self._acc or self._skip:
            return f"the zstd stream is truncated: it ends inside a frame after {self.offset} bytes"
        if self.frames == 0:
            return "the file holds no zstd frame"
        return None

    def _feed(self, data: bytes) -> None:
        view, i = memoryview(data), 0
        while i < len(view) and self.problem is None:
            if self._skip:
                take = min(self._skip, len(view) - i)
                self._skip -= take
            else:
                take = min(self._need - len(self._acc), len(view) - i)
                self._acc += view[i : i + take]
            i += take
            self.offset += take
            if not self._skip and len(self._acc) == self._need:
                field = int.from_bytes(self._acc, "little")
                self._acc.clear()
                self._step(field)

    def _step(self, field: int) -> None:
        state = self._state
        if state == "magic":
            if field == self._ZSTD_MAGIC:
                self._state, self._need = "descriptor", 1
            elif field & 0xFFFFFFF0 == 0x184D2A50:
                self._state, self._need = "skippable", 4
            else:
                self.problem = f"no zstd frame starts at byte {self.offset - 4}"
        elif state == "descriptor":
            single = (field >> 5) & 1
            self._checksum = bool((field >> 2) & 1)
            fcs = (1 if single else 0, 2, 4, 8)[field >> 6]
            rest = (0 if single else 1) + (0, 1, 2, 4)[field & 3] + fcs
            self._state, self._need = ("header", rest) if rest else ("block", 3)
        elif state == "header":
            self._state, self._need = "block", 3
        elif state == "block":
            last, kind, size = field & 1, (field >> 1) & 3, field >> 3
            if kind == 3:
                self.problem = f"reserved zstd block type at byte {self.offset - 3}"
            self._skip = 1 if kind == 1 else size
            if not last:
                self._state, self._need = "block", 3
            elif self._checksum:
                self._state, self._need = "checksum", 4
            else:
                self._state, self._need, self.frames = "magic", 4, self.frames + 1
        elif state == "checksum":
            self._state, self._need, self.frames = "magic", 4, self.frames + 1
        elif state == "skippable":
            self._state, self._need, self._skip = "magic", 4, field


class _Walk:
    """One pass over a bundle. ``strict``: raise :class:`BundleError` at the first problem (readers);
    otherwise collect every problem as a sentence and go on where possible (``verify``)."""

    def __init__(self, stream: IO[bytes], *, strict: bool, label: str) -> None:
        self.tracker = _FrameTracker(stream)
        self.strict, self.label = strict, label
        self.problems: list[str] = []
        reader = zstandard.ZstdDecompressor().stream_reader(
            cast(IO[bytes], self.tracker), read_across_frames=True
        )
        self.zreader: IO[bytes] = reader
        self.tar: tarfile.TarFile | None = None
        self.seen: list[str] = []

    def problem(self, message: str) -> None:
        if self.strict:
            raise BundleError(f"{self.label}: {message}")
        self.problems.append(message)

    def fatal(self, message: str) -> _Stop:
        self.problem(message)
        return _Stop()

    def damaged(self, exc: Exception, where: str) -> _Stop:
        """A fatal error: blame the compressed stream if its frames are broken, else say what failed."""
        with contextlib.suppress(OSError):
            self.tracker.drain()
        broken = self.tracker.end_problem()
        if broken:
            return self.fatal(f"{broken} (noticed {where})")
        if isinstance(exc, zstandard.ZstdError):
            return self.fatal(f"the zstd stream is damaged {where}: {exc}")
        return self.fatal(f"the tar archive is damaged {where}: {exc}")

    def next_member(self, where: str) -> tarfile.TarInfo | None:
        try:
            if self.tar is None:
                # The walk owns no file handle here: the TarFile wraps our reader and needs no close.
                self.tar = tarfile.open(fileobj=self.zreader, mode="r|", bufsize=_TAR_BUFSIZE)  # noqa: SIM115
            return self.tar.next()
        except (tarfile.TarError, zstandard.ZstdError, EOFError) as exc:
            raise self.damaged(exc, where) from None

    def read_member(self, info: tarfile.TarInfo, sink: _Sink | None) -> tuple[bytes, int, str]:
        """Stream one member: (its bytes if small and no sink, its size, its SHA-256)."""
        assert self.tar is not None
        if not info.isreg():
            raise self.fatal(f"member {info.name} is not a regular file")
        keep = sink is None and info.size <= SMALL_MEMBER_LIMIT
        if sink is None and not keep:
            self.problem(f"member {info.name} is too large ({info.size} bytes) to be a {info.name}")
        data, digest, size = bytearray(), hashlib.sha256(), 0
        try:
            handle = self.tar.extractfile(info)
            assert handle is not None
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if keep:
                    data += chunk
                elif sink is not None:
                    sink.write(chunk)
        except (tarfile.TarError, zstandard.ZstdError, EOFError, OSError) as exc:
            raise self.damaged(exc, f"inside member {info.name}") from None
        return bytes(data), size, digest.hexdigest()

    def finish(self) -> None:
        """Read past the end of the tar archive to the end of the file: the frame checksum and a cut
        or padded file only show there."""
        try:
            trailing = False
            while chunk := self.zreader.read(_CHUNK):
                trailing = trailing or any(chunk)
            if trailing:
                self.problem("there is data after the end of the tar archive")
        except zstandard.ZstdError as exc:
            raise self.damaged(exc, "at the end of the stream") from None
        self.tracker.drain()
        end = self.tracker.end_problem()
        if end:
            self.problem(end)


class _Stop(Exception):
    """A problem after which a non-strict walk cannot go on."""


def _parse_manifest(walk: _Walk) -> dict[str, Any]:
    info = walk.next_member("at the start")
    if info is None or info.name != MANIFEST:
        raise walk.fatal(f"the first member is {info.name if info else 'missing'}, not {MANIFEST}")
    data, _, _ = walk.read_member(info, None)
    try:
        doc = load_json_object(data, MANIFEST)
    except ValueError as exc:
        raise walk.fatal(str(exc)) from None
    if doc.get("format") != BUNDLE_FORMAT:
        raise walk.fatal(f"not an omics-archiver bundle (manifest format is {doc.get('format')!r})")
    version = doc.get("formatVersion")
    if isinstance(version, int) and not isinstance(version, bool) and version > BUNDLE_FORMAT_VERSION:
        raise walk.fatal(
            f"bundle format version {version} is newer than this tool supports ({BUNDLE_FORMAT_VERSION})"
        )
    found = _schema.problems("manifest", doc)
    if found:
        raise walk.fatal(f"{MANIFEST} does not match its schema at {found[0].path}: {found[0].message}")
    names = [m["name"] for m in doc["members"]]
    missing = [n for n in _REQUIRED if n not in names]
    if missing or names != sorted(set(names), key=MEMBER_ORDER.index):
        raise walk.fatal(f"{MANIFEST} lists members {names}; expected {list(MEMBER_ORDER[1:])} in that order")
    return doc


def _json_member(walk: _Walk, data: bytes | None, name: str) -> dict[str, Any]:
    try:
        return load_json_object(data or b"", name)
    except ValueError as exc:
        walk.problem(str(exc))
        return {}


def _walk_bundle(walk: _Walk, definition_sink: _Sink | None) -> BundleContents:
    manifest = _parse_manifest(walk)
    expected = {m["name"]: m for m in manifest["members"]}
    got: dict[str, bytes] = {}
    order = walk.seen
    while (info := walk.next_member(f"after member {order[-1] if order else MANIFEST}")) is not None:
        name = info.name
        if name not in expected or name in order:
            walk.problem(
                f"unexpected member {name} ({'repeated' if name in order else 'not in the manifest'})"
            )
            walk.read_member(info, _Discard())
            continue
        order.append(name)
        data, size, digest = walk.read_member(info, definition_sink if name == DEFINITION else None)
        want = expected[name]
        if size != want["size"] or digest != want["sha256"]:
            walk.problem(
                f"member {name} is damaged: the manifest says {want['size']} bytes with SHA-256 "
                f"{want['sha256']}, the bundle holds {size} bytes with SHA-256 {digest}"
            )
        got[name] = data
    for name in expected:
        if name not in order:
            walk.problem(f"member {name} is listed in the manifest but missing from the bundle")
    if order != [n for n in expected if n in order]:
        walk.problem(f"members are stored in the order {order}, not in the manifest's order")
    walk.finish()
    metadata = _json_member(walk, got.get(METADATA), METADATA)
    template = _json_member(walk, got.get(PARAMETER_TEMPLATE), PARAMETER_TEMPLATE)
    source = manifest["source"]
    if metadata:
        for key in ("uuid", "digest", "arn"):
            if metadata.get(key) != source[key]:
                walk.problem(
                    f"{METADATA} {key} {metadata.get(key)!r} differs from the manifest's {source[key]!r}"
                )
        if template != (metadata.get("parameterTemplate") or {}):
            walk.problem(f"{PARAMETER_TEMPLATE} differs from the parameterTemplate in {METADATA}")
    return BundleContents(manifest, metadata, template, got.get(README) or None)


def read_manifest_from(stream: IO[bytes], *, label: str = "bundle") -> dict[str, Any]:
    """The validated manifest of the bundle on ``stream``, decompressing no further than needed."""
    return _parse_manifest(_Walk(stream, strict=True, label=label))


def read_manifest(path: Path) -> dict[str, Any]:
    """The validated manifest of the bundle at ``path`` (reads only its first member)."""
    with open(path, "rb") as fh:
        return read_manifest_from(fh, label=str(path))


def read_bundle_from(
    stream: IO[bytes], *, definition_to: Path | None = None, label: str = "bundle"
) -> BundleContents:
    """Read a whole bundle from ``stream``, checking every member against the manifest as it passes.

    ``definition.zip`` is written to ``definition_to`` if given (and removed again if the bundle turns
    out to be damaged), otherwise hashed and dropped. Raises :class:`BundleError` naming the problem.
    """
    walk = _Walk(stream, strict=True, label=label)
    if definition_to is None:
        return _walk_bundle(walk, _Discard())
    try:
        with open(definition_to, "wb") as sink:
            return _walk_bundle(walk, sink)
    except BaseException:
        definition_to.unlink(missing_ok=True)
        raise


def read_bundle(path: Path, *, definition_to: Path | None = None) -> BundleContents:
    """:func:`read_bundle_from` on the file at ``path``."""
    with open(path, "rb") as fh:
        return read_bundle_from(fh, definition_to=definition_to, label=str(path))


class _Discard:
    def write(self, data: bytes, /) -> int:
        return len(data)


def verify_bundle_from(stream: IO[bytes], *, scratch_dir: Path | None = None) -> list[str]:
    """Every problem of the bundle on ``stream`` as a sentence; ``[]`` when it is sound.

    Checks the zstd frames and checksum, the tar structure, the manifest's schema, every member's
    size and SHA-256, the member set and order, that the JSON members agree with the manifest and
    that the state id matches them, and that ``definition.zip`` is a sound ZIP. The definition is
    spooled to a temporary file in ``scratch_dir`` (ZIP needs to seek), so memory stays bounded.
    """
    walk = _Walk(stream, strict=False, label="bundle")
    with tempfile.TemporaryDirectory(dir=scratch_dir, prefix="omics-verify-") as tmp:
        spool = Path(tmp) / DEFINITION
        try:
            with open(spool, "wb") as sink:
                contents = _walk_bundle(walk, sink)
        except _Stop:
            return walk.problems
        if contents.metadata and not walk.problems:  # otherwise a mismatch would only repeat them
            sid = contents.manifest["stateId"]
            try:
                again = state_id(contents.metadata, readme_sha256(contents.readme))
            except ValueError as exc:
                walk.problem(f"the state id cannot be recomputed: {exc}")
            else:
                if again != sid:
                    walk.problem(
                        f"the manifest's state id {sid} does not match its metadata and README ({again})"
                    )
        if DEFINITION in walk.seen:
            why = _check_zip(spool)
            if why:
                walk.problem(f"member {DEFINITION} {why}")
    return walk.problems


def verify_bundle(path: Path) -> list[str]:
    """:func:`verify_bundle_from` on the file at ``path``; a missing file is a problem too."""
    try:
        with open(path, "rb") as fh:
            return verify_bundle_from(fh, scratch_dir=None)
    except OSError as exc:
        return [f"cannot read {path}: {exc.strerror or exc}"]
