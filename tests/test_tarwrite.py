"""The direct tar writer against tarfile: the same bytes, handed on in the same pieces."""

from __future__ import annotations

import io
import random
import tarfile

import pytest

from archiver._tarwrite import TarWriter, header

NAMES = ("manifest.json", "metadata.json", "parameter-template.json", "README.md", "definition.zip")


def _tarinfo(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.type = size, mtime, 0o644, tarfile.REGTYPE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class _Pieces:
    """A sink that records every write it is handed."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.pieces.append(bytes(data))
        return len(data)


def _by_tarfile(members: list[tuple[str, bytes]], mtime: int, bufsize: int) -> list[bytes]:
    sink = _Pieces()
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT, bufsize=bufsize) as tar:  # type: ignore[call-overload]
        for name, data in members:
            tar.addfile(_tarinfo(name, len(data), mtime), io.BytesIO(data))
    return sink.pieces


def _by_writer(members: list[tuple[str, bytes]], mtime: int, bufsize: int, *, stream: bool) -> list[bytes]:
    sink = _Pieces()
    tar = TarWriter(sink.write, mtime=mtime, bufsize=bufsize)
    for name, data in members:
        if stream:
            tar.add_stream(name, len(data), io.BytesIO(data + b"beyond the size: never read").read)
        else:
            tar.add(name, data)
    tar.close()
    return sink.pieces


@pytest.mark.parametrize("size", [0, 1, 511, 512, 513, 4096, 8**7, 8**11 - 1])
@pytest.mark.parametrize("mtime", [0, 1, 1_700_000_000, 8**11 - 1])
@pytest.mark.parametrize("name", NAMES)
def test_headers_are_tarfiles(name: str, size: int, mtime: int) -> None:
    want = _tarinfo(name, size, mtime).tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")
    assert header(name, size, mtime) == want


def test_random_archives_are_tarfiles_byte_for_byte_and_piece_for_piece() -> None:
    rng = random.Random(11)
    for _ in range(60):
        bufsize = rng.choice([512, 1000, 1 << 16])
        sizes = [rng.choice([0, 1, 511, 512, 513, rng.randrange(0, 200_000)]) for _ in NAMES]
        members = [(name, rng.randbytes(size)) for name, size in zip(NAMES, sizes, strict=True)]
        mtime = rng.randrange(0, 2**33)
        want = _by_tarfile(members, mtime, bufsize)
        assert _by_writer(members, mtime, bufsize, stream=False) == want
        assert _by_writer(members, mtime, bufsize, stream=True) == want


@pytest.mark.parametrize(
    ("name", "size", "mtime"),
    [
        ("definition.zip", 8**11, 0),
        ("manifest.json", 0, 8**11),
        ("x" * 101, 1, 1),
        ("dé.json", 2, 2),
        ("", 0, 0),
    ],
)
def test_what_ustar_cannot_hold_gets_tarfiles_pax_header(name: str, size: int, mtime: int) -> None:
    want = _tarinfo(name, size, mtime).tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")
    assert len(want) > 512 or not name  # a PAX record first (an empty name needs none)
    assert header(name, size, mtime) == want


def test_a_stream_that_ends_early_is_an_error_like_tarfiles() -> None:
    tar = TarWriter(lambda data: None, mtime=0, bufsize=512)
    with pytest.raises(OSError, match="unexpected end of data"):
        tar.add_stream("definition.zip", 10, io.BytesIO(b"short").read)
