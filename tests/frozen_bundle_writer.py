"""The bundle writer as it was before it was made cheaper (main at f73ae8a), frozen for comparison.

``archiver._bundle.write_bundle`` must keep writing exactly these bytes for the same input
(docs/format.md: bundles are deterministic). This copy keeps only what decides the bytes: the
members, the manifest, ``tarfile``'s PAX stream and the zstd settings; it takes metadata already
sanitized and leaves the checks to the real writer. JSON is spelled with ``json.dumps`` itself.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from datetime import UTC
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import zstandard

from archiver._bundle import BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, BundleSource
from archiver._version import __version__

_CHUNK = 1 << 20
_TAR_BUFSIZE = 1 << 16
_JOB_SIZE = 4 << 20


def _pretty(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def _tarinfo(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.type = size, mtime, 0o644, tarfile.REGTYPE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _open(definition: Path | bytes) -> BinaryIO:
    return io.BytesIO(definition) if isinstance(definition, bytes) else open(definition, "rb")


def frozen_write_bundle(
    *,
    source: BundleSource,
    state_id: str,
    metadata: Mapping[str, Any],
    definition: Path | bytes,
    readme: bytes | None,
    images: Mapping[str, Any] | None = None,
    level: int = 10,
    threads: int = -1,
) -> bytes:
    """The bytes the old writer wrote for this (sanitized) input."""
    meta = dict(metadata)
    with _open(definition) as fh:
        digest, def_size = hashlib.sha256(), 0
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            def_size += len(chunk)
    small = [
        ("metadata.json", _pretty(meta)),
        ("parameter-template.json", _pretty(meta.get("parameterTemplate") or {})),
    ]
    if readme:
        small.append(("README.md", bytes(readme)))
    members = [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in small]
    members.append({"name": "definition.zip", "size": def_size, "sha256": digest.hexdigest()})
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
    created = source.creation_time
    created = created if created.tzinfo is not None else created.replace(tzinfo=UTC)
    mtime = max(0, int(created.timestamp()))
    small.insert(0, ("manifest.json", _pretty(manifest)))

    def add_members(tar_out: IO[bytes]) -> None:
        with tarfile.open(fileobj=tar_out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=_TAR_BUFSIZE) as tar:
            for name, data in small:
                tar.addfile(_tarinfo(name, len(data), mtime), io.BytesIO(data))
            with _open(definition) as fh:
                tar.addfile(_tarinfo("definition.zip", def_size, mtime), fh)

    out = io.BytesIO()
    if isinstance(definition, bytes):
        tar_bytes = io.BytesIO()
        add_members(tar_bytes)
        data = tar_bytes.getvalue()
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
            add_members(zw)
    return out.getvalue()
