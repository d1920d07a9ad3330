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
caller asks to keep (the image scan's workflow files), so the ZIP is parsed once per bundle.
"""

from __future__ import annotations

import copy
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
    longer or shorter than it says raises BadZipFile (or EOFError) instead of being believed.
    """
    if info.file_size > limit:
        return None
    out = bytearray()
    with archive.open(info) as fh:
        while chunk := fh.read(CHUNK):
            out += chunk
            if len(out) > limit:  # pragma: no cover - zipfile stops at the declared size
                raise zipfile.BadZipFile(f"member {info.filename!r} is longer than it declares")
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
            kept: dict[int, bytes] = {}
            for index, info in enumerate(infos):
                if info.is_dir():
                    continue
                wanted = keep is not None and keep(index, info)
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
                try:
                    with archive.open(info) as fh:
                        while fh.read(CHUNK):
                            pass
                except zipfile.BadZipFile as exc:
                    why = "bad CRC" if "CRC" in str(exc) else str(exc)
                    return f"is a damaged ZIP file ({why} in {info.filename!r})"
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
