"""Reading a definition ZIP that came out of the archive: bounded in memory and in work.

Why: a ZIP read back from a store is untrusted. :mod:`zipfile` trusts the sizes a member declares
and, asked for a whole member (``ZipFile.read``), inflates all of its compressed bytes in one call,
up to 2 GiB, before cutting the result to the declared size: a 2 MB member that says it is 100
bytes costs 2 GB of memory. So every reader here

* refuses a ZIP with more than :data:`MAX_MEMBERS` members or more than :data:`MAX_UNZIPPED`
  bytes declared in all (:func:`open_zip`), before inflating anything;
* reads members only in :data:`CHUNK`-sized steps (:func:`read_member`), never whole, and only up
  to a limit the caller states; a member whose bytes do not match its declared size or CRC is an
  error (:data:`ZIP_ERRORS`), which callers report naming the bundle;
* checks a whole ZIP (:func:`zip_problem`, used by backup, verify, diff and restore) by reading
  every member to its declared size and one byte past it: a member that holds more than it declares
  is refused, having cost at most its declared size plus one chunk.

Backup checks every definition it archives, so the check is cheap on a sound ZIP: one parse and one
read of each member past its declared size (:func:`read_sound`), which can only succeed when the
full check (:func:`full_zip_problem`: a read to the declared size, then one past it) finds nothing;
anything else, from a bad CRC to a surprise exception, is judged by the full check, so a verdict
and its wording never depend on the shortcut. :func:`read_sound` also hands back the members a
caller asks to keep (the image scan's workflow files), so the ZIP is parsed once per bundle. A ZIP
in memory (a small definition) is read without zipfile's per-member machinery where the layout is
plain (:func:`_plain_member`): anything it is not sure of goes through zipfile as above.
"""

from __future__ import annotations

import copy
import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = [
    "CHUNK",
    "MAX_MEMBERS",
    "MAX_UNZIPPED",
    "ZIP_ERRORS",
    "SoundZip",
    "full_zip_problem",
    "open_zip",
    "read_member",
    "read_sound",
    "zip_problem",
]

MAX_MEMBERS = 100_000
"""More files than any workflow definition holds (a repository import is limited to 1 GiB)."""
MAX_UNZIPPED = 4 << 30
"""Declared uncompressed bytes, all members together: 4x HealthOmics' largest definition (1 GiB)."""
CHUNK = 64 << 10
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    RuntimeError,
    NotImplementedError,
    ValueError,
    zlib.error,
)
"""What reading a damaged or hostile ZIP may raise (BadZipFile for a bad CRC or a size that lies)."""


def open_zip(path: Path | IO[bytes]) -> zipfile.ZipFile:
    """Open a ZIP whose declared members are within bounds; ``ValueError`` (or a ZIP error) if not."""
    archive = zipfile.ZipFile(path)
    try:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ValueError(f"it has {len(infos)} members, more than the {MAX_MEMBERS} allowed")
        if any(not i.filename for i in infos):  # zipfile's is_dir() would raise IndexError on it
            raise ValueError("a member has an empty name")
        declared = sum(i.file_size for i in infos)
        if declared > MAX_UNZIPPED:
            raise ValueError(
                f"its members declare {declared} bytes unzipped, more than the {MAX_UNZIPPED} allowed"
            )
    except BaseException:
        archive.close()
        raise
    return archive


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes | None:
    """The member's bytes if it declares at most ``limit`` bytes, else ``None``; read in chunks.

    zipfile stops at the declared size and checks the CRC at the end, so a member whose data is
    longer than it says raises BadZipFile (or EOFError) instead of being believed; one whose
    stream ends before its declared size (with a CRC made to match) raises BadZipFile here.
    """
    if info.file_size > limit:
        return None
    out = bytearray()
    with archive.open(info) as fh:
        while chunk := fh.read(CHUNK):
            out += chunk
            if len(out) > limit:  # pragma: no cover - zipfile stops at the declared size
                raise zipfile.BadZipFile(f"member {info.filename!r} is longer than it declares")
    if len(out) < info.file_size:  # zipfile does not notice a stream that ends early
        raise zipfile.BadZipFile(f"member {info.filename!r} is shorter than it declares")
    return bytes(out)


def _longer_than_declared(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """Whether the member's data goes on past its declared size (read at most one byte past it)."""
    probe = copy.copy(info)
    probe.file_size = info.file_size + 1
    seen = 0
    try:
        with archive.open(probe) as fh:
            while chunk := fh.read(CHUNK):
                seen += len(chunk)
    except zipfile.BadZipFile:
        return True  # the CRC over one byte more than declared: there was more
    return seen > info.file_size


@dataclass(frozen=True, slots=True)
class SoundZip:
    """A ZIP :func:`zip_problem` finds nothing wrong with: its members, in central-directory order,
    and the bytes of those the caller kept, by index in ``infos``."""

    infos: list[zipfile.ZipInfo]
    kept: dict[int, bytes]


def _read_past_declared(archive: zipfile.ZipFile, info: zipfile.ZipInfo, keep: bool) -> bytes | None:
    """The member's bytes (``b""`` unless ``keep``) if reading one byte past its declared size
    yields exactly the declared size with a good CRC; ``None`` otherwise. Raises what zipfile does.

    This one read succeeds only where both reads of :func:`full_zip_problem` do: zipfile stops at the
    declared size (here one more) and checks the CRC when the data ends; with the same ``CHUNK``
    steps, the full check's first read is this one cut at the declared size, and its second read is
    this one (the same ``ZipInfo`` fields, one byte more).
    """
    size = info.file_size
    info.file_size = size + 1  # what _longer_than_declared's copy says; read when the member opens
    try:
        member = archive.open(info)
    finally:
        info.file_size = size
    seen = 0
    parts: list[bytes] = []
    with member:
        while chunk := member.read(CHUNK):
            seen += len(chunk)
            if keep:
                parts.append(chunk)
    if seen != size:
        return None
    return b"".join(parts)


_LOCAL = struct.Struct("<4s2B4HL2L2H")  # zipfile's structFileHeader: a member's local header
_MAGIC = b"PK\x03\x04"
_UTF8_NAME = 0x800
_PLAIN_MAX = 1 << 20
"""Members up to this size are inflated at once by :func:`_plain_member` (memory: one such member)."""


def _plain_member(buffer: bytes, info: zipfile.ZipInfo, end_limit: int) -> bytes | None:
    """The bytes of a plainly sound member of the ZIP ``buffer``; ``None`` when not sure.

    Sure only where zipfile's ``open`` and the reads of :func:`_read_past_declared` would succeed
    with the same bytes, in every Python this runs on: stored or deflated, no flag but UTF-8 (no
    encryption, patch data or data descriptor), a local header that agrees with the directory
    (version, flags, method, CRC, sizes; a name that decodes as zipfile decodes it to the same
    name), data ending by ``end_limit`` (the next local header or the central directory: zipfile
    3.12+ refuses overlapping entries), and a deflate stream that ends having given exactly the
    declared size, or stored data of exactly that size, with the declared CRC. zipfile inflates
    the same stream with the same ``zlib.decompressobj(-15)``, in steps; what follows the stream's
    end is left unread by both.
    """
    size, method = info.file_size, info.compress_type
    if (
        method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
        or info.flag_bits & ~_UTF8_NAME
        or size > _PLAIN_MAX
    ):
        return None
    at = info.header_offset
    if at < 0:  # a directory that claims to start past where it does: zipfile cannot seek there
        return None
    header = buffer[at : at + _LOCAL.size]
    if len(header) != _LOCAL.size:
        return None
    magic, version, _, flags, local_method, _, _, crc, compressed, local_size, name_length, extra_length = (
        _LOCAL.unpack(header)
    )
    if (
        magic != _MAGIC
        or version > zipfile.MAX_EXTRACT_VERSION
        or (flags, local_method, crc, compressed, local_size)
        != (info.flag_bits, method, info.CRC, info.compress_size, size)
    ):
        return None
    start = at + _LOCAL.size + name_length + extra_length
    end = start + info.compress_size
    if end > end_limit:
        return None
    try:
        name = buffer[at + _LOCAL.size : at + _LOCAL.size + name_length].decode(
            "utf-8" if flags & _UTF8_NAME else "cp437"
        )
    except UnicodeDecodeError:
        return None
    if name != info.orig_filename:
        return None
    if method == zipfile.ZIP_STORED:
        if info.compress_size != size:
            return None
        data = buffer[start:end]
    else:
        inflate = zlib.decompressobj(-15)
        try:
            data = inflate.decompress(buffer[start:end], size + 1)
        except zlib.error:
            return None
        if not inflate.eof or len(data) != size:
            return None
    return data if zlib.crc32(data) == info.CRC else None


def _end_limits(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], length: int) -> dict[int, int] | None:
    """Where each member's data must end (by header offset); ``None`` if two members share one."""
    offsets = sorted(i.header_offset for i in infos)
    lying = bool(offsets) and (offsets[0] < 0 or offsets[-1] >= archive.start_dir)
    if lying or len(set(offsets)) != len(offsets):
        return None  # negative (a lying directory offset), in the directory, or shared: zipfile judges
    ends = [*offsets[1:], min(archive.start_dir, length)]
    return {offset: min(end, archive.start_dir, length) for offset, end in zip(offsets, ends, strict=True)}


def read_sound(
    source: Path | IO[bytes], keep: Callable[[int, zipfile.ZipInfo], bool] | None = None
) -> SoundZip | None:
    """The ZIP at ``source`` if :func:`zip_problem` would find nothing wrong with it, reading it
    once; ``None`` when it might (then ask :func:`zip_problem`, which judges it in full).

    ``keep(index, info)``, asked in order for every member that is not a directory, says whether to
    keep its bytes: the caller bounds what it keeps (the read itself is bounded as in the full
    check: the declared size plus one chunk, the total by :data:`MAX_UNZIPPED`).
    """
    try:
        with open_zip(source) as archive:
            infos = archive.infolist()
            buffer = source.getvalue() if isinstance(source, io.BytesIO) else None
            limits = None if buffer is None else _end_limits(archive, infos, len(buffer))
            kept: dict[int, bytes] = {}
            for index, info in enumerate(infos):
                if info.is_dir():
                    continue
                wanted = keep is not None and keep(index, info)
                data = None
                if buffer is not None and limits is not None:
                    data = _plain_member(buffer, info, limits[info.header_offset])
                if data is None:
                    data = _read_past_declared(archive, info, wanted)
                if data is None:
                    return None
                if wanted:
                    kept[index] = data
    except Exception:  # whatever it was, the full check meets it again and words it
        return None
    return SoundZip(infos, kept)


def zip_problem(path: Path | IO[bytes]) -> str | None:
    """``None`` if ``path`` is a ZIP within bounds whose every member reads back with a good CRC."""
    if read_sound(path) is not None:
        return None
    return full_zip_problem(path)


def full_zip_problem(path: Path | IO[bytes]) -> str | None:
    """:func:`zip_problem` in full: the verdict, and its wording, on a ZIP that is not plainly sound."""
    try:
        if not zipfile.is_zipfile(path):
            return "is not a ZIP file"
        if not isinstance(path, Path):
            path.seek(0)
        with open_zip(path) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                seen = 0
                try:
                    with archive.open(info) as fh:
                        while chunk := fh.read(CHUNK):
                            seen += len(chunk)
                except zipfile.BadZipFile as exc:
                    why = "bad CRC" if "CRC" in str(exc) else str(exc)
                    return f"is a damaged ZIP file ({why} in {info.filename!r})"
                if seen < info.file_size:  # a deflate stream that ends early, its CRC made to match
                    return (
                        f"is a damaged ZIP file (member {info.filename!r} holds fewer than the "
                        f"{info.file_size} bytes it declares)"
                    )
                if _longer_than_declared(archive, info):
                    return (
                        f"is a damaged ZIP file (member {info.filename!r} holds more than the "
                        f"{info.file_size} bytes it declares)"
                    )
    except zipfile.BadZipFile as exc:
        return f"is a damaged ZIP file ({exc})"
    except ZIP_ERRORS as exc:
        return f"is not a readable ZIP file ({exc})"
    return None
