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

Memory does not grow with the definition: it is hashed in a first pass and streamed in a second, and
readers stream it out again; only the small members (at most :data:`SMALL_MEMBER_LIMIT`) are held.
Compression at level 10 takes about 25 MiB single-threaded, plus about 25 MiB per zstd worker with
``threads`` > 0 (``-1`` = one per core). Reading takes under 10 MiB.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, cast

import zstandard

from . import _schema
from ._errors import BundleError
from ._jsonutil import load_json_object, parse_rfc3339, pretty_json, rfc3339
from ._layout import readme_sha256, sanitize_metadata, state_id
from ._tarwrite import TarWriter
from ._version import __version__
from ._zipsafe import zip_problem

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
BUNDLE_FORMAT_VERSION = 2  # 2: the manifest's image inventory; 1 is still read
MANIFEST = "manifest.json"
METADATA = "metadata.json"
PARAMETER_TEMPLATE = "parameter-template.json"
README = "README.md"
DEFINITION = "definition.zip"
MEMBER_ORDER = (MANIFEST, METADATA, PARAMETER_TEMPLATE, README, DEFINITION)
_REQUIRED = (METADATA, PARAMETER_TEMPLATE, DEFINITION)
SMALL_MEMBER_LIMIT = 16 << 20
MANIFEST_LIMIT = 1 << 20
MAX_DEFINITION = 2 << 30
"""The largest definition.zip a reader accepts: twice HealthOmics' largest definition (1 GiB)."""
_TAR_SLACK = 64 << 10  # tar headers, PAX records and padding, per member and at the end
_MAX_WINDOW = 1 << 24
# zstd window a reader accepts: 16 MiB, twice what our writer uses (level 10 streams use 4 MiB; a
# one-shot in-memory bundle, at most a few MiB, has a window of its own size). A frame that asks for
# more (zstd's default allows 128 MiB, a single-segment frame as much as its content) is damaged.
_CHUNK = 1 << 20
_TAR_BUFSIZE = 1 << 16
_Sink = Callable[[bytes], object]  # where a streamed member goes (a file's write, or a no-op)
_JOB_SIZE = 4 << 20  # zstd's default job (16 MiB at level 10) per worker would dominate memory


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


class _Hashing:
    """Counts and hashes the bytes that pass through it, in either direction: the compressed bytes on
    their way to the file, and the definition as tarfile copies it (it may change between passes)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.size, self.hash = raw, 0, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.raw.write(data)
        self.size += len(data)
        self.hash.update(data)
        return len(data)

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.size += len(data)
        self.hash.update(data)
        return data

    def flush(self) -> None:
        self.raw.flush()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _check_source(source: BundleSource, meta: Mapping[str, Any], sid: str, readme: bytes | None) -> None:
    """The manifest repeats facts from the metadata; refuse to write a bundle where they disagree."""
    version = source.kind == "workflow-version"
    expected = {
        "uuid": meta.get("uuid"),
        "digest": meta.get("digest"),
        "arn": meta.get("arn"),
        "workflow_id": meta.get("workflowId" if version else "id"),
        "workflow_uuid": source.workflow_uuid if version else meta.get("uuid"),
        "version_name": meta.get("versionName") if version else None,
    }
    for field, want in expected.items():
        if getattr(source, field) != want:
            raise ValueError(
                f"bundle source {field} {getattr(source, field)!r} does not match the metadata's {want!r}"
            )
    created = meta.get("creationTime")
    if not isinstance(created, str) or parse_rfc3339(created) != _aware(source.creation_time):
        raise ValueError("bundle source creation_time does not match the metadata's creationTime")
    # ``meta`` is sanitized here (write_bundle did it, or its caller did)
    if state_id(meta, readme_sha256(readme), sanitized=True) != sid:
        raise ValueError("state id does not match the metadata and README (compute it with _layout.state_id)")


def _open_definition(definition: Path | bytes) -> BinaryIO:
    return io.BytesIO(definition) if isinstance(definition, bytes) else open(definition, "rb")


def write_bundle(
    dest: Path | BinaryIO,
    *,
    source: BundleSource,
    state_id: str,
    metadata: Mapping[str, Any],
    definition: Path | bytes,
    readme: bytes | None,
    images: Mapping[str, Any] | None = None,
    level: int = 10,
    threads: int = -1,
    sanitized: bool = False,
    zip_checked: bool = False,
) -> BundleInfo:
    """Write one bundle to ``dest``: a temporary path of the caller's (overwritten if present, removed
    on failure) or a binary file object (written from its current position).

    ``metadata`` is sanitized again (idempotent) and must agree with ``source`` and ``state_id``
    (``ValueError`` otherwise: that is a bug in the caller). The definition, a file or the bytes of
    a small one, must be a sound ZIP (:class:`BundleError` otherwise); a file is read twice, never
    whole, and compressed as a stream with ``threads`` zstd workers (``-1``: one per core); bytes
    are compressed at once, in the calling thread, with zstd's parameters sized to them.
    ``images`` is the manifest's image inventory (``archiver.images``); ``None``: not taken.
    ``sanitized``: ``metadata`` is already the result of ``sanitize_metadata`` (the backup
    pipeline's), so it is not sanitized a second time. ``zip_checked``: ``zip_problem`` already
    found the definition sound (the pipeline's ``check_and_scan``), so it is not checked again.
    """
    meta = dict(metadata) if sanitized else sanitize_metadata(metadata)
    _check_source(source, meta, state_id, readme)
    with _open_definition(definition) as fh:
        why = None if zip_checked else zip_problem(fh)
        if why:
            raise BundleError(f"the definition of {source.arn} {why}")
        fh.seek(0)
        digest, def_size = hashlib.sha256(), 0
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
        "images": dict(images) if images is not None else None,
    }
    _schema.check("manifest", manifest)
    mtime = max(0, int(_aware(source.creation_time).timestamp()))
    small.insert(0, (MANIFEST, pretty_json(manifest)))

    def add_members(sink: Callable[[bytes], object]) -> None:
        tar = TarWriter(sink, mtime=mtime, bufsize=_TAR_BUFSIZE)
        for name, data in small:
            tar.add(name, data)
        with _open_definition(definition) as fh:
            copied = _Hashing(fh)
            try:
                tar.add_stream(DEFINITION, def_size, copied.read)
            except OSError as exc:
                raise BundleError(f"the definition of {source.arn} shrank while bundling") from exc
        tar.close()
        if copied.hash.hexdigest() != digest.hexdigest():
            raise BundleError(f"the definition of {source.arn} changed while bundling")

    try:
        with open(dest, "wb") if isinstance(dest, Path) else contextlib.nullcontext(dest) as raw:
            out = _Hashing(raw)
            if isinstance(definition, bytes):
                # Small: one frame compressed at once, with parameters (and memory) sized to it.
                pieces: list[bytes] = []
                add_members(pieces.append)
                data = b"".join(pieces)
                params = zstandard.ZstdCompressionParameters.from_level(
                    level, source_size=len(data), write_checksum=True
                )
                out.write(zstandard.ZstdCompressor(compression_params=params).compress(data))
            else:
                params = zstandard.ZstdCompressionParameters.from_level(
                    level, threads=threads, job_size=_JOB_SIZE if threads else 0, write_checksum=True
                )
                zstd = zstandard.ZstdCompressor(compression_params=params)
                with zstd.stream_writer(cast(IO[bytes], out), closefd=False) as zw:
                    add_members(zw.write)
    except BaseException:
        if isinstance(dest, Path):
            dest.unlink(missing_ok=True)
        raise
    return BundleInfo(size=out.size, sha256=out.hash.hexdigest(), manifest=manifest)


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
        self._acc, self._checksum = bytearray(), False

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
        if self._state == "magic":
            if field == self._ZSTD_MAGIC:
                self._state, self._need = "descriptor", 1
            elif field & 0xFFFFFFF0 == 0x184D2A50:
                self._state, self._need = "skippable", 4
            else:
                self.problem = f"no zstd frame starts at byte {self.offset - 4}"
        elif self._state == "descriptor":  # skip the rest of the frame header
            single = (field >> 5) & 1
            self._checksum = bool((field >> 2) & 1)
            self._skip = (0 if single else 1) + (0, 1, 2, 4)[field & 3] + (single, 2, 4, 8)[field >> 6]
            self._state, self._need = "block", 3
        elif self._state == "block":  # skip the block's content, and the checksum after the last one
            last, kind, size = field & 1, (field >> 1) & 3, field >> 3
            if kind == 3:
                self.problem = f"reserved zstd block type at byte {self.offset - 3}"
            self._skip = (1 if kind == 1 else size) + (4 if last and self._checksum else 0)
            if last:
                self._state, self._need, self.frames = "magic", 4, self.frames + 1
        elif self._state == "skippable":
            self._state, self._need, self._skip = "magic", 4, field


class _Walk:
    """One pass over a bundle. ``strict``: raise :class:`BundleError` at the first problem (readers);
    otherwise collect every problem as a sentence and go on where possible (``verify``)."""

    def __init__(self, stream: IO[bytes], *, strict: bool, label: str) -> None:
        self.tracker = _FrameTracker(stream)
        self.strict, self.label = strict, label
        self.problems: list[str] = []
        reader = zstandard.ZstdDecompressor(max_window_size=_MAX_WINDOW).stream_reader(
            cast(IO[bytes], self.tracker), read_across_frames=True, closefd=False
        )
        self.zreader: IO[bytes] = reader
        self.tar: tarfile.TarFile | None = None
        self.seen: list[str] = []
        self.out = self.last_nonzero = self.data_end = 0
        # Until the manifest says how large the rest is: its header and itself.
        self.limit = MANIFEST_LIMIT + _TAR_SLACK

    def __enter__(self) -> _Walk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Free the decompressor now: the TarFile refers back to this walk (a reference cycle), so
        without this its zstd context (tens of KiB) would live until a full garbage collection,
        and a ``verify`` of many bundles would grow by that much per bundle."""
        self.tar = None
        with contextlib.suppress(Exception):
            self.zreader.close()

    def bound(self, members: list[dict[str, Any]]) -> None:
        """From now on, refuse to decompress more than the manifest's members and tar's overhead."""
        self.limit = sum(-(-int(m["size"]) // 512) * 512 + _TAR_SLACK for m in members)
        self.limit += MANIFEST_LIMIT + 2 * _TAR_SLACK

    def read(self, n: int = -1) -> bytes:
        """What tarfile reads: the decompressed stream, watched for data after the last member.

        Never more than ``limit`` bytes in all: a zstd frame that inflates beyond what the manifest
        declares (a "bomb") is refused there, whatever it would have grown to.
        """
        room = self.limit - self.out
        data = self.zreader.read(min(n, room + 1) if n >= 0 else room + 1)
        if len(data) > room:
            raise self.fatal(
                f"the bundle decompresses to more than the {self.limit} bytes its manifest accounts for: "
                "refused (a damaged or hostile bundle)"
            )
        if tail := len(data.rstrip(b"\0")):
            self.last_nonzero = self.out + tail
        self.out += len(data)
        return data

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
                # The TarFile owns no file handle (it wraps this walk), so it needs no closing.
                self.tar = tarfile.open(fileobj=cast(IO[bytes], self), mode="r|", bufsize=_TAR_BUFSIZE)  # noqa: SIM115
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
                    sink(chunk)
        except (tarfile.TarError, zstandard.ZstdError, EOFError, OSError) as exc:
            raise self.damaged(exc, f"inside member {info.name}") from None
        self.data_end = info.offset_data + info.size
        return bytes(data), size, digest.hexdigest()

    def json_member(self, got: dict[str, bytes], name: str) -> dict[str, Any]:
        try:  # a missing member has been reported already
            return load_json_object(got[name], name) if name in got else {}
        except ValueError as exc:
            self.problem(str(exc))
            return {}

    def finish(self) -> None:
        """Read on to the end of the file: a frame checksum, a cut or trailing data only show there."""
        try:
            while self.read(_CHUNK):
                pass
        except zstandard.ZstdError as exc:
            raise self.damaged(exc, "at the end of the stream") from None
        if self.last_nonzero > self.data_end:
            self.problem("there is data after the end of the tar archive")
        self.tracker.drain()
        end = self.tracker.end_problem()
        if end:
            self.problem(end)


def _discard(data: bytes) -> None:
    pass


class _Stop(Exception):
    """A problem after which even a non-strict walk cannot go on."""


def _parse_manifest(walk: _Walk) -> dict[str, Any]:
    info = walk.next_member("at the start")
    if info is None or info.name != MANIFEST:
        raise walk.fatal(f"the first member is {info.name if info else 'missing'}, not {MANIFEST}")
    if info.size > MANIFEST_LIMIT:
        raise walk.fatal(f"member {MANIFEST} is {info.size} bytes, more than the {MANIFEST_LIMIT} allowed")
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
    for member in doc["members"]:
        cap = MAX_DEFINITION if member["name"] == DEFINITION else SMALL_MEMBER_LIMIT
        if member["size"] > cap:
            raise walk.fatal(
                f"{MANIFEST} declares {member['name']} as {member['size']} bytes, more than the {cap} allowed"
            )
    walk.bound(doc["members"])
    return doc


def _walk_bundle(walk: _Walk, definition_sink: _Sink) -> BundleContents:
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
            walk.read_member(info, _discard)
            continue
        order.append(name)
        want = expected[name]
        if info.size != want["size"]:
            # Checked before a byte is copied: a member must not grow past what the manifest says.
            raise walk.fatal(
                f"member {name} is {info.size} bytes in the tar but the manifest says {want['size']}"
            )
        data, size, digest = walk.read_member(info, definition_sink if name == DEFINITION else None)
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
    metadata, template = walk.json_member(got, METADATA), walk.json_member(got, PARAMETER_TEMPLATE)
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
    with _Walk(stream, strict=True, label=label) as walk:
        return _parse_manifest(walk)


def read_manifest(path: Path) -> dict[str, Any]:
    """The validated manifest of the bundle at ``path`` (reads only its first member)."""
    with open(path, "rb") as fh:
        return read_manifest_from(fh, label=str(path))


def read_bundle_from(
    stream: IO[bytes], *, definition_to: Path | IO[bytes] | None = None, label: str = "bundle"
) -> BundleContents:
    """Read a whole bundle from ``stream``, checking every member against the manifest as it passes.

    ``definition.zip`` is written to ``definition_to`` if given (a path: removed again if the bundle
    turns out to be damaged; a writable stream: the caller's to discard), otherwise hashed and
    dropped. Raises :class:`BundleError` naming the problem.
    """
    with _Walk(stream, strict=True, label=label) as walk:
        if definition_to is None:
            return _walk_bundle(walk, _discard)
        if not isinstance(definition_to, Path):
            return _walk_bundle(walk, definition_to.write)
        try:
            with open(definition_to, "wb") as sink:
                return _walk_bundle(walk, sink.write)
        except BaseException:
            definition_to.unlink(missing_ok=True)
            raise


def read_bundle(path: Path, *, definition_to: Path | None = None) -> BundleContents:
    """:func:`read_bundle_from` on the file at ``path``."""
    with open(path, "rb") as fh:
        return read_bundle_from(fh, definition_to=definition_to, label=str(path))


def verify_bundle_from(stream: IO[bytes], *, scratch_dir: Path | None = None) -> list[str]:
    """Every problem of the bundle on ``stream`` as a sentence; ``[]`` when it is sound.

    Checks zstd frames and checksum, tar structure, manifest schema, every member's size and SHA-256,
    the member set and order, the JSON members against the manifest and the state id, and the ZIP
    (spooled to a temporary file in ``scratch_dir``, since ZIP needs to seek: memory stays bounded).
    """
    with (
        _Walk(stream, strict=False, label="bundle") as walk,
        tempfile.TemporaryDirectory(dir=scratch_dir, prefix="omics-verify-") as tmp,
    ):
        spool = Path(tmp) / DEFINITION
        try:
            with open(spool, "wb") as sink:
                contents = _walk_bundle(walk, sink.write)
        except _Stop:
            return walk.problems
        sid = contents.manifest["stateId"]
        try:  # only on an otherwise sound bundle: a mismatch would just repeat earlier problems
            again = sid if walk.problems else state_id(contents.metadata, readme_sha256(contents.readme))
        except ValueError as exc:
            again = f"none: {exc}"
        if again != sid:
            walk.problem(f"the manifest's state id {sid} does not match its metadata and README ({again})")
        if DEFINITION in walk.seen:
            why = zip_problem(spool)
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
