"""Bundles are byte-identical to what the writer wrote before it was made cheaper.

``tests/frozen_bundle_writer.py`` is that writer (tarfile, json.dumps), frozen. The current one
must give the same bytes for the same input on both of its paths (a small definition in memory, a
large one streamed with zstd workers), with and without README, parameters and image inventory.
"""

from __future__ import annotations

import io
import random
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from archiver._bundle import write_bundle
from archiver._layout import readme_sha256, sanitize_metadata, state_id

from .frozen_bundle_writer import frozen_write_bundle
from .test_bundle import source_for
from .test_schema import version_response, workflow_response

IMAGES = {
    "entries": [
        {
            "image": "quay.io/biocontainers/samtools:1.20--h50ea8bc_0",
            "expression": None,
            "foundIn": [
                {
                    "syntax": "wdl-runtime-docker",
                    "file": "tasks/steps.wdl",
                    "line": 71,
                    "field": None,
                    "note": None,
                }
            ],
            "mappedBy": None,
            "pullImage": None,
            "digest": None,
            "mediaType": None,
            "status": "unresolved",
            "reason": "not a private ECR image: HealthOmics cannot pull it — «ünïcode»",
        }
    ],
    "problems": ['tasks/x.wdl: an expression "~{img}" is not an image'],
}


def _zip(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("main.wdl", "version 1.0\nworkflow w {}\n")
        zf.writestr("data/blob.bin", rng.randbytes(size))
    return buffer.getvalue()


def _case(
    version: bool, *, readme: bytes | None, images: dict[str, Any] | None, created: datetime
) -> dict[str, Any]:
    response = version_response() if version else workflow_response()
    if readme is None:
        del response["parameterTemplate"]
    response["description"] = 'naïve «quotes» "and" \\ backslashes\n\ttabs \u2028 and \x01'
    response["creationTime"] = created
    meta = sanitize_metadata(response)
    source = source_for(meta, name="germline ü")
    return {
        "source": source,
        "state_id": state_id(meta, readme_sha256(readme), sanitized=True),
        "metadata": meta,
        "readme": readme,
        "images": images,
    }


CASES = [
    (False, "# Readme ü\n".encode(), IMAGES, datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)),
    (True, None, None, datetime(2024, 5, 1, 12, 30, 15)),  # naive: taken as UTC
    (True, b"x" * 513, {"entries": [], "problems": []}, datetime(1969, 12, 31, 23, 0, tzinfo=UTC)),  # mtime 0
    (False, b"", IMAGES, datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-7)))),
]


@pytest.mark.parametrize(("version", "readme", "images", "created"), CASES)
@pytest.mark.parametrize("size", [0, 700, 40_000])
def test_in_memory_bundles_are_byte_identical(
    version: bool, readme: bytes | None, images: dict[str, Any] | None, created: datetime, size: int
) -> None:
    case = _case(version, readme=readme, images=images, created=created)
    definition = _zip(size, size)
    buffer = io.BytesIO()
    info = write_bundle(buffer, definition=definition, level=3, sanitized=True, **case)
    assert buffer.getvalue() == frozen_write_bundle(definition=definition, level=3, **case)
    assert info.size == len(buffer.getvalue())


@pytest.mark.parametrize("threads", [0, 2])
def test_streamed_bundles_are_byte_identical(tmp_path: Path, threads: int) -> None:
    """A definition from a file, across several 64 KiB tar pieces and zstd jobs (4 MiB)."""
    case = _case(True, readme=b"# R\n", images=IMAGES, created=datetime(2024, 5, 1, tzinfo=UTC))
    definition = tmp_path / "definition.zip"
    definition.write_bytes(_zip(5 << 20, 5))
    out = tmp_path / "b.tar.zst"
    write_bundle(out, definition=definition, level=3, threads=threads, sanitized=True, **case)
    assert out.read_bytes() == frozen_write_bundle(definition=definition, level=3, threads=threads, **case)
