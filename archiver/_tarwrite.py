"""The tar stream inside a bundle, written directly: the same bytes as ``tarfile``, at a tenth of the CPU.

Every archived item writes one bundle, and building its tar with :mod:`tarfile` cost more than
compressing it: per member a ``TarInfo``, a ``copy.copy`` of it, a PAX header check, an octal
encoding of eight fields and a checksum over 512 bytes, all in Python. A bundle's members are
always the same few names with mode 0644, owner 0/0 and empty user and group names
(``docs/format.md``, "Container"), so only their size and mtime vary: each header is a constant
template with those two fields and the checksum filled in.

The bytes are exactly what ``tarfile.open(mode="w|", format=PAX_FORMAT, bufsize=64 KiB)`` writes
for these members (``tests/test_tarwrite.py`` holds the two to that): a plain ustar header per
member (no PAX record is needed for a short ASCII name, a size below 8 GiB and a whole-second mtime
below year 4147), the data padded to 512 bytes, two zero blocks, and zeros up to a multiple of
10 KiB. Bytes reach the sink in the same 64 KiB pieces as tarfile's stream buffer hands them on,
so a streaming compressor sees the same writes too. A header outside those bounds (which no bundle
has met: HealthOmics caps definitions at 1 GiB) is left to tarfile itself, PAX record and all.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable

__all__ = ["TarWriter", "header"]

_BLOCK = 512
_RECORD = 20 * _BLOCK  # tarfile's RECORDSIZE: the archive ends on a multiple of it
_MAX_OCTAL = 8**11 - 1  # the largest size or mtime a 12-byte ustar field holds without a PAX record
_NAME_LEN = 100


def _field(value: int) -> bytes:
    """A 12-byte ustar number field: 11 octal digits and a NUL (tarfile's ``itn``)."""
    return b"%011o\0" % value


def _template(name: str) -> tuple[bytes, bytes, int] | None:
    """The constant parts of a member's header (before size, after mtime) and their byte sum.

    ustar layout: name 100, mode 8, uid 8, gid 8 | size 12, mtime 12 | checksum 8, type 1,
    linkname 100, magic 6 + version 2 ("ustar\\0" "00", POSIX), uname 32, gname 32, devmajor 8,
    devminor 8, prefix 155, 12 bytes of padding.
    """
    raw = name.encode("ascii") if name.isascii() else b""
    if not raw or len(raw) > _NAME_LEN or b"\0" in raw:
        return None  # tarfile's business (a PAX path record)
    head = raw.ljust(_NAME_LEN, b"\0") + b"0000644\0" + b"0000000\0" + b"0000000\0"
    tail = b"0" + b"\0" * 100 + b"ustar\x0000" + b"\0" * 32 + b"\0" * 32 + b"\0" * 8 + b"\0" * 8
    tail += b"\0" * 155 + b"\0" * 12
    assert len(head) == 124 and len(tail) == 512 - 156
    # the checksum is taken with its own field as eight spaces
    return head, tail, sum(head) + sum(tail) + 8 * 0x20


_TEMPLATES: dict[str, tuple[bytes, bytes, int] | None] = {}


def header(name: str, size: int, mtime: int) -> bytes:
    """The header of a regular file ``name`` (mode 0644, owner 0/0, no user or group names) as
    ``tarfile`` writes it in PAX format: 512 bytes of ustar for the names and numbers bundles have."""
    template = _TEMPLATES[name] if name in _TEMPLATES else _TEMPLATES.setdefault(name, _template(name))
    if template is None or not 0 <= size <= _MAX_OCTAL or not 0 <= mtime <= _MAX_OCTAL:
        return _by_tarfile(name, size, mtime)
    head, tail, base = template
    size_field, mtime_field = _field(size), _field(mtime)
    checksum = base + sum(size_field) + sum(mtime_field)
    return head + size_field + mtime_field + b"%06o\0 " % checksum + tail


def _by_tarfile(name: str, size: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.type = size, mtime, 0o644, tarfile.REGTYPE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")


class TarWriter:
    """Writes one tar stream to ``sink`` in pieces of ``bufsize`` bytes (the last one shorter).

    ``add`` a member whose bytes are at hand, or ``add_stream`` one copied from a file; ``close``
    ends the archive. Like tarfile's ``w|`` stream, it holds at most ``bufsize`` bytes plus one
    write, and hands on exactly ``bufsize`` bytes at a time.
    """

    def __init__(self, sink: Callable[[bytes], object], *, mtime: int, bufsize: int) -> None:
        self._sink, self._mtime, self._bufsize = sink, mtime, bufsize
        self._buf = bytearray()
        self._offset = 0

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        buf = self._buf
        buf += data
        self._offset += len(data)
        size = self._bufsize
        if len(buf) > size:
            full = len(buf) // size * size
            if full == len(buf):
                full -= size  # tarfile hands on only while *more* than bufsize is buffered
            view = memoryview(buf)
            for start in range(0, full, size):
                self._sink(bytes(view[start : start + size]))
            view.release()
            del buf[:full]

    def _pad(self, size: int) -> None:
        if size % _BLOCK:
            self._write(b"\0" * (_BLOCK - size % _BLOCK))

    def add(self, name: str, data: bytes) -> None:
        """Append a member holding ``data``."""
        self._write(header(name, len(data), self._mtime))
        self._write(data)
        self._pad(len(data))

    def add_stream(self, name: str, size: int, read: Callable[[int], bytes]) -> None:
        """Append a member of ``size`` bytes from ``read(n)`` (a file's read); ``OSError`` if it
        ends sooner (as tarfile's copy does). Bytes beyond ``size`` are not read."""
        self._write(header(name, size, self._mtime))
        left = size
        while left:
            chunk = read(min(left, self._bufsize))
            if not chunk:
                raise OSError("unexpected end of data")
            self._write(chunk)
            left -= len(chunk)
        self._pad(size)

    def close(self) -> None:
        """End the archive (two zero blocks, zeros to a whole record) and hand on what is left."""
        self._write(b"\0" * (2 * _BLOCK))
        if self._offset % _RECORD:
            self._write(b"\0" * (_RECORD - self._offset % _RECORD))
        if self._buf:
            self._sink(bytes(self._buf))
            self._buf.clear()
