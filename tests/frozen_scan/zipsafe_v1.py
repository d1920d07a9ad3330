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
* checks a whole ZIP (:func:`zip_problem`, used by verify, diff and restore) by reading every
  member to its declared size and one byte past it: a member that holds more than it declares is
  refused, having cost at most its declared size plus one chunk.
"""

from __future__ import annotations

import copy
import zipfile
import zlib
from pathlib import Path
from typing import IO

__all__ = ["CHUNK", "MAX_MEMBERS", "MAX_UNZIPPED", "ZIP_ERRORS", "open_zip", "read_member", "zip_problem"]

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


def zip_problem(path: Path | IO[bytes]) -> str | None:
    """``None`` if ``path`` is a ZIP within bounds whose every member reads back with a good CRC."""
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
